package fode

import (
	"fmt"
	"math"
)

// Classical methods for α = 1 (x' = f). They keep only the grid states;
// the gradient rebuilds each step's stages when it walks the steps back.

func (s *solver) euler() error {
	fy := s.tmp
	for m := 1; m <= s.steps; m++ {
		prev := s.row(s.sol.y, m-1)
		if err := s.eval(fy, s.sol.grid[m-1], prev, m-1); err != nil {
			return err
		}
		if m == 1 {
			s.initGrowth(fy)
		}
		y := s.row(s.sol.y, m)
		addScaledTo(y, prev, s.h, fy)
		if err := s.checkStep(y, m); err != nil {
			return err
		}
	}
	return nil
}

// rkStages holds the stage buffers of one explicit Runge-Kutta step.
type rkStages struct {
	k  [][]float64
	yt []float64
}

func newRKStages(stages, n int) *rkStages {
	r := &rkStages{k: make([][]float64, stages), yt: make([]float64, n)}
	for i := range r.k {
		r.k[i] = make([]float64, n)
	}
	return r
}

// rk4Tableau is the classical fourth-order Runge-Kutta method.
var rk4Tableau = tableau{
	c: []float64{0, 0.5, 0.5, 1},
	a: [][]float64{nil, {0.5}, {0, 0.5}, {0, 0, 1}},
	b: []float64{1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
}

// dopri5Tableau is the Dormand-Prince 5(4) pair; its seventh stage is the
// field at the new state (first same as last), and e = b - b̂ estimates the
// local error of the fifth-order solution.
var dopri5Tableau = tableau{
	c: []float64{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1},
	a: [][]float64{
		nil,
		{1.0 / 5},
		{3.0 / 40, 9.0 / 40},
		{44.0 / 45, -56.0 / 15, 32.0 / 9},
		{19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
		{9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
		{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
	},
	b: []float64{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0},
	e: []float64{
		35.0/384 - 5179.0/57600, 0, 500.0/1113 - 7571.0/16695, 125.0/192 - 393.0/640,
		-2187.0/6784 + 92097.0/339200, 11.0/84 - 187.0/2100, -1.0 / 40,
	},
}

// tableau is an explicit Runge-Kutta Butcher tableau.
type tableau struct {
	c []float64
	a [][]float64
	b []float64
	e []float64 // error weights of an embedded pair, or nil
}

// step computes the stages of one step from (t, y) with step h into r.k;
// when k0 is given it is used as the first stage (first same as last).
// It writes the new state into ynew.
func (s *solver) rkStep(tb *tableau, r *rkStages, t, h float64, y, ynew []float64, k0 []float64, step int) error {
	for i := range tb.c {
		if i == 0 && k0 != nil {
			copy(r.k[0], k0)
			continue
		}
		copy(r.yt, y)
		for j, a := range tb.a[i] {
			if a != 0 {
				addScaledTo(r.yt, r.yt, h*a, r.k[j])
			}
		}
		if err := s.eval(r.k[i], t+tb.c[i]*h, r.yt, step); err != nil {
			return err
		}
	}
	copy(ynew, y)
	for i, b := range tb.b {
		if b != 0 {
			addScaledTo(ynew, ynew, h*b, r.k[i])
		}
	}
	return nil
}

func (s *solver) rk4() error {
	r := newRKStages(4, s.n)
	for m := 1; m <= s.steps; m++ {
		y := s.row(s.sol.y, m)
		if err := s.rkStep(&rk4Tableau, r, s.sol.grid[m-1], s.h, s.row(s.sol.y, m-1), y, nil, m-1); err != nil {
			return err
		}
		if m == 1 {
			s.initGrowth(r.k[0])
		}
		if err := s.checkStep(y, m); err != nil {
			return err
		}
	}
	return nil
}

// dopri5 integrates with adaptive steps, shortened to land on each output
// time. It records every accepted step, which is what the adaptive
// checkpoint adjoint needs to rebuild the steps backwards.
func (s *solver) dopri5(x0 []float64) error {
	n, T := s.n, s.opt.T
	rtol, atol := s.opt.RTol, s.opt.ATol
	y := append([]float64(nil), x0...)
	ynew := make([]float64, n)
	s.sol.grid = []float64{0}
	s.sol.y = append(make([]float64, 0, 64*n), x0...)
	s.y0 = s.sol.y[:n]
	r := newRKStages(7, n)
	f0 := make([]float64, n)
	if err := s.eval(f0, 0, y, 0); err != nil {
		return err
	}
	scale := func(i int, a, b float64) float64 { return atol + rtol*math.Max(math.Abs(a), math.Abs(b)) }
	h := s.h
	if s.opt.Steps == 0 && s.opt.StepSize == 0 {
		var err error
		if h, err = s.initialStep(y, f0, scale); err != nil {
			return err
		}
	}
	times := s.sol.Times
	next := 0
	t := 0.0
	accepted, rejected := 0, 0
	for next < len(times) {
		target := times[next]
		hs := math.Min(h, target-t)
		if target-t-hs <= 1e-12*T {
			hs = target - t
		}
		if hs <= 1e-14*math.Max(T, 1) {
			return fmt.Errorf("fode: step %d (t = %g): dopri5 step size %g underflows", accepted, t, hs)
		}
		if err := s.rkStep(&dopri5Tableau, r, t, hs, y, ynew, f0, accepted); err != nil {
			return err
		}
		var acc float64
		for i := range y {
			var e float64
			for j, w := range dopri5Tableau.e {
				e += w * r.k[j][i]
			}
			q := hs * e / scale(i, y[i], ynew[i])
			acc += q * q
		}
		errNorm := math.Sqrt(acc / float64(n))
		if math.IsNaN(errNorm) {
			return fmt.Errorf("fode: step %d (t = %g): dopri5 error estimate: %w", accepted, t, ErrNotFinite)
		}
		if errNorm <= 1 {
			if i := firstNonFinite(ynew); i >= 0 {
				return fmt.Errorf("fode: step %d (t = %g): dopri5 state component %d = %v: %w", accepted+1, t+hs, i, ynew[i], ErrNotFinite)
			}
			// The stored states grow by appending, which may double their
			// capacity: keep twice their size within the budget.
			if need := satInt(len(s.sol.y) + n).add(satInt(3 * len(s.sol.grid))).mul(16); int64(need) > s.opt.memLimit() {
				return fmt.Errorf("fode: step %d (t = %g): dopri5 would need more than %s for its %d stored states (Options.MaxMemory): loosen the tolerances or reduce the batch", accepted, t, fmtBytes(satInt(s.opt.memLimit())), accepted+1)
			}
			accepted++
			if hs == target-t {
				t = target
				next++
			} else {
				t += hs
			}
			copy(y, ynew)
			copy(f0, r.k[6])
			s.sol.hs = append(s.sol.hs, hs)
			s.sol.grid = append(s.sol.grid, t)
			s.sol.y = append(s.sol.y, y...)
		} else {
			rejected++
		}
		if accepted+rejected >= s.opt.MaxSteps {
			return fmt.Errorf("fode: step %d (t = %g): dopri5 reached the limit of %d steps", accepted, t, s.opt.MaxSteps)
		}
		factor := 10.0
		if errNorm > 0 {
			factor = math.Min(10, math.Max(0.2, 0.9*math.Pow(errNorm, -0.2)))
		}
		h = hs * factor
	}
	s.y0 = s.sol.y[:n]
	s.sol.Steps, s.sol.Rejected = accepted, rejected
	s.sol.h = h
	return nil
}

// initialStep picks the first trial step of Hairer, Nørsett and Wanner
// (Solving ODEs I, II.4) from the size of the state and its derivative.
func (s *solver) initialStep(y, f0 []float64, scale func(int, float64, float64) float64) (float64, error) {
	rms := func(v []float64) float64 {
		var a float64
		for i, x := range v {
			q := x / scale(i, y[i], y[i])
			a += q * q
		}
		return math.Sqrt(a / float64(len(v)))
	}
	d0, d1 := rms(y), rms(f0)
	h0 := 1e-6
	if d0 >= 1e-5 && d1 >= 1e-5 {
		h0 = 0.01 * d0 / d1
	}
	h0 = math.Min(h0, s.opt.T)
	y1 := make([]float64, len(y))
	addScaledTo(y1, y, h0, f0)
	f1 := make([]float64, len(y))
	if err := s.eval(f1, h0, y1, 0); err != nil {
		return 0, err
	}
	for i := range f1 {
		f1[i] -= f0[i]
	}
	d2 := rms(f1) / h0
	h1 := math.Max(1e-6, h0*1e-3)
	if m := math.Max(d1, d2); m > 1e-15 {
		h1 = math.Pow(0.01/m, 1.0/5)
	}
	return math.Min(100*h0, h1), nil
}
