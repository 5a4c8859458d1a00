package fode

import (
	"math"
	"slices"
	"testing"
)

// TestFLMMWeightsRecurrence checks the three-term recurrence for the
// coefficients of ((1+ξ)/(2(1-ξ)))^α against the product of the two
// binomial series.
func TestFLMMWeightsRecurrence(t *testing.T) {
	for _, a := range []float64{0.1, 0.5, 0.9, 1} {
		n := 300
		got, _ := flmmWeights(a, n, false)
		p := make([]float64, n+1) // (1+ξ)^α
		q := make([]float64, n+1) // (1-ξ)^-α
		p[0], q[0] = 1, 1
		for k := 1; k <= n; k++ {
			p[k] = p[k-1] * (a - float64(k-1)) / float64(k)
			q[k] = q[k-1] * (a + float64(k-1)) / float64(k)
		}
		for k := 0; k <= n; k++ {
			var want float64
			for j := 0; j <= k; j++ {
				want += p[j] * q[k-j]
			}
			want *= math.Pow(2, -a)
			if math.Abs(got[k]-want) > 1e-13*math.Max(1, math.Abs(want)) {
				t.Fatalf("alpha %v: ω_%d = %v, want %v", a, k, got[k], want)
			}
		}
	}
}

// TestFLMMStartingWeightsExact checks that the FLMM rule with starting
// weights integrates t^γ exactly for each of its exponents.
func TestFLMMStartingWeightsExact(t *testing.T) {
	for _, a := range []float64{0.3, 0.5, 0.9} {
		n := 50
		omega, _ := flmmWeights(a, n, false)
		W, _, s, err := flmmStartingWeights(a, omega, nil, n, flmmTerms(a))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range flmmExponents(a, flmmTerms(a)) {
			for m := 1; m <= n; m++ {
				var q float64
				for j := 0; j <= m; j++ {
					q += omega[m-j] * math.Pow(float64(j), g)
				}
				for j := 0; j < s; j++ {
					q += W[m*s+j] * math.Pow(float64(j), g)
				}
				want := math.Gamma(g+1) / math.Gamma(g+1+a) * math.Pow(float64(m), g+a)
				// Exact to round-off: at most 3.8e-16 relative now.
				if math.Abs(q-want) > 5e-15*want {
					t.Fatalf("alpha %v, γ %v, m %d: quadrature %v, want %v", a, g, m, q, want)
				}
			}
		}
	}
}

// TestWeightIdentities checks the kernels against their defining formulas.
func TestWeightIdentities(t *testing.T) {
	a, h, n := 0.6, 0.01, 2000
	rect, _ := rectKernel(a, h, n, false)
	trap, _ := trapKernel(a, h, n, false)
	s := trapScale(a, h)
	// The defining differences cancel: about log2(L) digits for the
	// rectangle weights and 2 log2(L) for the trapezoid ones, so the
	// bounds grow like L and L² (at L = 2000 the differences are now
	// 1.5e-13 and 1.9e-9 relative).
	for _, L := range []int{1, 2, 7, 100, 2000} {
		fl := float64(L)
		want := math.Pow(h, a) / math.Gamma(a+1) * (math.Pow(fl, a) - math.Pow(fl-1, a))
		if math.Abs(rect[L]-want) > 1e-15*(fl+1)*want {
			t.Errorf("rect w_%d = %v, want %v", L, rect[L], want)
		}
		want = s * (math.Pow(fl+1, a+1) - 2*math.Pow(fl, a+1) + math.Pow(fl-1, a+1))
		if math.Abs(trap[L]-want) > 2e-15*(fl*fl+1)*math.Abs(want) {
			t.Errorf("trap w_%d = %v, want %v", L, trap[L], want)
		}
	}
	// The rectangle weights sum to h^α N^α/Γ(α+1): exact for constant f.
	var sum float64
	for _, w := range rect[1:] {
		sum += w
	}
	if want := math.Pow(h*float64(n), a) / math.Gamma(a+1); math.Abs(sum-want) > 1e-12*want {
		t.Errorf("rect weights sum to %v, want %v", sum, want)
	}
	g, G, _, _ := glKernel(a, n, false)
	if math.Abs(g[1]+a) > 1e-15 || math.Abs(G[n]+1-binomialPartial(a, n)) > 1e-12 {
		t.Errorf("GL weights: g_1 = %v, partial sum %v", g[1], G[n])
	}
}

// binomialPartial returns Σ_{k≤n} (-1)^k C(α, k) = (-1)^n C(α-1, n).
func binomialPartial(a float64, n int) float64 {
	c := 1.0
	for k := 1; k <= n; k++ {
		c *= (float64(k) - a) / float64(k)
	}
	return c
}

// TestDopri5FixedStepOrder checks the Dormand-Prince tableau's fifth order
// with fixed steps on x' = -x.
func TestDopri5FixedStepOrder(t *testing.T) {
	f := scalarDecay{}
	errAt := func(N int) float64 {
		s := &solver{f: f, opt: Options{T: 1}, n: 1, sol: &Solution{}}
		r := newRKStages(7, 1)
		y, ynew := []float64{1}, []float64{0}
		h := 1 / float64(N)
		for m := 0; m < N; m++ {
			if err := s.rkStep(dopri5Method, r, float64(m)*h, h, y, ynew, nil, m); err != nil {
				t.Fatal(err)
			}
			copy(y, ynew)
		}
		return math.Abs(y[0] - math.Exp(-1))
	}
	// Between h = 1/8 and 1/16 the observed order is 5.149 now.
	if got := math.Log2(errAt(8) / errAt(16)); math.Abs(got-5.15) > 0.05 {
		t.Errorf("fixed-step dopri5 order %.3f, want 5.15 ± 0.05", got)
	}
}

type scalarDecay struct{}

func (scalarDecay) Dim() int       { return 1 }
func (scalarDecay) NumParams() int { return 0 }
func (scalarDecay) Eval(dst []float64, _ float64, x, _ []float64) error {
	for i, v := range x {
		dst[i] = -v
	}
	return nil
}
func (scalarDecay) VJP(xbar, _ []float64, _ float64, _, _, v []float64) error {
	for i, vi := range v {
		xbar[i] = -vi
	}
	return nil
}

// TestExportedWeights checks that the exported per-step weights integrate
// a constant exactly: they sum to (hm)^α/Γ(α+1). That they reproduce Solve
// step by step is checked in package layers (TestUnrolledSameModel).
func TestExportedWeights(t *testing.T) {
	a, h := 0.7, 0.1
	for m := 1; m <= 5; m++ {
		w := RectangleWeights(a, h, m)
		var sum float64
		for _, x := range w {
			sum += x
		}
		if want := math.Pow(h*float64(m), a) / math.Gamma(a+1); math.Abs(sum-want) > 1e-14 {
			t.Errorf("m=%d: rectangle weights sum %v, want %v", m, sum, want)
		}
		tw, s := TrapezoidWeights(a, h, m)
		sum = s
		for _, x := range tw {
			sum += x
		}
		if want := math.Pow(h*float64(m), a) / math.Gamma(a+1); math.Abs(sum-want) > 1e-13 {
			t.Errorf("m=%d: trapezoid weights sum %v, want %v", m, sum, want)
		}
	}
}

// fdAlpha returns the fourth-order central difference in α of w(α) with
// step d.
func fdAlpha(alpha, d float64, w func(a float64) []float64) []float64 {
	var out []float64
	for _, tm := range []struct{ c, x float64 }{{-1, 2}, {8, 1}, {-8, -1}, {1, -2}} {
		v := w(alpha + tm.x*d)
		if out == nil {
			out = make([]float64, len(v))
		}
		for i, x := range v {
			out[i] += tm.c * x / (12 * d)
		}
	}
	return out
}

// TestWeightDerivatives checks the closed-form α-derivatives of every
// scheme's weights against differences of the weights in α. The error
// measure is relative to each weight plus a thousandth of the largest
// (some derivatives cross zero); for the FLMM starting weights, whose
// system amplifies the differences' round-off, to the largest weight.
func TestWeightDerivatives(t *testing.T) {
	const h, n, nFirst = 0.05, 3000, 60
	for _, a := range []float64{0.2, 0.5, 0.9} {
		K := flmmTerms(a)
		omega, domega := flmmWeights(a, 60, true)
		_, dW, _, err := flmmStartingWeights(a, omega, domega, 60, K)
		if err != nil {
			t.Fatal(err)
		}
		// Beyond some dozens of steps the differences of trapFirst lose
		// more to its cancellation than the derivative does.
		trapFirsts := func(al float64) []float64 {
			w := make([]float64, nFirst)
			for m := range w {
				w[m] = trapFirst(al, trapScale(al, h), m+1)
			}
			return w
		}
		dTrapFirst := make([]float64, nFirst)
		for m := range dTrapFirst {
			dTrapFirst[m] = trapFirstDeriv(a, h, m+1)
		}
		_, drect := rectKernel(a, h, n, true)
		_, dtrap := trapKernel(a, h, n, true)
		_, _, dg, dG := glKernel(a, n, true)
		_, _, db, de := l1Kernel(a, n, true)
		for _, c := range []struct {
			name  string
			got   []float64
			w     func(al float64) []float64
			floor float64
		}{
			{"rectangle", drect[1:], func(al float64) []float64 { w, _ := rectKernel(al, h, n, false); return w[1:] }, 1e-3},
			{"trapezoid", dtrap[1:], func(al float64) []float64 { w, _ := trapKernel(al, h, n, false); return w[1:] }, 1e-3},
			{"trapezoid scale", []float64{trapScaleDeriv(a, h)}, func(al float64) []float64 { return []float64{trapScale(al, h)} }, 1e-3},
			{"trapezoid first weight", dTrapFirst, trapFirsts, 1e-3},
			{"GL", dg[1:], func(al float64) []float64 { g, _, _, _ := glKernel(al, n, false); return g[1:] }, 1e-3},
			{"GL partial sums", dG[1:], func(al float64) []float64 { _, G, _, _ := glKernel(al, n, false); return G[1:] }, 1e-3},
			{"L1 b", db[1:], func(al float64) []float64 { b, _, _, _ := l1Kernel(al, n, false); return b[1:] }, 1e-3},
			{"L1 e", de[1:], func(al float64) []float64 { _, e, _, _ := l1Kernel(al, n, false); return e[1:] }, 1e-3},
			{"FLMM omega", domega, func(al float64) []float64 { w, _ := flmmWeights(al, 60, false); return w }, 1e-3},
			{"FLMM starting weights", dW, func(al float64) []float64 {
				omega, _ := flmmWeights(al, 60, false)
				W, _, _, _ := flmmStartingWeights(al, omega, nil, 60, K)
				return W
			}, 1},
		} {
			want := fdAlpha(a, 1e-3, c.w)
			var big, e float64
			for _, v := range want {
				big = math.Max(big, math.Abs(v))
			}
			for i, v := range want {
				e = math.Max(e, math.Abs(c.got[i]-v)/(math.Abs(v)+c.floor*big))
			}
			// Up to 9.4e-9 now (FLMM starting weights at α = 0.2).
			t.Logf("alpha %v, %s: largest relative difference %.3g", a, c.name, e)
			if e > 5e-8 {
				t.Errorf("alpha %v, %s: α-derivative off the differences by %.3g relative", a, c.name, e)
			}
		}
	}
}

// TestWeightDerivativeSeries checks the series behind the derivatives of
// the second differences against their direct formulas, where those lose
// only a few digits.
func TestWeightDerivativeSeries(t *testing.T) {
	for _, p := range []float64{0, 0.1, 0.5, 1.2, 1.5, 2} {
		for L := 4.0; L <= 40; L++ {
			want := xlogPow(L+1, p) - 2*xlogPow(L, p) + xlogPow(L-1, p)
			if got := powDiff2Deriv(L, p); math.Abs(got-want) > 1e-11*math.Abs(want) {
				t.Errorf("p %v, L %v: ∂ of the second difference %v, direct %v", p, L, got, want)
			}
		}
	}
	const h = 0.1
	for _, a := range []float64{0.1, 0.5, 1} {
		s, ds := trapScale(a, h), trapScaleDeriv(a, h)
		for m := 4; m <= 40; m++ {
			fm := float64(m)
			da := xlogPow(fm-1, a+1) + math.Pow(fm, a) - (fm-1-a)*xlogPow(fm, a)
			want := ds*trapFirst(a, 1, m) + s*da
			if got := trapFirstDeriv(a, h, m); math.Abs(got-want) > 1e-11*math.Abs(want) {
				t.Errorf("alpha %v, m %d: ∂ of the first trapezoid weight %v, direct %v", a, m, got, want)
			}
		}
	}
}

// TestDigamma checks ψ at known values and against differences of ln Γ.
func TestDigamma(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{1, -0.5772156649015329}, {0.5, -1.9635100260214235}, {2, 0.42278433509846713}, {0.01, -100.56088545786867},
	} {
		if got := digamma(c.x); math.Abs(got-c.want) > 1e-15*math.Max(1, math.Abs(c.want)) {
			t.Errorf("ψ(%v) = %.17g, want %.17g", c.x, got, c.want)
		}
	}
	for _, x := range []float64{0.3, 1.3, 2.7, 25} {
		want := fdAlpha(x, 1e-3, func(x float64) []float64 { v, _ := math.Lgamma(x); return []float64{v} })[0]
		if got := digamma(x); math.Abs(got-want) > 1e-9 {
			t.Errorf("ψ(%v) = %v, differences of ln Γ give %v", x, got, want)
		}
	}
}

// TestSizeClasses: getFloats rounds a buffer up to its size class
// (scratch.SizeClass).
func TestSizeClasses(t *testing.T) {
	b := getFloats(5000)
	if c := cap(b); c != 5120 {
		t.Errorf("5000 values: capacity %d, want 5120", c)
	}
}

// chain is the parameter-free linear field f(x) = A x with A the
// tridiagonal chain Laplacian, whose VJP Aᵀ v ignores x; stateFree says
// whether it tells the solver so.
// chainProblem returns an initial state of two rows of chain{d: 4} and
// output cotangents for two output times.
func chainProblem() (x0, ybar []float64) {
	x0 = []float64{1, -0.5, 0.25, 2, 0, 0.3, -1, 0.7}
	ybar = make([]float64, 2*len(x0))
	for i := range ybar {
		ybar[i] = float64(i%5) - 1.5
	}
	return x0, ybar
}

// solveAndGrad solves f from x0 with opt (two output times) and returns
// the solution and, in one slice, its outputs, dL/dx0 and dL/dα for the
// output cotangents ybar.
func solveAndGrad(t *testing.T, f Field, x0, ybar []float64, opt Options) (*Solution, []float64) {
	t.Helper()
	sol, err := Solve(f, x0, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Grad(sol, ybar, GradOptions{GradAlpha: true})
	if err != nil {
		t.Fatal(err)
	}
	return sol, append(append(append([]float64(nil), sol.At(0)...), sol.At(1)...), append(g.X0, g.Alpha)...)
}

type chain struct {
	d         int
	stateFree bool
}

func (c chain) Dim() int           { return c.d }
func (c chain) NumParams() int     { return 0 }
func (c chain) StateFreeVJP() bool { return c.stateFree }

func (c chain) Eval(dst []float64, _ float64, x, _ []float64) error {
	for r := 0; r < len(x); r += c.d {
		for i := range c.d {
			v := -2 * x[r+i]
			if i > 0 {
				v += x[r+i-1]
			}
			if i+1 < c.d {
				v += x[r+i+1]
			}
			dst[r+i] = v
		}
	}
	return nil
}

func (c chain) VJP(xbar, _ []float64, _ float64, _, _, v []float64) error {
	if xbar != nil {
		return c.Eval(xbar, 0, v, nil) // A is symmetric
	}
	return nil
}

// TestStateFreeField: with a StateFreeField the schemes that sum stored
// field values keep a ring of a few states instead of all of them, and
// give the same outputs and gradients (x0 and α) bit for bit as the same
// field that does not say so; the others keep every state.
func TestStateFreeField(t *testing.T) {
	x0, _ := chainProblem()
	times := []float64{0.33, 0.5, 1}
	for _, m := range []Method{Rectangle, Trapezoid, FLMM, PECE, GL, L1} {
		var res [2]*Solution
		var grads [2]*Gradient
		for k, free := range []bool{false, true} {
			sol, err := Solve(chain{d: 4, stateFree: free}, x0, nil, Options{Method: m, Alpha: 0.6, T: 1, Steps: 40, Times: times})
			if err != nil {
				t.Fatal(err)
			}
			ybar := make([]float64, len(times)*len(x0))
			for i := range ybar {
				ybar[i] = float64(i%5) - 1.5
			}
			g, err := Grad(sol, ybar, GradOptions{GradAlpha: true})
			if err != nil {
				t.Fatal(err)
			}
			res[k], grads[k] = sol, g
		}
		ringed := m == Rectangle || m == Trapezoid || m == FLMM
		if got := res[1].ring > 0; got != ringed {
			t.Errorf("%v: ring %d, want one: %v", m, res[1].ring, ringed)
		}
		if ringed && (len(res[1].y) >= len(res[0].y)/4 || res[1].State(10) != nil || res[1].State(0) == nil) {
			t.Errorf("%v: %d state values kept of %d; State(10) %v", m, len(res[1].y), len(res[0].y), res[1].State(10))
		}
		for i := range times {
			if !slices.Equal(res[0].At(i), res[1].At(i)) {
				t.Errorf("%v: output %d differs: %v and %v", m, i, res[0].At(i), res[1].At(i))
			}
		}
		if !slices.Equal(grads[0].X0, grads[1].X0) || grads[0].Alpha != grads[1].Alpha {
			t.Errorf("%v: gradients differ: %v %v and %v %v", m, grads[0].X0, grads[0].Alpha, grads[1].X0, grads[1].Alpha)
		}
	}
}

// TestStoreFloat32: with float32 storage every scheme keeps its states in
// float32 (and a float64 ring of the recent ones), the schemes that keep
// field values hold them in float32 (float64 only for the starting
// values), their solutions and gradients stay within float32 round-off of
// the float64 ones, and the direct and FFT engines (whose partial sums are
// then float32) agree to float32 round-off.
func TestStoreFloat32(t *testing.T) {
	f := chain{d: 4}
	x0, ybar := chainProblem()
	run := func(opt Options) (*Solution, []float64) { return solveAndGrad(t, f, x0, ybar, opt) }
	for _, m := range []Method{Rectangle, PECE, Trapezoid, FLMM, GL} {
		opt := Options{Method: m, Alpha: 0.6, T: 1, Steps: 600, Times: []float64{0.5, 1}, History: Direct}
		_, ref := run(opt)
		opt.StoreFloat32 = true
		sol, got := run(opt)
		opt.History = FFT
		_, fft := run(opt)
		var d, dfft, norm float64
		for i := range ref {
			d = max(d, math.Abs(got[i]-ref[i]))
			dfft = max(dfft, math.Abs(fft[i]-got[i]))
			norm = max(norm, math.Abs(ref[i]))
		}
		t.Logf("%v: float32 storage against float64 %.3g, FFT against direct %.3g (of %.3g)", m, d/norm, dfft/norm, norm)
		stores := m != GL
		if stores && (len(sol.fv32) != 601*len(x0) || len(sol.fv) > 8*len(x0)) {
			t.Errorf("%v: %d float32 and %d float64 field values kept", m, len(sol.fv32), len(sol.fv))
		}
		if !stores && sol.fv32 != nil {
			t.Errorf("%v keeps no field values, yet has %d in float32", m, len(sol.fv32))
		}
		if len(sol.y32) != 601*len(x0) || len(sol.y) > 9*len(x0) || d == 0 || d > 1e-6*norm {
			t.Errorf("%v: %d float32 and %d float64 states kept; difference %.3g of %.3g", m, len(sol.y32), len(sol.y), d, norm)
		}
		if st := sol.State(100); len(st) != len(x0) || math.Abs(st[0]-float64(sol.y32[100*len(x0)])) != 0 {
			t.Errorf("%v: State(100) = %v from the float32 store", m, st)
		}
		// The FFT engine accumulates its partial sums in float32 too.
		if dfft > 1e-6*norm {
			t.Errorf("%v: FFT and direct engines differ by %.3g with float32 storage", m, dfft)
		}
		// With a state-free field too: the same numbers from a ring of
		// states.
		f = chain{d: 4, stateFree: true}
		_, free := run(opt)
		f = chain{d: 4}
		if !slices.Equal(free, fft) {
			t.Errorf("%v: a state-free field with float32 storage changes the result", m)
		}
		full := Options{Method: m, Alpha: 0.6, T: 1, Steps: 600}
		half := full
		half.StoreFloat32 = true
		b64, err64 := full.Memory(len(x0))
		b32, err32 := half.Memory(len(x0))
		if err64 != nil || err32 != nil || (stores && !(b32 < b64)) {
			t.Errorf("%v: memory estimate %d bytes with float32 storage, %d without (%v, %v)", m, b32, b64, err32, err64)
		}
	}
}
