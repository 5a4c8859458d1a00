package fode

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// A scheme is a fractional time-stepping method written as its weights.
// Every step m ≥ 1 forms one or more linear combinations of the past,
//
//	B_m = a_m y_0 + Σ_terms Σ_{j<m} w_{m-j} v_j + Σ_{j<s} W_{m,j} f_j + e f_{m-1},
//
// in which each term sums one stream v, the states y_j or the field values
// f_j = f(t_j, y_j), with its own lag kernel w through the history engine,
// and takes one of three kinds of step:
//
//	explicit:   y_m = B_m
//	implicit:   y_m = B_m + κ f(t_m, y_m), solved by fixed-point iteration
//	corrector:  q_0 = P_m, q_k = B_m + κ f(t_m, q_{k-1}) (k = 1..μ), y_m = q_μ
//
// where P_m is the second combination (form 1), the predictor of PECE. The
// starting weights W couple steps 1..s-1 to field values not yet computed
// when s > 1 (FLMM); those steps are solved together, the starting block.
// solver.fractional runs every scheme and adj.fractional is its transpose,
// so a scheme is one constructor. A multi-term equation
// Σ_i c_i D^{α_i} y = f fits as one form with a term per order, each its
// own history sum, and κ the combined leading coefficient.
//
// Every weight comes with its α-derivative (the d-prefixed fields, set
// only when dL/dα is wanted): dL/dα is the sum over the steps of each
// combination's cotangent times the combination formed with the
// derivatives.
type scheme struct {
	forms []form
	terms []term
	// start is s, the number of field values f_0..f_{s-1} that the
	// starting weights W[m*s+j] of form 0 multiply.
	start int
	W, dW []float64
	kind  stepKind
	// kappa is κ, the weight of the new field value of an implicit or
	// corrector step; correctors is μ.
	kappa, dkappa float64
	correctors    int
	// extrapolate starts an implicit step from the linear extrapolation of
	// the last two states instead of the last state.
	extrapolate bool
}

// A form is one combination B_m: its coefficient a_m of y_0 (nil means 1)
// and its weight e of the previous field value f_{m-1} (explicit steps
// only: an implicit step does not keep f_{m-1} beyond its stored field
// values).
type form struct {
	y0, dy0     []float64
	lag1, dlag1 float64
}

// A term is one history sum Σ_{j<m} w_{m-j} v_j of a form over a stream.
type term struct {
	form   int
	stream stream
	w, dw  []float64
}

type stream int

const (
	stateStream stream = iota // y_j
	fieldStream               // f_j
)

type stepKind int

const (
	explicitStep stepKind = iota
	implicitStep
	correctorStep
)

// firstStep returns the first step after the starting block.
func (sc *scheme) firstStep() int { return max(1, sc.start) }

// storesFields reports whether the scheme keeps every field value: a term
// or a starting weight reads them after their step.
func (sc *scheme) storesFields() bool {
	if sc.start > 0 {
		return true
	}
	for _, t := range sc.terms {
		if t.stream == fieldStream {
			return true
		}
	}
	return false
}

// usesFields reports whether later steps read the field values at all,
// stored or only the previous one.
func (sc *scheme) usesFields() bool {
	if sc.storesFields() {
		return true
	}
	for _, f := range sc.forms {
		if f.lag1 != 0 {
			return true
		}
	}
	return false
}

// y0Coef returns a_m of form l, or its α-derivative.
func (sc *scheme) y0Coef(l, m int, deriv bool) float64 {
	f := &sc.forms[l]
	switch {
	case deriv && f.dy0 != nil:
		return f.dy0[m]
	case deriv:
		return 0
	case f.y0 != nil:
		return f.y0[m]
	}
	return 1
}

// blockWeight returns the weight of f_j in step m of the starting block,
// y_m = a_m y_0 + Σ_{j<s} c_{m,j} f_j (the block sums field values only),
// or its α-derivative.
func (sc *scheme) blockWeight(m, j int, deriv bool) float64 {
	W, kappa, lag1 := sc.W, sc.kappa, sc.forms[0].lag1
	if deriv {
		W, kappa, lag1 = sc.dW, sc.dkappa, sc.forms[0].dlag1
	}
	c := W[m*sc.start+j]
	for _, t := range sc.terms {
		w := t.w
		if deriv {
			w = t.dw
		}
		if t.form == 0 && j < m {
			c += w[m-j]
		}
	}
	switch j {
	case m:
		c += kappa
	case m - 1:
		c += lag1
	}
	return c
}

// newScheme returns the weights of a fractional method for N steps of
// size h, with their α-derivatives when deriv is set.
func newScheme(m Method, alpha, h float64, N, correctors int, deriv bool) (*scheme, error) {
	switch m {
	case Rectangle:
		w, dw := rectKernel(alpha, h, N, deriv)
		return &scheme{forms: []form{{}}, terms: []term{{stream: fieldStream, w: w, dw: dw}}, kind: explicitStep}, nil
	case PECE:
		sc := trapezoidScheme(alpha, h, N, deriv)
		w, dw := rectKernel(alpha, h, N, deriv)
		sc.forms = append(sc.forms, form{}) // the predictor
		sc.terms = append(sc.terms, term{form: 1, stream: fieldStream, w: w, dw: dw})
		sc.kind, sc.correctors = correctorStep, 1+correctors
		return sc, nil
	case Trapezoid:
		return trapezoidScheme(alpha, h, N, deriv), nil
	case GL, GLImplicit:
		return grunwaldScheme(alpha, h, N, m == GLImplicit, deriv), nil
	case L1:
		return l1Scheme(alpha, h, N, deriv), nil
	case FLMM:
		return flmmScheme(alpha, h, N, deriv)
	}
	return nil, fmt.Errorf("fode: method %v is not a fractional scheme", m)
}

// trapezoidScheme is the product trapezoid rule
// y_m = y_0 + s (Σ_{j<m} a_{j,m} f_j + f(t_m, y_m)): a Toeplitz kernel
// from the second differences of k^(α+1), and the weight of f_0, which is
// not Toeplitz, as a starting weight.
func trapezoidScheme(alpha, h float64, N int, deriv bool) *scheme {
	b, db := trapKernel(alpha, h, N, deriv)
	s := trapScale(alpha, h)
	sc := &scheme{
		forms: []form{{}}, terms: []term{{stream: fieldStream, w: b, dw: db}},
		start: 1, W: make([]float64, N+1),
		kind: implicitStep, kappa: s, extrapolate: true,
	}
	for m := 1; m <= N; m++ {
		sc.W[m] = trapFirst(alpha, s, m) - b[m]
	}
	if deriv {
		sc.dkappa = trapScaleDeriv(alpha, h)
		sc.dW = make([]float64, N+1)
		for m := 1; m <= N; m++ {
			sc.dW[m] = trapFirstDeriv(alpha, h, m) - db[m]
		}
	}
	return sc
}

// grunwaldScheme is the Grünwald-Letnikov scheme over the state stream,
// y_m = (1+G_m) y_0 - Σ_{j<m} g_{m-j} y_j + h^α f, with f = f_{m-1}
// (explicit) or f(t_m, y_m) (implicit).
func grunwaldScheme(alpha, h float64, N int, implicit, deriv bool) *scheme {
	g, G, dg, dG := glKernel(alpha, N, deriv)
	ha := math.Pow(h, alpha)
	floats.Scale(-1, g)
	floats.AddConst(1, G)
	sc := &scheme{forms: []form{{y0: G}}, terms: []term{{stream: stateStream, w: g}}}
	if implicit {
		sc.kind, sc.kappa = implicitStep, ha
	} else {
		sc.forms[0].lag1 = ha
	}
	if deriv {
		floats.Scale(-1, dg)
		sc.terms[0].dw, sc.forms[0].dy0 = dg, dG
		if implicit {
			sc.dkappa = ha * math.Log(h)
		} else {
			sc.forms[0].dlag1 = ha * math.Log(h)
		}
	}
	return sc
}

// l1Scheme is the implicit L1 scheme over the state stream,
// y_m = y_{m-1} + b_m y_0 - Σ_{j<m} e_{m-j} y_j + h^α Γ(2-α) f(t_m, y_m),
// with y_{m-1} folded into the kernel's first lag.
func l1Scheme(alpha, h float64, N int, deriv bool) *scheme {
	b, e, db, de := l1Kernel(alpha, N, deriv)
	floats.Scale(-1, e)
	if N >= 1 {
		e[1]++
	}
	kappa := math.Pow(h, alpha) * math.Gamma(2-alpha)
	sc := &scheme{
		forms: []form{{y0: b}}, terms: []term{{stream: stateStream, w: e}},
		kind: implicitStep, kappa: kappa,
	}
	if deriv {
		floats.Scale(-1, de)
		sc.terms[0].dw, sc.forms[0].dy0 = de, db
		sc.dkappa = kappa * (math.Log(h) - digamma(2-alpha))
	}
	return sc
}

// flmmScheme is Lubich's trapezoid FLMM,
// y_m = y_0 + h^α (Σ_{j<m} ω_{m-j} f_j + ω_0 f(t_m, y_m) + Σ_{j<s} W_{m,j} f_j).
func flmmScheme(alpha, h float64, N int, deriv bool) (*scheme, error) {
	omega, domega := flmmWeights(alpha, N, deriv)
	W, dW, ns, err := flmmStartingWeights(alpha, omega, domega, N, flmmTerms(alpha))
	if err != nil {
		return nil, err
	}
	ha, lh := math.Pow(h, alpha), math.Log(h)
	sc := &scheme{
		forms: []form{{}}, terms: []term{{stream: fieldStream, w: make([]float64, N+1)}},
		start: ns, W: W, kind: implicitStep, kappa: ha * omega[0], extrapolate: true,
	}
	for L := 1; L <= N; L++ {
		sc.terms[0].w[L] = ha * omega[L]
	}
	if deriv {
		// (h^α v)' = h^α (ln h v + v').
		sc.terms[0].dw = make([]float64, N+1)
		for L := 1; L <= N; L++ {
			sc.terms[0].dw[L] = ha * (lh*omega[L] + domega[L])
		}
		for i := range dW {
			dW[i] = ha * (lh*W[i] + dW[i])
		}
		sc.dW, sc.dkappa = dW, ha*(lh*omega[0]+domega[0])
	}
	for i := range W {
		W[i] *= ha
	}
	return sc, nil
}

// termSums evaluates the history sums of a scheme's terms, one History
// per stream they run over, and adds them up by target: the combinations
// in the forward pass, the cotangents of the states and of the field
// values in the reverse sweep.
type termSums struct {
	groups []*sumGroup
	// out[t] receives the sum of target t's terms; the caller may point
	// it at a buffer of its own, before start or before a step.
	out   [][]float64
	empty []int // targets no term adds to
}

// sumGroup is the terms over one stream.
type sumGroup struct {
	key     int // the stream, as the caller numbers them
	hist    History
	kernels [][]float64
	target  []int  // target of kernel k
	direct  []bool // kernel k sums straight into its target (the first there)
	sums    [][]float64
	dst     [][]float64
}

// add registers the kernel w over the stream key, summed into target.
func (ts *termSums) add(key int, w []float64, target int) {
	g := len(ts.groups)
	for i, gr := range ts.groups {
		if gr.key == key {
			g = i
		}
	}
	if g == len(ts.groups) {
		ts.groups = append(ts.groups, &sumGroup{key: key})
	}
	gr := ts.groups[g]
	gr.kernels = append(gr.kernels, w)
	gr.target = append(gr.target, target)
}

// start creates the Histories over the streams values(key), once every
// kernel is registered, and the buffers the caller did not give.
func (ts *termSums) start(e HistoryEngine, n int, values func(key int) []float64) {
	seen := make([]bool, len(ts.out))
	for _, g := range ts.groups {
		g.hist = e.NewHistory(g.kernels, values(g.key), n)
		g.direct = make([]bool, len(g.kernels))
		g.sums = make([][]float64, len(g.kernels))
		g.dst = make([][]float64, len(g.kernels))
		for k, t := range g.target {
			if seen[t] {
				g.sums[k] = make([]float64, n)
			}
			g.direct[k], seen[t] = !seen[t], true
		}
	}
	for t, o := range ts.out {
		if o == nil {
			ts.out[t] = make([]float64, n)
		}
		if !seen[t] {
			ts.empty = append(ts.empty, t)
		}
	}
}

// sum computes the sums at step m (in the caller's numbering of the
// streams' rows) into out.
func (ts *termSums) sum(m int) {
	for _, t := range ts.empty {
		clear(ts.out[t])
	}
	for _, g := range ts.groups {
		for k, t := range g.target {
			g.dst[k] = g.sums[k]
			if g.direct[k] {
				g.dst[k] = ts.out[t]
			}
		}
		g.hist.Sum(g.dst, m)
	}
	for _, g := range ts.groups {
		for k, t := range g.target {
			if !g.direct[k] {
				floats.Add(ts.out[t], g.sums[k])
			}
		}
	}
}
