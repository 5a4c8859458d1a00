package fode_test

import (
	"fmt"
	"math"
	"math/cmplx"
	"strings"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

var multiMethods = []fode.Method{fode.GL, fode.GLImplicit, fode.L1}

func solveLinear(t *testing.T, lambda float64, x0 []float64, opt fode.Options) []float64 {
	t.Helper()
	lin, _ := problems.NewLinear(len(x0))
	opt.Iteration.Tol = 1e-15
	sol, err := fode.Solve(lin, x0, []float64{lambda}, opt)
	if err != nil {
		t.Fatalf("%v: %v", opt.Method, err)
	}
	return sol.Final()
}

func maxDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestMultiTermReducesToSingleTerm: one term of coefficient 1 is the
// single-term scheme; equal orders a add up to (Σ c_i) D^a x = f, which is
// D^a x = f/Σ c_i; with every order 1 the schemes are Euler (GL) and
// backward Euler (GL implicit, L1) for (Σ c_i) x' = f.
func TestMultiTermReducesToSingleTerm(t *testing.T) {
	x0 := []float64{1, -0.5}
	const lambda, T, N = 1.7, 2.0, 50
	for _, m := range multiMethods {
		for _, a := range []float64{0.3, 0.75, 1} {
			single := solveLinear(t, lambda, x0, fode.Options{Method: m, Alpha: a, T: T, Steps: N})
			one := solveLinear(t, lambda, x0, fode.Options{Method: m, Orders: []float64{a}, T: T, Steps: N})
			if d := maxDiff(one, single); d > 1e-14 {
				t.Errorf("%v alpha %v: K = 1 differs from the single-term solve by %.3g", m, a, d)
			}
			c := []float64{0.4, 1.1, 0.25}
			sum := c[0] + c[1] + c[2]
			equal := solveLinear(t, lambda, x0, fode.Options{Method: m, Orders: []float64{a, a, a}, Coeffs: c, T: T, Steps: N})
			scaled := solveLinear(t, lambda/sum, x0, fode.Options{Method: m, Alpha: a, T: T, Steps: N})
			if d := maxDiff(equal, scaled); d > 1e-13 {
				t.Errorf("%v alpha %v: equal orders differ from the single term with the summed coefficient by %.3g", m, a, d)
			}
		}
		c := []float64{0.6, 1.9}
		ode := solveLinear(t, lambda, x0, fode.Options{Method: m, Orders: []float64{1, 1}, Coeffs: c, T: T, Steps: N})
		h, C := T/N, (c[0]+c[1])/0.5 // component 0 relaxes at rate 0.5 λ
		var want float64
		if m == fode.GL {
			want = math.Pow(1-h*lambda/C, N) // Euler
		} else {
			want = math.Pow(1+h*lambda/C, -N) // backward Euler
		}
		if d := math.Abs(ode[0] - want*x0[0]); d > 1e-13 {
			t.Errorf("%v with orders 1, 1: %.15g, the ODE scheme gives %.15g", m, ode[0], want*x0[0])
		}
	}
}

// TestTwoTermRichardson checks the two-term equation
// c1 x' + c2 D^a x = -λ x by convergence at the schemes' order and
// against the Laplace-inversion solution: for a first-order scheme the
// differences of successive halvings shrink by 2, and the Richardson
// extrapolations 2 y_2N - y_N of GL, GL implicit and L1 meet the exact
// solution, computed by inverting its Laplace transform numerically. The observed order is
// log2((y_N - y_2N)/(y_2N - y_4N)), near 1 for all three: each
// discretises the first-order term x' by a first-order difference (L1's
// is backward Euler at α = 1).
func TestTwoTermRichardson(t *testing.T) {
	const lambda, T = 2.0, 1.0
	orders, coeffs := []float64{1, 0.5}, []float64{1, 0.7}
	var limits []float64
	for _, m := range multiMethods {
		y := make([]float64, 3)
		for k, N := range []int{200, 400, 800} {
			y[k] = solveLinear(t, lambda, []float64{1}, fode.Options{Method: m, Orders: orders, Coeffs: coeffs, T: T, Steps: N})[0]
		}
		p := math.Log2((y[0] - y[1]) / (y[1] - y[2]))
		lim := 2*y[2] - y[1]
		t.Logf("%v: x(1) = %.8f %.8f %.8f, observed order %.3f, extrapolated %.8f", m, y[0], y[1], y[2], p, lim)
		if p < 0.9 || p > 1.15 {
			t.Errorf("%v: observed order %.3f, want about 1", m, p)
		}
		limits = append(limits, lim)
	}
	// The exact solution by numerical inversion of its Laplace transform
	// X(s) = (c1 + c2 s^(a-1))/(c1 s + c2 s^a + λ) (x0 = 1).
	exact := talbot(func(s complex128) complex128 {
		c1, c2, a := complex(coeffs[0], 0), complex(coeffs[1], 0), complex(orders[1], 0)
		return (c1 + c2*cmplx.Pow(s, a-1)) / (c1*s + c2*cmplx.Pow(s, a) + lambda)
	}, T)
	if e := talbot(func(s complex128) complex128 { return 1 / (s + 1) }, 1) - math.Exp(-1); math.Abs(e) > 1e-9 {
		t.Fatalf("the inversion of 1/(s+1) at 1 is off by %.3g", e)
	}
	t.Logf("Laplace inversion: x(1) = %.10f", exact)
	for i := range limits {
		if d := math.Abs(limits[i] - exact); d > 2e-6 {
			t.Errorf("%v extrapolates to %.8f, the Laplace inversion gives %.8f", multiMethods[i], limits[i], exact)
		}
	}
}

// talbot inverts the Laplace transform F at t > 0 by the fixed Talbot
// contour of Abate and Valkó with 24 nodes (about 1e-9 in float64 for the
// transforms here, analytic off the negative real axis).
func talbot(F func(complex128) complex128, t float64) float64 {
	const M = 24
	r := 2 * M / (5 * t)
	sum := 0.5 * real(F(complex(r, 0))) * math.Exp(r*t)
	for k := 1; k < M; k++ {
		th := float64(k) * math.Pi / M
		cot := math.Cos(th) / math.Sin(th)
		s := complex(r*th*cot, r*th)
		sigma := th + (th*cot-1)*cot
		sum += real(cmplx.Exp(complex(t, 0)*s) * F(s) * complex(1, sigma))
	}
	return r / M * sum
}

// multiCase solves a nonlinear multi-term problem and returns the loss
// L = w·x(t_i) summed over the output times.
type multiCase struct {
	gradCase
	orders, coeffs []float64
}

func multiLoss(t *testing.T, c multiCase, opt fode.Options) (float64, *fode.Solution, []float64) {
	t.Helper()
	opt.Orders, opt.Coeffs = c.orders, c.coeffs
	return loss(t, c.gradCase, c.theta, c.x0, opt)
}

// TestMultiTermGradient checks dL/dx0, dL/dθ, dL/dα_i and dL/dc_i of the
// exact adjoint of every multi-term scheme against central differences
// of the discrete solution, and dL/dx0, dL/dθ against forward mode, with
// and without a short memory, on both history engines.
func TestMultiTermGradient(t *testing.T) {
	var cases []multiCase
	for _, g := range gradCases() {
		cases = append(cases,
			multiCase{g, []float64{0.3, 0.8}, []float64{0.7, 1.4}},
			multiCase{g, []float64{1, 0.45, 0.6}, []float64{1, 0.3, 2}})
	}
	for _, c := range cases {
		for _, m := range multiMethods {
			for _, mem := range []int{0, 7} {
				for _, hist := range []fode.HistoryEngine{fode.Direct, fode.FFT} {
					name := fmt.Sprintf("%s/K=%d/%v/memory=%d/%v", c.name, len(c.orders), m, mem, hist)
					t.Run(name, func(t *testing.T) {
						opt := fode.Options{Method: m, T: 1, Steps: 40, Times: c.times, ShortMemory: mem, History: hist, Iteration: fode.IterationSettings{Tol: 1e-15}}
						_, sol, w := multiLoss(t, c, opt)
						g, err := fode.Grad(sol, w, fode.GradOptions{GradAlpha: true})
						if err != nil {
							t.Fatal(err)
						}
						if !math.IsNaN(g.Alpha) || len(g.Orders) != len(c.orders) || len(g.Coeffs) != len(c.coeffs) {
							t.Fatalf("gradient shapes: alpha %v, %d orders, %d coefficients", g.Alpha, len(g.Orders), len(g.Coeffs))
						}
						got := append(append([]float64(nil), g.X0...), g.Theta...)
						oc := c
						oc.gradCase.x0 = append([]float64(nil), c.x0...)
						oc.gradCase.theta = append([]float64(nil), c.theta...)
						o := opt
						o.Orders, o.Coeffs = c.orders, c.coeffs
						fd := fdGrad(t, oc.gradCase, o)
						if e := relErr(got, fd); e > 1e-7 {
							t.Errorf("dL/dx0, dL/dtheta vs finite differences: relative error %.3g", e)
						}
						fw, err := fode.Grad(sol, w, fode.GradOptions{Mode: fode.Forward})
						if err != nil {
							t.Fatal(err)
						}
						if e := relErr(got, append(fw.X0, fw.Theta...)); e > 1e-12 {
							t.Errorf("dL/dx0, dL/dtheta vs forward mode: relative error %.3g", e)
						}
						// The orders and coefficients, by central differences
						// (one-sided of second order at α = 1).
						var gotP, fdP []float64
						for _, which := range []int{0, 1} {
							v, gv := oc.orders, g.Orders
							if which == 1 {
								v, gv = oc.coeffs, g.Coeffs
							}
							for i := range v {
								at := func(x float64) float64 {
									v2 := append([]float64(nil), v...)
									v2[i] = x
									mc := oc
									if which == 0 {
										mc.orders = v2
									} else {
										mc.coeffs = v2
									}
									L, _, _ := multiLoss(t, mc, opt)
									return L
								}
								const d = 1e-5
								x := v[i]
								var fd float64
								if which == 0 && x+d > 1 {
									fd = (3*at(x) - 4*at(x-d) + at(x-2*d)) / (2 * d)
								} else {
									fd = (at(x+d) - at(x-d)) / (2 * d)
								}
								gotP, fdP = append(gotP, gv[i]), append(fdP, fd)
							}
						}
						e := relErr(gotP, fdP)
						t.Logf("dL/dorders %v, dL/dcoeffs %v: relative error %.3g against differences", g.Orders, g.Coeffs, e)
						if e > 1e-7 {
							t.Errorf("dL/dorders, dL/dcoeffs %v vs finite differences %v: relative error %.3g", gotP, fdP, e)
						}
					})
				}
			}
		}
	}
}

// TestShortMemoryGradient checks the exact adjoint of every fractional
// scheme cut to a short memory (x0, θ and α) against central differences
// of the truncated solve, and that the truncation is one: memory M < N
// changes the solution, M ≥ N does not, and both history engines agree.
func TestShortMemoryGradient(t *testing.T) {
	c := gradCases()[1] // the MLP field
	for _, m := range methodsFor(0.6)[:7] {
		for _, mem := range []int{1, 5} {
			t.Run(fmt.Sprintf("%v/memory=%d", m, mem), func(t *testing.T) {
				opt := fode.Options{Method: m, Alpha: 0.6, T: 1, Steps: 30, Times: c.times, ShortMemory: mem, PECE: fode.PECESettings{Correctors: 1}, Iteration: fode.IterationSettings{Tol: 1e-15}}
				if m == fode.FLMM && mem < 5 {
					opt.ShortMemory = 5 + mem // beyond the starting block
				}
				L, sol, w := loss(t, c, c.theta, c.x0, opt)
				full := opt
				full.ShortMemory = 0
				Lf, _, _ := loss(t, c, c.theta, c.x0, full)
				long := opt
				long.ShortMemory = opt.Steps
				Ll, _, _ := loss(t, c, c.theta, c.x0, long)
				if L == Lf || Ll != Lf {
					t.Errorf("loss %v with memory %d, %v with full memory, %v with memory N", L, opt.ShortMemory, Lf, Ll)
				}
				ffto := opt
				ffto.History = fode.FFT
				if Lfft, _, _ := loss(t, c, c.theta, c.x0, ffto); math.Abs(Lfft-L) > 1e-12*math.Abs(L) {
					t.Errorf("FFT engine %v, direct %v", Lfft, L)
				}
				g, err := fode.Grad(sol, w, fode.GradOptions{GradAlpha: true})
				if err != nil {
					t.Fatal(err)
				}
				got := append(append([]float64(nil), g.X0...), g.Theta...)
				if e := relErr(got, fdGrad(t, c, opt)); e > 1e-7 {
					t.Errorf("dL/dx0, dL/dtheta vs finite differences: relative error %.3g", e)
				}
				at := func(a float64) float64 {
					o := opt
					o.Alpha = a
					L, _, _ := loss(t, c, c.theta, c.x0, o)
					return L
				}
				const d = 1e-5
				fd := (at(0.6+d) - at(0.6-d)) / (2 * d)
				if e := math.Abs(g.Alpha-fd) / math.Max(math.Abs(fd), 1e-3); e > 1e-6 {
					t.Errorf("dL/dalpha %.10g, finite differences %.10g: relative error %.3g", g.Alpha, fd, e)
				}
			})
		}
	}
}

// TestShortMemoryError measures what the truncation costs on
// D^α x = -x, x(0) = 1, against the Mittag-Leffler solution: the error
// falls as the memory grows and vanishes (to the scheme's own error) at
// full memory.
func TestShortMemoryError(t *testing.T) {
	const alpha, T, N = 0.5, 10.0, 1000
	exact := fode.MittagLeffler(alpha, 1, -math.Pow(T, alpha))
	prev := math.Inf(1)
	for _, mem := range []int{10, 100, 1000} {
		x := solveLinear(t, 1, []float64{1}, fode.Options{Method: fode.L1, Alpha: alpha, T: T, Steps: N, ShortMemory: mem})
		e := math.Abs(x[0] - exact)
		t.Logf("memory %d of %d steps: x(T) = %.6g, exact %.6g, error %.3g", mem, N, x[0], exact, e)
		if !(e < prev) {
			t.Errorf("memory %d: error %.3g, not below %.3g of the shorter memory", mem, e, prev)
		}
		prev = e
	}
	if prev > 1e-3 {
		t.Errorf("full memory: error %.3g", prev)
	}
}

// TestMultiTermOptionErrors: invalid orders, coefficients and memories
// are errors that say what is wrong, from CheckOptions and from Solve.
func TestMultiTermOptionErrors(t *testing.T) {
	base := fode.Options{Method: fode.GL, T: 1, Steps: 10}
	with := func(f func(o *fode.Options)) fode.Options { o := base; f(&o); return o }
	cases := []struct {
		opt  fode.Options
		want string
	}{
		{with(func(o *fode.Options) { o.Orders, o.Coeffs = []float64{0.5, 0.7}, []float64{1} }), "2 orders but 1 coefficients"},
		{with(func(o *fode.Options) { o.Orders = []float64{0.5, 0} }), "order 1 = 0 outside (0, 1]"},
		{with(func(o *fode.Options) { o.Orders = []float64{1.2} }), "outside (0, 1]"},
		{with(func(o *fode.Options) { o.Orders = []float64{math.NaN()} }), "order 0 = NaN"},
		{with(func(o *fode.Options) { o.Orders, o.Coeffs = []float64{0.5}, []float64{0} }), "coefficient 0 = 0 must be positive"},
		{with(func(o *fode.Options) { o.Orders, o.Coeffs = []float64{0.5}, []float64{-1} }), "must be positive"},
		{with(func(o *fode.Options) { o.Orders, o.Coeffs = []float64{0.5}, []float64{math.Inf(1)} }), "positive and finite"},
		{with(func(o *fode.Options) { o.Orders, o.Coeffs = []float64{0.5}, []float64{math.NaN()} }), "positive and finite"},
		{with(func(o *fode.Options) { o.Orders, o.Alpha = []float64{0.5}, 0.5 }), "set alpha = 0"},
		{with(func(o *fode.Options) { o.Alpha, o.Coeffs = 0.5, []float64{1} }), "coefficients given without orders"},
		{with(func(o *fode.Options) { o.Orders, o.Method = []float64{0.5}, fode.PECE }), "does not solve multi-term"},
		{with(func(o *fode.Options) { o.Orders = make([]float64, fode.MaxTerms+1) }), "MaxTerms"},
		{with(func(o *fode.Options) { o.Alpha, o.ShortMemory = 0.5, -1 }), "short memory = -1"},
	}
	lin, _ := problems.NewLinear(1)
	for _, c := range cases {
		err := fode.CheckOptions(c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
		if _, err := fode.Solve(lin, []float64{1}, []float64{1}, c.opt); err == nil {
			t.Errorf("%+v: Solve accepted it", c.opt)
		}
	}
	// The continuous adjoint does not cover them.
	sol, err := fode.Solve(lin, []float64{1}, []float64{1}, with(func(o *fode.Options) { o.Orders = []float64{0.5, 0.9} }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fode.Grad(sol, []float64{1}, fode.GradOptions{Mode: fode.Continuous}); err == nil {
		t.Error("continuous adjoint of a multi-term solve accepted")
	}
}

// TestQuadrature: the distributed-order operator with w ≡ 1 by Gauss-
// Legendre nodes, and softmax coefficients with their gradient.
func TestQuadrature(t *testing.T) {
	orders, coeffs, err := fode.Quadrature(4, func(float64) float64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	var s, m float64
	for k := range orders {
		if !(orders[k] > 0 && orders[k] < 1) {
			t.Errorf("node %v outside (0, 1)", orders[k])
		}
		s += coeffs[k]
		m += coeffs[k] * orders[k] * orders[k] * orders[k]
	}
	if math.Abs(s-1) > 1e-14 || math.Abs(m-0.25) > 1e-14 {
		t.Errorf("weights sum to %v (want 1), integrate a³ to %v (want 1/4)", s, m)
	}
	// Only the nodes where w > 0 stay.
	if o, _, err := fode.Quadrature(4, func(a float64) float64 { return max(0, a-0.5) }); err != nil || len(o) != 2 {
		t.Errorf("half-supported weight: %d nodes, %v", len(o), err)
	}
	for _, bad := range []func(float64) float64{
		func(float64) float64 { return -1 },
		func(float64) float64 { return math.NaN() },
		func(float64) float64 { return 0 },
	} {
		if _, _, err := fode.Quadrature(3, bad); err == nil {
			t.Error("invalid weight function accepted")
		}
	}
	if _, _, err := fode.Quadrature(0, func(float64) float64 { return 1 }); err == nil {
		t.Error("zero nodes accepted")
	}
	z := []float64{0.3, -1, 2}
	c := fode.Softmax(z)
	g := []float64{1, -2, 0.5}
	dz := fode.SoftmaxGrad(c, g)
	for k := range z {
		const d = 1e-6
		zp, zm := append([]float64(nil), z...), append([]float64(nil), z...)
		zp[k] += d
		zm[k] -= d
		fd := (dotv(g, fode.Softmax(zp)) - dotv(g, fode.Softmax(zm))) / (2 * d)
		if math.Abs(fd-dz[k]) > 1e-9 {
			t.Errorf("softmax gradient %d: %v, differences %v", k, dz[k], fd)
		}
	}
}

// TestMultiTermEngines: the combined multi-term kernel and the cut
// kernels of a short memory give the same states and gradients through
// the FFT engine as through the direct sums, at a length where the FFT
// engine uses its convolution levels.
func TestMultiTermEngines(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	x0 := []float64{1, -0.5, 2}
	for _, opt := range []fode.Options{
		{Method: fode.GLImplicit, Orders: []float64{0.3, 0.7, 1}, Coeffs: []float64{0.5, 1, 2}, T: 5, Steps: 1500},
		{Method: fode.L1, Orders: []float64{0.4, 0.8}, T: 5, Steps: 1500, ShortMemory: 700},
		{Method: fode.Rectangle, Alpha: 0.6, T: 5, Steps: 1500, ShortMemory: 300},
	} {
		var out [2][]float64
		for k, h := range []fode.HistoryEngine{fode.Direct, fode.FFT} {
			o := opt
			o.History = h
			sol, err := fode.Solve(lin, x0, []float64{1.1}, o)
			if err != nil {
				t.Fatal(err)
			}
			g, err := fode.Grad(sol, []float64{1, 1, 1}, fode.GradOptions{GradAlpha: true})
			if err != nil {
				t.Fatal(err)
			}
			out[k] = append(append(append(append(append([]float64(nil), sol.Final()...), g.X0...), g.Theta...), g.Orders...), g.Coeffs...)
			if opt.Orders == nil {
				out[k] = append(out[k], g.Alpha)
			}
		}
		if e := relErr(out[1], out[0]); e > 1e-12 {
			t.Errorf("%v (%d orders, memory %d): FFT against direct, relative difference %.3g", opt.Method, len(opt.Orders), opt.ShortMemory, e)
		}
	}
}

// TestMultiTermFloat32: float32 storage moves a multi-term solve and its
// gradient by float32 round-off only, the continuous adjoint of a
// single-term one as well.
func TestMultiTermFloat32(t *testing.T) {
	c := gradCases()[1]
	for _, opt := range []fode.Options{
		{Method: fode.GLImplicit, Orders: []float64{0.4, 0.9}, Coeffs: []float64{1, 0.5}, T: 1, Steps: 50, Times: c.times},
		{Method: fode.Rectangle, Alpha: 0.7, T: 1, Steps: 50, Times: []float64{0.5, 0.8, 1}},
	} {
		var got [2][]float64
		for k, f32 := range []bool{false, true} {
			o := opt
			o.StoreFloat32 = f32
			_, sol, w := loss(t, c, c.theta, c.x0, o)
			mode := fode.GradOptions{GradAlpha: true}
			if opt.Orders == nil {
				mode = fode.GradOptions{Mode: fode.Continuous}
			}
			g, err := fode.Grad(sol, w, mode)
			if err != nil {
				t.Fatal(err)
			}
			got[k] = append(append(append(append(append([]float64(nil), sol.Final()...), g.X0...), g.Theta...), g.Orders...), g.Coeffs...)
		}
		if e := relErr(got[1], got[0]); e == 0 || e > 1e-6 {
			t.Errorf("%v: float32 storage moves the solve and gradient by %.3g", opt.Method, e)
		}
	}
}
