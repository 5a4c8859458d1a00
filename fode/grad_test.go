package fode_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// gradCase is a field with its inputs and a trajectory loss
// L = Σ_i w_i · x(t_i).
type gradCase struct {
	name  string
	f     fode.Field
	theta []float64
	x0    []float64
	times []float64
}

func gradCases() []gradCase {
	lin, _ := problems.NewLinear(3)
	net := mlp{d: 4, k: 8}
	return []gradCase{
		{"linear", lin, []float64{1.3}, []float64{1, -0.5, 2}, []float64{0.37, 0.6, 1}},
		{"mlp", net, randomVec(7, net.NumParams(), 0.4), randomVec(8, 2*4, 1), []float64{0.5, 0.81, 1}},
	}
}

// loss solves and returns Σ_i w_i · x(t_i) and the weights.
func loss(t *testing.T, c gradCase, theta, x0 []float64, opt fode.Options) (float64, *fode.Solution, []float64) {
	t.Helper()
	sol, err := fode.Solve(c.f, x0, theta, opt)
	if err != nil {
		t.Fatal(err)
	}
	w := randomVec(99, len(c.times)*len(x0), 1)
	var L float64
	for i := range c.times {
		L += dotv(w[i*len(x0):(i+1)*len(x0)], sol.At(i))
	}
	return L, sol, w
}

func dotv(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// fdGrad returns central differences of the loss in x0 and θ.
func fdGrad(t *testing.T, c gradCase, opt fode.Options) []float64 {
	var g []float64
	for _, which := range []int{0, 1} {
		v := c.x0
		if which == 1 {
			v = c.theta
		}
		for i := range v {
			old := v[i]
			eps := 1e-6 * math.Max(1, math.Abs(old))
			v[i] = old + eps
			lp, _, _ := loss(t, c, c.theta, c.x0, opt)
			v[i] = old - eps
			lm, _, _ := loss(t, c, c.theta, c.x0, opt)
			v[i] = old
			g = append(g, (lp-lm)/(2*eps))
		}
	}
	return g
}

func relErr(got, want []float64) float64 {
	var d, w float64
	for i := range got {
		d += (got[i] - want[i]) * (got[i] - want[i])
		w += want[i] * want[i]
	}
	return math.Sqrt(d / w)
}

func methodsFor(alpha float64) []fode.Method {
	ms := []fode.Method{fode.Rectangle, fode.PECE, fode.GL, fode.GLImplicit, fode.L1, fode.Trapezoid, fode.FLMM}
	if alpha == 1 {
		ms = append(ms, fode.Euler, fode.RK4)
	}
	return ms
}

// TestAdjointMatchesFiniteDifferences checks the discrete adjoint of every
// scheme against central differences of the discrete solution and against
// forward-mode sensitivities of the same solution.
func TestAdjointMatchesFiniteDifferences(t *testing.T) {
	for _, c := range gradCases() {
		for _, alpha := range []float64{0.3, 0.5, 0.9, 1} {
			for _, m := range methodsFor(alpha) {
				for _, corr := range []int{0, 2} {
					if corr > 0 && m != fode.PECE {
						continue
					}
					name := fmt.Sprintf("%s/alpha=%v/%v", c.name, alpha, m)
					if corr > 0 {
						name += fmt.Sprintf("/correctors=%d", corr)
					}
					t.Run(name, func(t *testing.T) {
						opt := fode.Options{Method: m, Alpha: alpha, T: 1, Steps: 24, Times: c.times, PECE: fode.PECESettings{Correctors: corr}, Iteration: fode.IterationSettings{Tol: 1e-15}}
						_, sol, w := loss(t, c, c.theta, c.x0, opt)
						g, err := fode.Grad(sol, w, fode.GradOptions{})
						if err != nil {
							t.Fatal(err)
						}
						got := append(append([]float64(nil), g.X0...), g.Theta...)
						// Up to 1.3e-9 now: the truncation and rounding
						// error of the central differences.
						e := relErr(got, fdGrad(t, c, opt))
						t.Logf("adjoint vs finite differences: relative error %.3g", e)
						if e > 1e-8 {
							t.Errorf("adjoint vs finite differences: relative error %.3g", e)
						}
						if _, ok := c.f.(fode.JVPField); !ok {
							return
						}
						fw, err := fode.Grad(sol, w, fode.GradOptions{Mode: fode.Forward})
						if err != nil {
							t.Fatal(err)
						}
						want := append(append([]float64(nil), fw.X0...), fw.Theta...)
						// Up to 6.8e-16 now: both are exact.
						e = relErr(got, want)
						t.Logf("adjoint vs forward mode: relative error %.3g", e)
						if e > 5e-15 {
							t.Errorf("adjoint vs forward mode: relative error %.3g", e)
						}
					})
				}
			}
		}
	}
}

// TestACA checks the adaptive checkpoint adjoint of Dopri5: exact against
// forward-mode sensitivities of the same accepted steps, and close to
// finite differences of the adaptive solver at a tight tolerance.
func TestACA(t *testing.T) {
	for _, c := range gradCases() {
		opt := fode.Options{Method: fode.Dopri5, Alpha: 1, T: 1, Adaptive: fode.AdaptiveSettings{RTol: 1e-10, ATol: 1e-10}, Times: c.times}
		_, sol, w := loss(t, c, c.theta, c.x0, opt)
		g, err := fode.Grad(sol, w, fode.GradOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := append(append([]float64(nil), g.X0...), g.Theta...)
		fw, err := fode.Grad(sol, w, fode.GradOptions{Mode: fode.Forward})
		if err != nil {
			t.Fatal(err)
		}
		// Now: 7.5e-16 against forward mode, 1.0e-9 against finite
		// differences.
		efw := relErr(got, append(fw.X0, fw.Theta...))
		efd := relErr(got, fdGrad(t, c, opt))
		t.Logf("%s: %d accepted steps; relative error %.3g against forward mode, %.3g against finite differences", c.name, sol.Steps, efw, efd)
		if efw > 5e-15 {
			t.Errorf("%s: ACA vs forward mode over the same steps: relative error %.3g", c.name, efw)
		}
		if efd > 1e-8 {
			t.Errorf("%s: ACA vs finite differences of the adaptive solver: relative error %.3g", c.name, efd)
		}
	}
}

// TestAlphaGradient checks dL/dα against finite differences in α.
func TestAlphaGradient(t *testing.T) {
	for _, c := range gradCases() {
		for _, alpha := range []float64{0.3, 0.5, 0.9, 1} {
			for _, m := range methodsFor(alpha)[:7] {
				t.Run(fmt.Sprintf("%s/alpha=%v/%v", c.name, alpha, m), func(t *testing.T) {
					opt := fode.Options{Method: m, Alpha: alpha, T: 1, Steps: 24, Times: c.times, PECE: fode.PECESettings{Correctors: 1}, Iteration: fode.IterationSettings{Tol: 1e-15}}
					_, sol, w := loss(t, c, c.theta, c.x0, opt)
					g, err := fode.Grad(sol, w, fode.GradOptions{GradAlpha: true})
					if err != nil {
						t.Fatal(err)
					}
					at := func(al float64) float64 {
						o := opt
						o.Alpha = al
						L, _, _ := loss(t, c, c.theta, c.x0, o)
						return L
					}
					const d = 1e-5
					var fd float64
					if alpha+d <= 1 {
						fd = (at(alpha+d) - at(alpha-d)) / (2 * d)
					} else { // second-order one-sided difference at α = 1
						fd = (3*at(alpha) - 4*at(alpha-d) + at(alpha-2*d)) / (2 * d)
					}
					// Up to 4.4e-7 now, the error of the differences.
					e := math.Abs(g.Alpha-fd) / math.Max(math.Abs(fd), 1e-3)
					t.Logf("dL/dalpha vs finite differences: relative error %.3g", e)
					if e > 1e-6 {
						t.Errorf("dL/dalpha %.10g, finite differences %.10g: relative error %.3g", g.Alpha, fd, e)
					}
				})
			}
		}
	}
}

// The closed form of dL/dλ for D^½ x = -λ x, x(0) = 1, L = x(1), at λ = 1:
// x(1) = E_½(-λ), dE_½(z)/dz = 2/√π·... = d/dz[exp(z²) erfc(-z)], so
// dL/dλ = -(2z exp(z²) erfc(-z) + 2/√π) at z = -1.
var dLdLambda = -(2*-1*math.Exp(1)*math.Erfc(1) + 2/math.Sqrt(math.Pi))

func TestLambdaGradientConverges(t *testing.T) {
	if math.Abs(dLdLambda+0.2732120) > 1e-7 {
		t.Fatalf("closed form %.9f, want -0.2732120", dLdLambda)
	}
	lin, _ := problems.NewLinear(1)
	grad := func(m fode.Method, mode fode.GradMode, N int) float64 {
		sol, err := fode.Solve(lin, []float64{1}, []float64{1}, fode.Options{Method: m, Alpha: 0.5, T: 1, Steps: N})
		if err != nil {
			t.Fatal(err)
		}
		g, err := fode.Grad(sol, []float64{1}, fode.GradOptions{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return g.Theta[0]
	}
	// The discrete adjoint converges with the scheme's order; each bound
	// is about 4 times the error now.
	for _, c := range []struct {
		m     fode.Method
		bound float64 // error now
	}{
		{fode.Rectangle, 2e-4}, // 5.6e-5
		{fode.PECE, 1.5e-5},    // 3.7e-6
		{fode.Trapezoid, 7e-6}, // 1.8e-6
	} {
		e := math.Abs(grad(c.m, fode.Adjoint, 640) - dLdLambda)
		t.Logf("%v: discrete adjoint at h=1/640: error %.3g", c.m, e)
		if e > c.bound {
			t.Errorf("%v: discrete adjoint at h=1/640 off by %.3g, above %.3g", c.m, e, c.bound)
		}
	}
	// The continuous adjoint is first order: its error halves with h
	// (ratios 1.95 to 1.99 now, 6.4e-5 at N = 640).
	prev := math.Inf(1)
	for _, N := range []int{40, 80, 160, 320, 640} {
		e := math.Abs(grad(fode.Rectangle, fode.Continuous, N) - dLdLambda)
		t.Logf("continuous adjoint, N=%d: error %.3g", N, e)
		if !math.IsInf(prev, 1) && (e > prev/1.9 || e < prev/2.1) {
			t.Errorf("N=%d: continuous adjoint error %.3g did not shrink linearly (was %.3g)", N, e, prev)
		}
		prev = e
	}
	if prev > 2.5e-4 {
		t.Errorf("continuous adjoint at h=1/640 off by %.3g", prev)
	}
}

// TestContinuousAdjointTrajectory checks the continuous adjoint with
// several observation times against the discrete adjoint on a fine grid.
func TestContinuousAdjointTrajectory(t *testing.T) {
	c := gradCases()[1]
	c.times = []float64{0.25, 0.5, 1}
	opt := fode.Options{Method: fode.PECE, Alpha: 0.6, T: 1, Steps: 400, Times: c.times}
	_, sol, w := loss(t, c, c.theta, c.x0, opt)
	disc, err := fode.Grad(sol, w, fode.GradOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cont, err := fode.Grad(sol, w, fode.GradOptions{Mode: fode.Continuous})
	if err != nil {
		t.Fatal(err)
	}
	got := append(cont.X0, cont.Theta...)
	want := append(disc.X0, disc.Theta...)
	// The first-order continuous adjoint differs by 7.2e-4 now.
	e := relErr(got, want)
	t.Logf("continuous vs discrete adjoint at h=1/400: relative difference %.3g", e)
	if e > 3e-3 {
		t.Errorf("continuous vs discrete adjoint at h=1/400: relative difference %.3g", e)
	}
}

func TestGradErrors(t *testing.T) {
	lin, _ := problems.NewLinear(2)
	opt := fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 10, Times: []float64{0.55, 1}}
	sol, err := fode.Solve(lin, []float64{1, 2}, []float64{1}, opt)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := fode.Solve(lin, []float64{1, 2}, []float64{1}, fode.Options{Method: fode.RK4, Alpha: 1, T: 1, Steps: 10})
	if err != nil {
		t.Fatal(err)
	}
	nf := nanField{after: 10} // a field without JVP
	nfSol, err := fode.Solve(nf, []float64{1}, nil, fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 5})
	if err != nil {
		t.Fatal(err)
	}
	good := []float64{1, 1, 1, 1}
	cases := []struct {
		name string
		sol  *fode.Solution
		ybar []float64
		opt  fode.GradOptions
		want string
	}{
		{"short cotangent", sol, []float64{1, 1}, fode.GradOptions{}, "cotangent of length 2, want 4"},
		{"NaN cotangent", sol, []float64{1, math.NaN(), 1, 1}, fode.GradOptions{}, "cotangent component 1"},
		{"Inf cotangent", sol, []float64{1, 1, 1, math.Inf(1)}, fode.GradOptions{}, "output time 1"},
		{"nil solution", nil, good, fode.GradOptions{}, "nil"},
		{"alpha of classical method", rk, []float64{1, 1}, fode.GradOptions{GradAlpha: true}, "fractional method"},
		{"alpha in continuous mode", sol, good, fode.GradOptions{GradAlpha: true, Mode: fode.Continuous}, "adjoint mode"},
		{"continuous off grid", sol, good, fode.GradOptions{Mode: fode.Continuous}, "grid points"},
		{"unknown mode", sol, good, fode.GradOptions{Mode: fode.GradMode(7)}, "unknown gradient mode"},
		{"forward without JVP", nfSol, []float64{1}, fode.GradOptions{Mode: fode.Forward}, "JVP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := fode.Grad(c.sol, c.ybar, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want mention of %q", err, c.want)
			}
		})
	}
}
