package fode_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// TestClassicalOrders checks that at α = 1 every method shows its
// classical order on x' = -x, x(0) = 1, to ±0.03 (the observed orders lie
// within 0.016 of the integers).
func TestClassicalOrders(t *testing.T) {
	lin, _ := problems.NewLinear(1)
	cases := []struct {
		m    fode.Method
		want float64
		ns   []int
	}{
		{fode.Rectangle, 1, []int{80, 160, 320, 640}},
		{fode.Euler, 1, []int{80, 160, 320, 640}},
		{fode.GL, 1, []int{80, 160, 320, 640}},
		{fode.GLImplicit, 1, []int{80, 160, 320, 640}},
		{fode.L1, 1, []int{80, 160, 320, 640}},
		{fode.PECE, 2, []int{80, 160, 320, 640}},
		{fode.Trapezoid, 2, []int{80, 160, 320, 640}},
		{fode.FLMM, 2, []int{80, 160, 320, 640}},
		{fode.RK4, 4, []int{10, 20, 40, 80}},
	}
	for _, c := range cases {
		t.Run(c.m.String(), func(t *testing.T) {
			var errs []float64
			for _, N := range c.ns {
				sol, err := fode.Solve(lin, []float64{1}, []float64{1}, fode.Options{Method: c.m, Alpha: 1, T: 1, Steps: N})
				if err != nil {
					t.Fatal(err)
				}
				errs = append(errs, math.Abs(sol.Final()[0]-math.Exp(-1)))
			}
			got := math.Log2(errs[len(errs)-2] / errs[len(errs)-1])
			t.Logf("order %.4f (errors %.3g)", got, errs)
			if math.Abs(got-c.want) > 0.03 {
				t.Errorf("order %.3f, want %v (errors %.3g)", got, c.want, errs)
			}
		})
	}
}

// TestPECEAccuracy checks PECE's error on the linear problem at h = 1/640
// against an independent implementation's (1.69e-6 at α = 0.5, 2.55e-7 at
// α = 0.9).
func TestPECEAccuracy(t *testing.T) {
	for _, c := range []struct{ alpha, bound float64 }{{0.5, 2e-6}, {0.9, 3e-7}} {
		if e := errorAtT(t, "linear", fode.PECE, c.alpha, 640); e > c.bound {
			t.Errorf("alpha %v: error %.3g above %.3g", c.alpha, e, c.bound)
		}
	}
}

// TestPECECorrectors checks that extra corrector iterations converge to
// the implicit product trapezoid solution.
func TestPECECorrectors(t *testing.T) {
	lin, _ := problems.NewLinear(1)
	opt := fode.Options{Method: fode.Trapezoid, Alpha: 0.6, T: 1, Steps: 50}
	trap, err := fode.Solve(lin, []float64{1}, []float64{1}, opt)
	if err != nil {
		t.Fatal(err)
	}
	prev := math.Inf(1)
	for _, mu := range []int{0, 2, 6} {
		opt.Method, opt.PECE.Correctors = fode.PECE, mu
		sol, err := fode.Solve(lin, []float64{1}, []float64{1}, opt)
		if err != nil {
			t.Fatal(err)
		}
		d := math.Abs(sol.Final()[0] - trap.Final()[0])
		if d >= prev {
			t.Errorf("correctors %d: distance to trapezoid %.3g did not shrink (was %.3g)", mu, d, prev)
		}
		prev = d
	}
	t.Logf("PE(CE)^7 differs from the trapezoid solution by %.3g", prev) // 1.3e-11
	if prev > 1e-10 {
		t.Errorf("PE(CE)^7 differs from the trapezoid solution by %.3g", prev)
	}
}

// TestNonlinearDFF checks the schemes on the nonlinear Diethelm-Ford-Freed
// benchmark, whose solution is known, at α = 1/2 and h = 1/400. Each bound
// is about 3-4 times the error the scheme has now.
func TestNonlinearDFF(t *testing.T) {
	for _, c := range []struct {
		m     fode.Method
		bound float64 // error now
	}{
		{fode.Rectangle, 1e-2}, // 3.0e-3
		{fode.PECE, 1e-4},      // 2.5e-5
		{fode.Trapezoid, 3e-5}, // 7.7e-6
		{fode.L1, 1e-3},        // 2.8e-4
		{fode.GL, 1.5e-2},      // 4.4e-3
		{fode.FLMM, 1.5e-5},    // 4.0e-6
	} {
		p, _ := problems.NewDFF(0.5, 1)
		sol, err := fode.Solve(p, []float64{0}, nil, fode.Options{Method: c.m, Alpha: 0.5, T: 1, Steps: 400})
		if err != nil {
			t.Fatalf("%v: %v", c.m, err)
		}
		e := math.Abs(sol.Final()[0] - p.Exact(1))
		t.Logf("%v: error %.3g at T (bound %.3g)", c.m, e, c.bound)
		if e > c.bound {
			t.Errorf("%v: error %.3g at T, above %.3g", c.m, e, c.bound)
		}
	}
}

// TestTrajectory checks output at several times, on and between grid
// points, against the exact solution.
func TestTrajectory(t *testing.T) {
	sm, _ := problems.NewSmooth(0.7, 2)
	times := []float64{0.1, 0.25, 0.333, 0.8, 1}
	sol, err := fode.Solve(sm, []float64{0, 0, 0, 0}, nil, fode.Options{Method: fode.PECE, Alpha: 0.7, T: 1, Steps: 400, Times: times})
	if err != nil {
		t.Fatal(err)
	}
	// The error grows from 3.0e-6 at t = 0.1 to 1.5e-5 at t = 1; linear
	// interpolation of t² between grid points adds at most h²/8 = 7.8e-7.
	for i, tau := range times {
		e := 0.0
		for k, v := range sol.At(i) {
			e = math.Max(e, math.Abs(v-sm.Exact(tau)))
			if math.Abs(v-sm.Exact(tau)) > 3e-5 {
				t.Errorf("t=%v component %d: %v, want %v", tau, k, v, sm.Exact(tau))
			}
		}
		t.Logf("t=%v: error %.3g", tau, e)
	}
	if got := len(sol.Grid()); got != 401 {
		t.Errorf("grid has %d points, want 401", got)
	}
}

// TestDopri5 checks that the adaptive method meets its tolerance and lands
// on every output time. The global error is at most 0.45 times the
// tolerance (times max(1, |x|)) now; the test allows twice the tolerance.
func TestDopri5(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	x0 := []float64{1, 2, 3}
	times := []float64{0.3, 1.7, 2.5, 4}
	for _, tol := range []float64{1e-4, 1e-7, 1e-10} {
		sol, err := fode.Solve(lin, x0, []float64{1}, fode.Options{Method: fode.Dopri5, Alpha: 1, T: 4, Adaptive: fode.AdaptiveSettings{RTol: tol, ATol: tol}, Times: times})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, 3)
		worst := 0.0
		for i, tau := range times {
			lin.Exact(want, 1, 1, tau, x0)
			for k, v := range sol.At(i) {
				e := math.Abs(v-want[k]) / (tol * math.Max(1, math.Abs(want[k])))
				worst = math.Max(worst, e)
				if e > 2 {
					t.Errorf("tol %g, t=%v: error %.3g times the tolerance", tol, tau, e)
				}
			}
		}
		grid := sol.Grid()
		for _, tau := range times {
			found := false
			for _, g := range grid {
				found = found || g == tau
			}
			if !found {
				t.Errorf("tol %g: output time %v is not a grid point", tol, tau)
			}
		}
		t.Logf("tol %g: %d steps, %d rejected, %d evaluations; worst error %.3g times the tolerance", tol, sol.Steps, sol.Rejected, sol.Evals, worst)
	}
}

// nanField returns NaN once t passes a threshold.
type nanField struct{ after float64 }

func (nanField) Dim() int       { return 1 }
func (nanField) NumParams() int { return 0 }
func (f nanField) Eval(dst []float64, t float64, x, _ []float64) error {
	for i, v := range x {
		dst[i] = -v
		if t > f.after {
			dst[i] = math.NaN()
		}
	}
	return nil
}
func (nanField) VJP(xbar, _ []float64, _ float64, _, _, v []float64) error {
	for i := range v {
		xbar[i] = -v[i]
	}
	return nil
}

func TestSolveErrors(t *testing.T) {
	lin, _ := problems.NewLinear(2)
	good := fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 10}
	x0 := []float64{1, 1}
	theta := []float64{1}
	mod := func(f func(o *fode.Options)) fode.Options { o := good; f(&o); return o }
	cases := []struct {
		name  string
		f     fode.Field
		theta []float64
		x0    []float64
		opt   fode.Options
		want  string
	}{
		{"alpha zero", lin, theta, x0, mod(func(o *fode.Options) { o.Alpha = 0 }), "alpha"},
		{"alpha above one", lin, theta, x0, mod(func(o *fode.Options) { o.Alpha = 1.5 }), "alpha"},
		{"alpha NaN", lin, theta, x0, mod(func(o *fode.Options) { o.Alpha = math.NaN() }), "alpha"},
		{"T zero", lin, theta, x0, mod(func(o *fode.Options) { o.T = 0 }), "final time"},
		{"T negative", lin, theta, x0, mod(func(o *fode.Options) { o.T = -1 }), "final time"},
		{"T Inf", lin, theta, x0, mod(func(o *fode.Options) { o.T = math.Inf(1) }), "final time"},
		{"steps zero", lin, theta, x0, mod(func(o *fode.Options) { o.Steps = 0 }), "steps"},
		{"steps negative", lin, theta, x0, mod(func(o *fode.Options) { o.Steps = -3 }), "steps"},
		{"step size negative", lin, theta, x0, mod(func(o *fode.Options) { o.Steps, o.StepSize = 0, -0.1 }), "step size"},
		{"unknown method", lin, theta, x0, mod(func(o *fode.Options) { o.Method = 99 }), "method"},
		{"classical method fractional", lin, theta, x0, mod(func(o *fode.Options) { o.Method = fode.RK4 }), "alpha = 1"},
		{"rtol zero", lin, theta, x0, fode.Options{Method: fode.Dopri5, Alpha: 1, T: 1, Adaptive: fode.AdaptiveSettings{RTol: 0, ATol: 1e-6}}, "rtol"},
		{"atol negative", lin, theta, x0, fode.Options{Method: fode.Dopri5, Alpha: 1, T: 1, Adaptive: fode.AdaptiveSettings{RTol: 1e-6, ATol: -1}}, "atol"},
		{"state size", lin, theta, []float64{1, 2, 3}, good, "dimension 2"},
		{"empty state", lin, theta, nil, good, "dimension 2"},
		{"param count", lin, []float64{1, 2}, x0, good, "parameters"},
		{"NaN in x0", lin, theta, []float64{1, math.NaN()}, good, "initial state component 1"},
		{"Inf in x0", lin, theta, []float64{math.Inf(-1), 1}, good, "initial state component 0"},
		{"NaN in theta", lin, []float64{math.NaN()}, x0, good, "parameter 0"},
		{"times decreasing", lin, theta, x0, mod(func(o *fode.Options) { o.Times = []float64{0.5, 0.2} }), "output time"},
		{"times beyond T", lin, theta, x0, mod(func(o *fode.Options) { o.Times = []float64{2} }), "output time"},
		{"negative correctors", lin, theta, x0, mod(func(o *fode.Options) { o.PECE.Correctors = -1 }), "correctors"},
		{"nil field", nil, theta, x0, good, "nil field"},
		{"NaN during solve", nanField{after: 0.5}, nil, []float64{1}, good, "step 6"},
		{"overflow during solve", lin, []float64{-2000}, x0, mod(func(o *fode.Options) { o.Method = fode.Rectangle; o.Steps = 400 }), "step"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sol, err := fode.Solve(c.f, c.x0, c.theta, c.opt)
			if err == nil {
				t.Fatalf("no error; solution %v", sol.Final())
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
	_, err := fode.Solve(nanField{after: 0.5}, []float64{1}, nil, good)
	if !errors.Is(err, fode.ErrNotFinite) {
		t.Errorf("NaN during solve: %v does not wrap ErrNotFinite", err)
	}
	if _, err := fode.ParseMethod("rk45"); err == nil {
		t.Error("ParseMethod accepted an unknown name")
	}
}

func TestParseMethodRoundTrip(t *testing.T) {
	for m := fode.Rectangle; m <= fode.Dopri5; m++ {
		got, err := fode.ParseMethod(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %v, %v", m.String(), got, err)
		}
	}
}

// TestGridMatchesSolve checks Options.Grid against the grid Solve steps
// on: the step count of a step size (rounded up, with slack for T/StepSize
// a whole number up to rounding), the final time T exactly, and Locate
// against the outputs Solve interpolates.
func TestGridMatchesSolve(t *testing.T) {
	lin, _ := problems.NewLinear(1)
	for _, c := range []struct {
		T, h  float64
		steps int
	}{{1, 0.3, 4}, {1, 0.25, 4}, {1, 0.1, 10}, {0.3, 0.1, 3}, {1, 2, 1}} {
		o := fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: c.T, StepSize: c.h, Times: []float64{c.T / 3, c.T}}
		g, err := o.Grid()
		if err != nil {
			t.Fatal(err)
		}
		if len(g) != c.steps+1 || g[c.steps] != c.T {
			t.Errorf("T = %v, h = %v: grid %v; want %d steps ending at T", c.T, c.h, g, c.steps)
		}
		sol, err := fode.Solve(lin, []float64{1}, []float64{1}, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sol.Grid(), g) {
			t.Errorf("T = %v, h = %v: Solve's grid %v, Grid %v", c.T, c.h, sol.Grid(), g)
		}
		for i, tau := range o.Times {
			j, w := fode.Locate(g, tau)
			y := sol.State(j)[0]
			if w != 0 {
				y += w * (sol.State(j + 1)[0] - y)
			}
			if got := sol.At(i)[0]; math.Abs(got-y) > 1e-15 {
				t.Errorf("T = %v, h = %v: output at %v = %v, Locate gives %v", c.T, c.h, tau, got, y)
			}
		}
	}
	if _, err := (fode.Options{Method: fode.Dopri5, T: 1, Alpha: 1}).Grid(); err == nil {
		t.Error("Grid of a dopri5 solve: no error")
	}
	if _, err := (fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: -1, Steps: 3}).Grid(); err == nil {
		t.Error("Grid with T = -1: no error")
	}
}
