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
// Σ_i c_i D^{α_i} y = f is one form whose kernel and coefficient a_m are
// the terms' own, weighted (see multiTermScheme), and κ the combined
// leading coefficient; short memory is the weights cut to lags ≤ M.
//
// Every weight comes with its derivatives by the scheme's parameters (the
// d-prefixed fields, index p, set only when they are wanted): α alone for
// the single-term equation, the orders α_1..α_K and then the coefficients
// c_1..c_K for a multi-term one. dL/dp is the sum over the steps of each
// combination's cotangent times the combination formed with the
// derivatives by p.
type scheme struct {
	forms []form
	terms []term
	// start is s, the number of field values f_0..f_{s-1} that the
	// starting weights W[m*s+j] of form 0 multiply.
	start int
	W     []float64
	dW    [][]float64
	kind  stepKind
	// kappa is κ, the weight of the new field value of an implicit or
	// corrector step; correctors is μ.
	kappa      float64
	dkappa     []float64
	correctors int
	// extrapolate starts an implicit step from the linear extrapolation of
	// the last two states instead of the last state.
	extrapolate bool
	// params is the number of parameters the derivatives are taken by
	// (0 when there are none).
	params int
}

// A form is one combination B_m: its coefficient a_m of y_0 (nil means 1)
// and its weight e of the previous field value f_{m-1} (explicit steps
// only: an implicit step does not keep f_{m-1} beyond its stored field
// values).
type form struct {
	y0    []float64
	dy0   [][]float64
	lag1  float64
	dlag1 []float64
}

// A term is one history sum Σ_{j<m} w_{m-j} v_j of a form over a stream.
type term struct {
	form   int
	stream stream
	w      []float64
	dw     [][]float64
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
	return sc.readsLag1()
}

// float32Direct returns f as a Float32Field when a float32-stored step of
// the scheme can have f write its values (and the gradient its
// cotangents) straight into the float32 streams: an explicit step of one
// combination without starting weights or lag-1 term, not split by rows
// between workers. It returns nil otherwise.
func (sc *scheme) float32Direct(f Field, store32, rowPool bool) Float32Field {
	f32, ok := f.(Float32Field)
	if !ok || !store32 || rowPool || sc.kind != explicitStep || sc.start > 0 || sc.readsLag1() || len(sc.forms) != 1 {
		return nil
	}
	return f32
}

// readsLag1 reports whether a combination reads the previous field value
// f_{m-1} outside the history sums.
func (sc *scheme) readsLag1() bool {
	for _, f := range sc.forms {
		if f.lag1 != 0 {
			return true
		}
	}
	return false
}

// at returns d[p], or nil when d has no derivative by p.
func at[T any](d []T, p int) (v T) {
	if p < len(d) {
		v = d[p]
	}
	return v
}

// y0Coef returns a_m of form l (p < 0), or its derivative by parameter p.
func (sc *scheme) y0Coef(l, m, p int) float64 {
	f := &sc.forms[l]
	switch {
	case p >= 0:
		if d := at(f.dy0, p); d != nil {
			return d[m]
		}
		return 0
	case f.y0 != nil:
		return f.y0[m]
	}
	return 1
}

// blockWeight returns the weight of f_j in step m of the starting block,
// y_m = a_m y_0 + Σ_{j<s} c_{m,j} f_j (the block sums field values only),
// (p < 0), or its derivative by parameter p.
func (sc *scheme) blockWeight(m, j, p int) float64 {
	W, kappa, lag1 := sc.W, sc.kappa, sc.forms[0].lag1
	if p >= 0 {
		W, kappa, lag1 = at(sc.dW, p), at(sc.dkappa, p), at(sc.forms[0].dlag1, p)
	}
	var c float64
	if W != nil {
		c = W[m*sc.start+j]
	}
	for _, t := range sc.terms {
		w := t.w
		if p >= 0 {
			w = at(t.dw, p)
		}
		if t.form == 0 && j < m && w != nil {
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

// one wraps the derivative by α of a single-term scheme's weight as the
// list by parameter (nil stays nil).
func one(d []float64) [][]float64 {
	if d == nil {
		return nil
	}
	return [][]float64{d}
}

// newScheme returns the weights of the fractional method o.Method for the
// equation of o (single-term of order o.Alpha, or multi-term by o.Orders
// and o.Coeffs) over N steps of size h, cut to o.ShortMemory lags, with
// their derivatives when deriv is set. The options have their defaults.
func newScheme(o *Options, h float64, N int, deriv bool) (*scheme, error) {
	var (
		sc  *scheme
		err error
	)
	alpha := o.Alpha
	switch o.Method {
	case Rectangle:
		w, dw := rectKernel(alpha, h, N, deriv)
		sc = &scheme{forms: []form{{}}, terms: []term{{stream: fieldStream, w: w, dw: one(dw)}}, kind: explicitStep}
	case PECE:
		sc = trapezoidScheme(alpha, h, N, deriv)
		w, dw := rectKernel(alpha, h, N, deriv)
		sc.forms = append(sc.forms, form{}) // the predictor
		sc.terms = append(sc.terms, term{form: 1, stream: fieldStream, w: w, dw: one(dw)})
		sc.kind, sc.correctors = correctorStep, 1+o.PECE.Correctors
	case Trapezoid:
		sc = trapezoidScheme(alpha, h, N, deriv)
	case GL, GLImplicit, L1:
		sc = multiTermScheme(o, h, N, deriv)
	case FLMM:
		sc, err = flmmScheme(alpha, h, N, deriv)
	default:
		return nil, fmt.Errorf("fode: method %v is not a fractional scheme", o.Method)
	}
	if err != nil {
		return nil, err
	}
	if deriv && sc.params == 0 {
		sc.params = 1
	}
	if M := o.ShortMemory; M > 0 && M < N {
		sc.truncate(M)
	}
	return sc, nil
}

// truncate cuts the scheme to the short memory of M steps: every weight
// that reaches back more than M steps, history kernel or starting weight,
// and its derivatives, becomes zero. (GL and L1 build their cut kernels
// themselves, where the cut also changes the weight of y_0 and, for L1,
// the last lag.)
func (sc *scheme) truncate(M int) {
	cut := func(w []float64) {
		if len(w) > M+1 {
			clear(w[M+1:])
		}
	}
	for _, t := range sc.terms {
		cut(t.w)
		for _, d := range t.dw {
			cut(d)
		}
	}
	cutW := func(W []float64) {
		if W == nil {
			return
		}
		for m := M + 1; m*sc.start < len(W); m++ {
			for j := 0; j < sc.start && j < m-M; j++ {
				W[m*sc.start+j] = 0
			}
		}
	}
	cutW(sc.W)
	for _, d := range sc.dW {
		cutW(d)
	}
}

// trapezoidScheme is the product trapezoid rule
// y_m = y_0 + s (Σ_{j<m} a_{j,m} f_j + f(t_m, y_m)): a Toeplitz kernel
// from the second differences of k^(α+1), and the weight of f_0, which is
// not Toeplitz, as a starting weight.
func trapezoidScheme(alpha, h float64, N int, deriv bool) *scheme {
	b, db := trapKernel(alpha, h, N, deriv)
	s := trapScale(alpha, h)
	sc := &scheme{
		forms: []form{{}}, terms: []term{{stream: fieldStream, w: b, dw: one(db)}},
		start: 1, W: make([]float64, N+1),
		kind: implicitStep, kappa: s, extrapolate: true,
	}
	for m := 1; m <= N; m++ {
		sc.W[m] = trapFirst(alpha, s, m) - b[m]
	}
	if deriv {
		sc.dkappa = []float64{trapScaleDeriv(alpha, h)}
		dW := make([]float64, N+1)
		for m := 1; m <= N; m++ {
			dW[m] = trapFirstDeriv(alpha, h, m) - db[m]
		}
		sc.dW = [][]float64{dW}
	}
	return sc
}

// A derivativeTerm is one term c D^α of a left-hand side discretised on
// its own over the state stream (Grünwald-Letnikov or L1):
//
//	c D^α y(t_m) ≈ μ (y_m - a_m y_0 - Σ_{j<m} k_{m-j} y_j),
//
// with its α-derivatives dk, da and dμ/dα.
type derivativeTerm struct {
	mu, dmu float64
	k, a    []float64
	dk, da  []float64
	coeff   float64
}

// glTerm is the Grünwald-Letnikov discretisation of c D^α in Caputo form,
// c h^-α Σ_{0≤k≤m} g_k (y_{m-k} - y_0) cut to k ≤ M: μ = c h^-α,
// k_L = -g_L (L ≤ M), a_m = 1 + G_min(m,M).
func glTerm(alpha, c, h float64, N, M int, deriv bool) derivativeTerm {
	g, G, dg, dG := glKernel(alpha, N, deriv)
	t := derivativeTerm{mu: c * math.Pow(h, -alpha), k: g, dk: dg, coeff: c}
	t.dmu = -math.Log(h) * t.mu
	// k_L = -g_L cut to L ≤ M and a_m = one + G_min(m,M); one = 0 for
	// the derivatives.
	cut := func(k, G []float64, one float64) []float64 {
		if k == nil {
			return nil
		}
		floats.Scale(-1, k)
		clear(k[M+1:])
		a := make([]float64, N+1)
		for L := range a {
			a[L] = one + G[min(L, M)]
		}
		return a
	}
	t.a, t.da = cut(t.k, G, 1), cut(t.dk, dG, 0)
	return t
}

// l1Term is the L1 discretisation of c D^α,
// c h^-α/Γ(2-α) Σ_{k<min(m,M)} b_k (y_{m-k} - y_{m-k-1}):
// μ = c h^-α/Γ(2-α), k = δ_1 - e with e_L = b_L - b_{L-1} below the cut,
// e_M = -b_{M-1} at it (M ≥ 2; nothing for M = 1), and a_m = b_m below
// the cut, 0 from it on.
func l1Term(alpha, c, h float64, N, M int, deriv bool) derivativeTerm {
	b, e, db, de := l1Kernel(alpha, N, deriv)
	t := derivativeTerm{mu: c * math.Pow(h, -alpha) / math.Gamma(2-alpha), k: e, a: b, dk: de, da: db, coeff: c}
	t.dmu = t.mu * (digamma(2-alpha) - math.Log(h))
	// Cut e and b (or their derivatives de and db) at M, then negate e.
	cut := func(e, b []float64) {
		if e == nil {
			return
		}
		if M < N {
			e[M] = 0
			if M >= 2 {
				e[M] = -b[M-1]
			}
			clear(e[M+1:])
			clear(b[M:])
		}
		floats.Scale(-1, e)
	}
	cut(e, b)
	cut(de, db)
	if N >= 1 {
		e[1]++
	}
	return t
}

// multiTermScheme is GL (explicit or implicit) or L1 for
// Σ_i c_i D^{α_i} y = f, each term discretised by derivativeTerm:
// Σ_i μ_i (y_m - a^i_m y_0 - Σ_j k^i_{m-j} y_j) = f gives, with
// M = Σ_i μ_i and ρ_i = μ_i/M (Σ ρ_i = 1),
//
//	y_m = Σ_i ρ_i a^i_m y_0 + Σ_{j<m} (Σ_i ρ_i k^i_{m-j}) y_j + f/M,
//
// one kernel over the states whatever the number of terms, and κ = 1/M
// the combined leading coefficient (f = f_{m-1} for explicit GL,
// f(t_m, y_m) otherwise). The single-term equation is K = 1, c = 1.
// The derivative by a parameter p of term q, with s = (∂μ_q/∂p)/M:
// ∂ρ_i = s (δ_iq - ρ_i), so ∂w = s (k^q - w) + [p = α_q] ρ_q ∂k^q,
// likewise for a_m, and ∂κ = -s κ.
func multiTermScheme(o *Options, h float64, N int, deriv bool) *scheme {
	orders, coeffs := o.Orders, o.Coeffs
	multi := len(orders) > 0
	if !multi {
		orders, coeffs = []float64{o.Alpha}, []float64{1}
	}
	M := N
	if o.ShortMemory > 0 && o.ShortMemory < N {
		M = o.ShortMemory
	}
	K := len(orders)
	ts := make([]derivativeTerm, K)
	var sum float64
	for i, a := range orders {
		if o.Method == L1 {
			ts[i] = l1Term(a, coeffs[i], h, N, M, deriv)
		} else {
			ts[i] = glTerm(a, coeffs[i], h, N, M, deriv)
		}
		sum += ts[i].mu
	}
	w, a := make([]float64, N+1), make([]float64, N+1)
	rho := make([]float64, K)
	for i := range ts {
		rho[i] = ts[i].mu / sum
		floats.AddScaled(w, rho[i], ts[i].k)
		floats.AddScaled(a, rho[i], ts[i].a)
	}
	w[0] = 0
	kappa := 1 / sum
	sc := &scheme{forms: []form{{y0: a}}, terms: []term{{stream: stateStream, w: w}}}
	if o.Method == GL {
		sc.forms[0].lag1 = kappa
	} else {
		sc.kind, sc.kappa = implicitStep, kappa
	}
	if !deriv {
		return sc
	}
	P := 1
	if multi {
		P = 2 * K
	}
	sc.params = P
	dw, da, dk := make([][]float64, P), make([][]float64, P), make([]float64, P)
	for p := range P {
		q, dmu := p%K, ts[p%K].dmu
		if p >= K {
			dmu = ts[q].mu / ts[q].coeff // ∂μ/∂c = μ/c
		}
		s := dmu / sum
		dw[p], da[p] = make([]float64, N+1), make([]float64, N+1)
		floats.AddScaledTo(dw[p], floats.ScaleTo(dw[p], -s, w), s, ts[q].k)
		floats.AddScaledTo(da[p], floats.ScaleTo(da[p], -s, a), s, ts[q].a)
		if p < K {
			floats.AddScaled(dw[p], rho[q], ts[q].dk)
			floats.AddScaled(da[p], rho[q], ts[q].da)
		}
		dw[p][0] = 0
		dk[p] = -s * kappa
	}
	sc.terms[0].dw, sc.forms[0].dy0 = dw, da
	if o.Method == GL {
		sc.forms[0].dlag1 = dk
	} else {
		sc.dkappa = dk
	}
	return sc
}

// ones returns n ones.
func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
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
		dw := make([]float64, N+1)
		for L := 1; L <= N; L++ {
			dw[L] = ha * (lh*omega[L] + domega[L])
		}
		for i := range dW {
			dW[i] = ha * (lh*W[i] + dW[i])
		}
		sc.terms[0].dw = one(dw)
		sc.dW, sc.dkappa = one(dW), []float64{ha * (lh*omega[0] + domega[0])}
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
	// it at a buffer of its own, before start or before a step. A target
	// no term adds to stays nil unless the caller gives it a buffer.
	out   [][]float64
	empty []int // targets no term adds to
	// values32 returns a stream stored in float32 (nil for one in
	// float64), read by the history engine in place of values.
	values32 func(key int) []float32
	owned    [][]float64 // the buffers start took from the pools
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

// start creates the Histories over the streams values(key) (or
// values32(key)), once every kernel is registered, and the buffers the
// caller did not give.
func (ts *termSums) start(e HistoryEngine, n int, values func(key int) []float64) error {
	seen := make([]bool, len(ts.out))
	for _, g := range ts.groups {
		if ts.values32 != nil {
			if v := ts.values32(g.key); v != nil {
				var err error
				if g.hist, err = newHistory32(e, g.kernels, v, n); err != nil {
					return err
				}
			}
		}
		if g.hist == nil {
			g.hist = e.NewHistory(g.kernels, values(g.key), n)
		}
		g.direct = make([]bool, len(g.kernels))
		g.sums = make([][]float64, len(g.kernels))
		g.dst = make([][]float64, len(g.kernels))
		for k, t := range g.target {
			if seen[t] {
				g.sums[k] = ts.take(n)
			}
			g.direct[k], seen[t] = !seen[t], true
		}
	}
	for t, o := range ts.out {
		switch {
		case !seen[t]:
			// No term adds to it: the caller's buffer is cleared at each
			// step, and none is made, so out[t] nil stands for zero.
			ts.empty = append(ts.empty, t)
		case o == nil:
			ts.out[t] = ts.take(n)
		}
	}
	return nil
}

// take returns a zeroed buffer of n values that release hands back.
func (ts *termSums) take(n int) []float64 {
	b := getZeroed(n)
	ts.owned = append(ts.owned, b)
	return b
}

// release hands the buffers of the Histories that hold pooled ones back
// for reuse; the sums must not be used afterwards.
func (ts *termSums) release() {
	for _, b := range ts.owned {
		putFloats(b)
	}
	ts.owned = nil
	for _, g := range ts.groups {
		if r, ok := g.hist.(interface{ release() }); ok {
			r.release()
		}
		g.hist = nil
	}
}

// sum computes the sums at step m (in the caller's numbering of the
// streams' rows) into out.
func (ts *termSums) sum(m int) {
	for _, t := range ts.empty {
		clear(ts.out[t]) // a no-op on nil
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
