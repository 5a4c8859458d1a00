package fode_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// TestStiffDetected: on the stiff linear problem (λ = 1e6, T = 1, 10 steps)
// the explicit schemes returned 1e50..1e186 without an error.
func TestStiffDetected(t *testing.T) {
	lin, _ := problems.NewLinear(1)
	for _, c := range []struct {
		m     fode.Method
		alpha float64
		lam   float64
		steps int
	}{
		{fode.Rectangle, 0.5, 1e6, 10}, {fode.PECE, 0.5, 1e6, 10}, {fode.GL, 0.5, 1e6, 10},
		{fode.Euler, 1, 1e6, 10}, {fode.RK4, 1, 1e6, 10},
		// Milder: λ = 100, α = 0.9 is unstable up to about 50 steps.
		{fode.Rectangle, 0.9, 100, 10}, {fode.PECE, 0.9, 100, 20}, {fode.GL, 0.9, 100, 50},
		{fode.Euler, 1, 100, 30}, {fode.RK4, 1, 100, 30},
	} {
		_, err := fode.Solve(lin, []float64{1}, []float64{c.lam}, fode.Options{Method: c.m, Alpha: c.alpha, T: 1, Steps: c.steps})
		if !errors.Is(err, fode.ErrUnstable) {
			t.Errorf("%v, λ = %g, %d steps: err = %v, want ErrUnstable", c.m, c.lam, c.steps, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "step ") || !strings.Contains(msg, "reduce the step size or use an implicit method") {
			t.Errorf("%v: message %q names no step or remedy", c.m, msg)
		}
	}
	// The solve of issue 15's non-finite gradient report was unstable.
	_, err := fode.Solve(lin, []float64{-14}, []float64{63}, fode.Options{Method: fode.PECE, Alpha: 0.13333333333333333, T: 27, Steps: 17, PECE: fode.PECESettings{Correctors: 8}})
	if !errors.Is(err, fode.ErrUnstable) {
		t.Errorf("pece, λ = 63, α = 0.1333: err = %v, want ErrUnstable", err)
	}
	// An implicit step that does not converge is reported as unstable too.
	_, err = fode.Solve(lin, []float64{1}, []float64{1e6}, fode.Options{Method: fode.Trapezoid, Alpha: 0.5, T: 1, Steps: 10, Iteration: fode.IterationSettings{MaxIter: 20}})
	if !errors.Is(err, fode.ErrUnstable) || !strings.Contains(err.Error(), "reduce the step size") {
		t.Errorf("trap, λ = 1e6: err = %v, want ErrUnstable", err)
	}
}

// TestNoFalseUnstable: the stability check must not fire on solves that
// resolve their solution, however much it grows.
func TestNoFalseUnstable(t *testing.T) {
	lin, _ := problems.NewLinear(1)
	for _, alpha := range []float64{0.4, 0.5, 0.7, 0.9, 1} {
		for m := fode.Rectangle; m <= fode.Dopri5; m++ {
			if m.Fractional() == (alpha == 1) {
				continue
			}
			// D^α x = 5x grows to 9e48 (α = 0.4) or 2e4 (α = 1) by T = 2.
			sol, err := fode.Solve(lin, []float64{1}, []float64{-5}, fode.Options{Method: m, Alpha: alpha, T: 2, Steps: 200})
			if err != nil {
				t.Errorf("growing, %v, α = %v: %v", m, alpha, err)
				continue
			}
			// The first-order schemes fall far behind the growth at
			// α = 0.4 (4e26 against 9e48); the point is that they grew.
			want := fode.MittagLeffler(alpha, 1, 5*math.Pow(2, alpha))
			if x := sol.Final()[0]; !(x > 1e4 && x < 1e23*want) {
				t.Errorf("growing, %v, α = %v: x(T) = %g, exact %g", m, alpha, x, want)
			}
		}
	}
	// The stiff problem with enough steps: λ = 100, α = 0.9 from 100
	// steps, λ = 1e3 from 2000; at α = 1 from 50 steps.
	for _, c := range []struct {
		alpha, lam float64
		steps      int
	}{{0.9, 100, 100}, {0.9, 100, 1000}, {0.9, 1e3, 2000}, {1, 100, 50}, {1, 100, 200}} {
		for _, m := range []fode.Method{fode.Rectangle, fode.PECE, fode.GL, fode.Euler, fode.RK4} {
			if m.Fractional() == (c.alpha == 1) {
				continue
			}
			sol, err := fode.Solve(lin, []float64{1}, []float64{c.lam}, fode.Options{Method: m, Alpha: c.alpha, T: 1, Steps: c.steps})
			if err != nil {
				t.Errorf("%v, λ = %g, α = %v, %d steps: %v", m, c.lam, c.alpha, c.steps, err)
				continue
			}
			if c.alpha < 1 {
				want := fode.MittagLeffler(c.alpha, 1, -c.lam)
				if e := math.Abs(sol.Final()[0] - want); e > 1e-4 {
					t.Errorf("%v, λ = %g, %d steps: x(T) = %g, exact %g", m, c.lam, c.steps, sol.Final()[0], want)
				}
			}
		}
	}
	// Diethelm-Ford-Freed, every method.
	for m := fode.Rectangle; m <= fode.Dopri5; m++ {
		alpha := 0.5
		if !m.Fractional() {
			alpha = 1
		}
		p, _ := problems.NewDFF(alpha, 2)
		if _, err := fode.Solve(p, []float64{0, 0}, nil, fode.Options{Method: m, Alpha: alpha, T: 1, Steps: 100}); err != nil {
			t.Errorf("dff, %v: %v", m, err)
		}
	}
	// A state that starts at zero and is driven by the field.
	p, _ := problems.NewSmooth(0.5, 1)
	for _, m := range []fode.Method{fode.Rectangle, fode.PECE, fode.GL} {
		if _, err := fode.Solve(p, []float64{0}, nil, fode.Options{Method: m, Alpha: 0.5, T: 10, Steps: 50}); err != nil {
			t.Errorf("smooth, %v: %v", m, err)
		}
	}
}
