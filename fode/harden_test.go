package fode_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// Regression tests of issue 15: no panic, hang or silent Inf on any input.

// TestHugeSizesRefused: Steps, Correctors and the batch had no upper bound
// (makeslice panic, out of memory, or a hang).
func TestHugeSizesRefused(t *testing.T) {
	lin, _ := problems.NewLinear(1)
	for _, c := range []struct {
		opt  fode.Options
		want string
	}{
		{fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: math.MaxInt64}, "8 EiB"},
		{fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 99999999999}, "GiB"},
		{fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 3000000000}, "GiB"},
		{fode.Options{Method: fode.FLMM, Alpha: 0.5, T: 1, Steps: 1 << 40}, "GiB"},
		{fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 1000, MaxMemory: 1000}, "MaxMemory"},
		{fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 2, PECE: fode.PECESettings{Correctors: 2000000000}}, "correctors"},
		{fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 2, PECE: fode.PECESettings{Correctors: fode.MaxCorrectors + 1}}, "correctors"},
	} {
		start := time.Now()
		_, err := fode.Solve(lin, []float64{1}, []float64{1}, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Steps %d, Correctors %d: err = %v, want one that mentions %q", c.opt.Steps, c.opt.PECE.Correctors, err, c.want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Steps %d: refusing took %v", c.opt.Steps, d)
		}
	}
	// A batch too large for the budget is refused by Memory before the
	// caller allocates it.
	opt := fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 100}
	if _, err := opt.Memory(99999999999); err == nil || !strings.Contains(err.Error(), "GiB") {
		t.Errorf("Memory(99999999999) = %v", err)
	}
	b, err := opt.Memory(10)
	if err != nil || b < 101*10*8 || b > 1<<20 {
		t.Errorf("Memory(10) = %d, %v", b, err)
	}
	if _, err := (fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 1, MaxMemory: -1}).Memory(1); err == nil {
		t.Error("negative MaxMemory accepted")
	}
	// Dopri5 checks its stored states as it goes.
	_, err = fode.Solve(lin, []float64{1}, []float64{1}, fode.Options{Method: fode.Dopri5, Alpha: 1, T: 100, Adaptive: fode.AdaptiveSettings{RTol: 1e-12, ATol: 1e-12}, MaxMemory: 4096})
	if err == nil || !strings.Contains(err.Error(), "MaxMemory") {
		t.Errorf("dopri5 over its memory budget: %v", err)
	}
}

// TestFLMMTinyAlpha: the starting-weight system grows like 1/α (α = 1e-4
// hung, 1e-6 ran out of memory, 1e-300 looped forever).
func TestFLMMTinyAlpha(t *testing.T) {
	lin, _ := problems.NewLinear(1)
	for _, a := range []float64{0.1, 1e-4, 1e-6, 1e-300, math.Nextafter(fode.FLMMMinAlpha, 0)} {
		start := time.Now()
		opt := fode.Options{Method: fode.FLMM, Alpha: a, T: 1, Steps: 10}
		_, err := fode.Solve(lin, []float64{1}, []float64{1}, opt)
		if err == nil || !strings.Contains(err.Error(), "FLMMMinAlpha") {
			t.Errorf("alpha %v: err = %v", a, err)
		}
		if fode.CheckOptions(opt) == nil {
			t.Errorf("alpha %v: CheckOptions accepts it", a)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("alpha %v: refusing took %v", a, d)
		}
	}
	// At the threshold the method works and is accurate (error 1.5e-11
	// now).
	a := fode.FLMMMinAlpha
	sol, err := fode.Solve(lin, []float64{1}, []float64{1}, fode.Options{Method: fode.FLMM, Alpha: a, T: 1, Steps: 200})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sol.Final()[0], fode.MittagLeffler(a, 1, -1); math.Abs(got-want) > 1e-10 {
		t.Errorf("flmm at alpha %v: x(1) = %v, want %v", a, got, want)
	}
}

// TestWeightsSmallM: TrapezoidWeights(a, h, 0) panicked.
func TestWeightsSmallM(t *testing.T) {
	for _, m := range []int{0, -1, math.MinInt} {
		w, s := fode.TrapezoidWeights(0.5, 0.1, m)
		if w != nil || !(s > 0) {
			t.Errorf("TrapezoidWeights(m = %d) = %v, %v", m, w, s)
		}
		if w := fode.RectangleWeights(0.5, 0.1, m); w != nil {
			t.Errorf("RectangleWeights(m = %d) = %v", m, w)
		}
	}
}

// TestMittagLefflerSmallA: E_a(-1) was NaN for a <= 1e-4; for a → 0 and
// |z| < 1, E_{a,1}(z) → 1/(1-z), with first-order term γ a z/(1-z)²
// (from 1/Γ(1+x) = 1 + γ x + O(x²)).
func TestMittagLefflerSmallA(t *testing.T) {
	const euler = 0.5772156649015329
	for _, a := range []float64{1e-4, 1e-6, 1e-8, 1e-300} {
		for _, z := range []float64{-1, -0.9999, -0.9, -0.5, -1e-3} {
			got := fode.MittagLeffler(a, 1, z)
			want := 1/(1-z) + euler*a*z/((1-z)*(1-z))
			if math.Abs(got-want) > 4*a*a+1e-15 {
				t.Errorf("E_%g(%g) = %.17g, want %.17g", a, z, got, want)
			}
		}
		// b ≠ 1: the limit is 1/((1-z) Γ(b)); the distance to it is
		// 0.132 a now.
		if got, want := fode.MittagLeffler(a, 2.5, -1), 0.5/math.Gamma(2.5); math.Abs(got-want) > 0.5*a+1e-15 {
			t.Errorf("E_{%g,2.5}(-1) = %v, want about %v", a, got, want)
		}
	}
}

// TestNonFiniteStates: the FLMM starting block overflowed to +Inf and
// Solve returned it without an error.
func TestNonFiniteStates(t *testing.T) {
	dff, _ := problems.NewDFF(0.9, 1)
	_, err := fode.Solve(dff, []float64{1}, nil, fode.Options{Method: fode.FLMM, Alpha: 0.9, T: 174, Steps: 2})
	if !errors.Is(err, fode.ErrNotFinite) {
		t.Fatalf("err = %v, want ErrNotFinite", err)
	}
	if !strings.Contains(err.Error(), "step") {
		t.Errorf("error %q does not name the step", err)
	}
	// Every method on the same blow-up.
	for m := fode.Rectangle; m <= fode.Dopri5; m++ {
		alpha := 0.9
		if !m.Fractional() {
			alpha = 1
		}
		p, _ := problems.NewDFF(alpha, 1)
		sol, err := fode.Solve(p, []float64{1}, nil, fode.Options{Method: m, Alpha: alpha, T: 174, Steps: 3, Iteration: fode.IterationSettings{MaxIter: 50}})
		if err == nil {
			for _, v := range sol.Final() {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%v: x(T) = %v without an error", m, v)
				}
			}
		}
	}
}

// TestNonFiniteGradient: PECE's adjoint returned dL/dλ = -Inf and
// dL/dα = NaN without an error. The solve of the original report
// (λ = 63, x0 = -14, α = 0.1333, T = 27, 17 steps) is unstable and now
// fails with ErrUnstable (TestStiffDetected); this one is a finite,
// stable solve near the largest float64 whose gradient overflows.
func TestNonFiniteGradient(t *testing.T) {
	lin, _ := problems.NewLinear(1)
	opt := fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 20, PECE: fode.PECESettings{Correctors: 8}}
	sol, err := fode.Solve(lin, []float64{3e307}, []float64{-1}, opt)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fode.Grad(sol, []float64{1}, fode.GradOptions{Mode: fode.Adjoint, GradAlpha: true})
	if !errors.Is(err, fode.ErrNotFinite) || !strings.Contains(err.Error(), "gradient") {
		t.Fatalf("err = %v, want ErrNotFinite with context", err)
	}
}

// FuzzOptions runs random options on a small linear problem: Solve (and
// Grad) must return an error or finite values, quickly.
func FuzzOptions(f *testing.F) {
	f.Add(uint8(1), 0.5, 1.0, 16, 0, 0.0, 0, 0.0, 1.0, 1.0, uint8(0), 0.0, 0.0, 0, false, 0.0, 0.0)
	f.Add(uint8(6), 0.9, 174.0, 2, 0, 0.0, 0, 0.5, 63.0, -14.0, uint8(0), 0.0, 0.0, 3, false, 0.0, 0.0)
	f.Add(uint8(1), 0.13333333333333333, 27.0, 17, 8, 0.0, 0, 0.0, 63.0, -14.0, uint8(0), 0.0, 0.0, 0, false, 0.0, 0.0)
	f.Add(uint8(9), 1.0, 3.0, 0, 0, 1e-9, 10, 1.5, 2.0, 1.0, uint8(0), 0.0, 0.0, 0, false, 0.0, 0.0)
	f.Add(uint8(6), 1e-300, 1.0, 10, 0, 0.0, 0, 0.0, 1.0, 1.0, uint8(0), 0.0, 0.0, 0, false, 0.0, 0.0)
	f.Add(uint8(3), 0.0, 2.0, 20, 0, 0.0, 0, 0.0, 1.0, 1.0, uint8(2), 0.4, 1.5, 5, false, 0.0, 0.0)
	f.Add(uint8(5), 0.0, 1.0, 12, 0, 0.0, 0, 0.3, 2.0, 1.0, uint8(3), 1.0, -1.0, -2, false, 0.0, 0.0)
	f.Add(uint8(4), 0.7, 1.0, 12, 0, 0.0, 0, 0.0, 2.0, 1.0, uint8(1), 0.0, 0.0, 40, false, 0.0, 0.0)
	f.Add(uint8(7), 0.4, 3.0, 30, 0, 0.0, 0, 1.0, 1.5, 2.0, uint8(0), 0.0, 0.0, 9, true, 0.0, 0.0)
	f.Add(uint8(10), 1.0, 2.0, 0, 0, 0.0, 0, 0.5, 3.0, 1.0, uint8(0), 0.0, 0.0, 0, false, 1e-4, 1e-7)
	f.Add(uint8(10), 1.0, 2.0, 4, 0, 0.0, 0, 0.0, 3.0, 1.0, uint8(0), 0.0, 0.0, 0, false, 1e-4, 0.0)
	// terms: 0 single-term; 1 Coeffs alone; 2 two terms (orders alpha and
	// order2, coefficients 1 and coeff2); 3 coefficients of another length.
	f.Fuzz(func(t *testing.T, method uint8, alpha, T float64, steps, corr int, tol float64, maxIter int, tmid, lambda, x0 float64, terms uint8, order2, coeff2 float64, memory int, store32 bool, rtol, atol float64) {
		lin, _ := problems.NewLinear(2)
		opt := fode.Options{
			Method: fode.Method(int(method)%12 - 1), Alpha: alpha, T: T,
			Steps: steps, PECE: fode.PECESettings{Correctors: corr}, Iteration: fode.IterationSettings{Tol: tol, MaxIter: maxIter},
			Adaptive: fode.AdaptiveSettings{RTol: rtol, ATol: atol, MaxSteps: 2000}, MaxMemory: 1 << 24, ShortMemory: memory,
			StoreFloat32: store32,
		}
		switch terms % 4 {
		case 1:
			opt.Coeffs = []float64{coeff2}
		case 2:
			opt.Alpha, opt.Orders, opt.Coeffs = 0, []float64{alpha, order2}, []float64{1, coeff2}
		case 3:
			opt.Alpha, opt.Orders, opt.Coeffs = 0, []float64{alpha, order2}, []float64{coeff2}
		}
		if tmid != 0 {
			opt.Times = []float64{tmid, T}
		}
		// Keep the work bounded: the option ranges themselves are what
		// the checks must handle, not long solves.
		if steps > 400 || corr > 8 || maxIter > 100 {
			if err := fode.CheckOptions(opt); err == nil && steps > 1<<20 {
				// Must be caught by the memory check at least.
				if _, err := opt.Memory(2); err == nil {
					t.Fatalf("steps %d accepted within 16 MiB", steps)
				}
				if _, err := opt.Grid(); err == nil {
					t.Fatalf("a grid of %d steps accepted within 16 MiB", steps)
				}
			}
			return
		}
		if g, err := opt.Grid(); err == nil && (len(g) < 2 || g[0] != 0 || g[len(g)-1] != opt.T) {
			t.Fatalf("%+v: grid %v does not run from 0 to T", opt, g)
		}
		valid := fode.CheckOptions(opt) == nil
		if valid && (memory < 0 || terms%4 == 1 || terms%4 == 3) {
			t.Fatalf("%+v: invalid memory, orders or coefficients accepted", opt)
		}
		if valid && (rtol < 0 || atol < 0 || (rtol == 0) != (atol == 0)) {
			t.Fatalf("%+v: invalid tolerances accepted", opt)
		}
		sol, err := fode.Solve(lin, []float64{x0, -x0}, []float64{lambda}, opt)
		if err != nil {
			return
		}
		for i := range sol.Times {
			for _, v := range sol.At(i) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%+v: non-finite state %v without an error", opt, v)
				}
			}
		}
		ybar := make([]float64, len(sol.Times)*2)
		for i := range ybar {
			ybar[i] = 1
		}
		g, err := fode.Grad(sol, ybar, fode.GradOptions{GradAlpha: sol.Method.Fractional()})
		if err != nil {
			return
		}
		if len(g.Orders) != len(opt.Orders) || len(g.Coeffs) != len(opt.Orders) {
			t.Fatalf("%+v: %d order and %d coefficient derivatives", opt, len(g.Orders), len(g.Coeffs))
		}
		for _, v := range append(append(append(append([]float64{}, g.X0...), g.Theta...), g.Orders...), g.Coeffs...) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%+v: non-finite gradient %v without an error", opt, v)
			}
		}
	})
}
