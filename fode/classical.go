package fode

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/gofde/gofde/internal/tableau"
)

// Classical methods for α = 1 (x' = f): explicit Runge-Kutta tableaus,
// Euler among them. They keep only the grid states; the gradient rebuilds
// each step's stages when it walks the steps back.

// rkMethod is an explicit Runge-Kutta tableau with the quantities the
// solver derives from it once.
type rkMethod struct {
	tab tableau.Tableau
	c   []float64 // nodes
	e   []float64 // error weights b - b̂ of an embedded pair, or nil
	// needK[i] is set when a later stage that matters reads k_i, and
	// used[i] when stage i reaches the new state at all: the adjoint
	// rebuilds and differentiates only those.
	needK, used []bool
}

func newRKMethod(t tableau.Tableau) *rkMethod {
	s := t.Stages()
	r := &rkMethod{tab: t, c: tableau.Nodes(t), needK: make([]bool, s), used: make([]bool, s)}
	if t.Embedded() {
		r.e = make([]float64, s)
		for i := range r.e {
			r.e[i] = t.B[i] - t.BHat[i]
		}
	}
	for i := s - 1; i >= 0; i-- {
		r.used[i] = t.B[i] != 0
		for j := i + 1; j < s; j++ {
			if r.used[j] && i < len(t.A[j]) && t.A[j][i] != 0 {
				r.used[i], r.needK[i] = true, true
			}
		}
	}
	return r
}

var (
	eulerMethod  = newRKMethod(tableau.Euler())
	rk4Method    = newRKMethod(tableau.RK4())
	dopri5Method = newRKMethod(tableau.DormandPrince())
)

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

// rkStep computes the stages of one step from (t, y) with step h into r.k;
// when k0 is given it is used as the first stage (first same as last).
// It writes the new state into ynew.
func (s *solver) rkStep(rk *rkMethod, r *rkStages, t, h float64, y, ynew []float64, k0 []float64, step int) error {
	for i, c := range rk.c {
		if i == 0 && k0 != nil {
			copy(r.k[0], k0)
			continue
		}
		stageInput(r.yt, rk.tab.A[i], h, y, r.k)
		if err := s.eval(r.k[i], t+c*h, r.yt, step); err != nil {
			return err
		}
	}
	copy(ynew, y)
	for i, b := range rk.tab.B {
		if b != 0 {
			floats.AddScaled(ynew, h*b, r.k[i])
		}
	}
	return nil
}

// stageInput writes y + h Σ_j a_j k_j into dst.
func stageInput(dst, a []float64, h float64, y []float64, k [][]float64) {
	copy(dst, y)
	for j, aj := range a {
		if aj != 0 {
			floats.AddScaled(dst, h*aj, k[j])
		}
	}
}

// rk runs a fixed-step explicit Runge-Kutta method (Euler and RK4).
func (s *solver) rk(rk *rkMethod) error {
	r := newRKStages(rk.tab.Stages(), s.n)
	for m := 1; m <= s.steps; m++ {
		y := s.row(s.sol.y, m)
		if err := s.rkStep(rk, r, s.sol.grid[m-1], s.h, s.row(s.sol.y, m-1), y, nil, m-1); err != nil {
			return err
		}
		if m == 1 {
			_, f0 := maxAbsFinite(r.k[0])
			s.initGrowth(f0)
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
	rtol, atol := s.opt.Adaptive.RTol, s.opt.Adaptive.ATol
	y := append([]float64(nil), x0...)
	ynew := make([]float64, n)
	s.sol.grid = []float64{0}
	s.sol.y = append(make([]float64, 0, 64*n), x0...)
	s.y0 = s.sol.y[:n]
	r := newRKStages(dopri5Method.tab.Stages(), n)
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
		if err := s.rkStep(dopri5Method, r, t, hs, y, ynew, f0, accepted); err != nil {
			return err
		}
		var acc float64
		for i := range y {
			var e float64
			for j, w := range dopri5Method.e {
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
			if need := satInt(len(s.sol.y) + n).add(satInt(3 * len(s.sol.grid))).mul(16); int64(need) > s.opt.MaxMemory {
				return fmt.Errorf("fode: step %d (t = %g): dopri5 would need more than %s for its %d stored states (Options.MaxMemory): loosen the tolerances or reduce the batch", accepted, t, fmtBytes(satInt(s.opt.MaxMemory)), accepted+1)
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
		if accepted+rejected >= s.opt.Adaptive.MaxSteps {
			return fmt.Errorf("fode: step %d (t = %g): dopri5 reached the limit of %d steps", accepted, t, s.opt.Adaptive.MaxSteps)
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
	floats.AddScaledTo(y1, y, h0, f0)
	f1 := make([]float64, len(y))
	if err := s.eval(f1, h0, y1, 0); err != nil {
		return 0, err
	}
	floats.Sub(f1, f0)
	d2 := rms(f1) / h0
	h1 := math.Max(1e-6, h0*1e-3)
	if m := math.Max(d1, d2); m > 1e-15 {
		h1 = math.Pow(0.01/m, 1.0/5)
	}
	return math.Min(100*h0, h1), nil
}

// rk reverses an explicit Runge-Kutta method step by step: it rebuilds the
// stages of one step from its stored start state and back-propagates
// through them (for Dopri5 this is the adaptive checkpoint adjoint; the
// accepted step sizes are constants of the discrete map). Only the stages
// that reach the new state are differentiated, and only the stage values
// that later ones read are recomputed: Euler's reverse step is one VJP
// and no evaluation.
func (a *adj) rk(rk *rkMethod) error {
	s, n := a.sol, a.n
	ns := rk.tab.Stages()
	k := make([][]float64, ns)
	Y := make([][]float64, ns) // stage inputs
	kbar := make([][]float64, ns)
	for i := range k {
		k[i], Y[i], kbar[i] = make([]float64, n), make([]float64, n), make([]float64, n)
	}
	ybar := make([]float64, n) // the cotangent of the state at the end of the step
	copy(ybar, a.outs[a.N])
	for m := a.N; m >= 1; m-- {
		t0, h := s.grid[m-1], s.stepSize(m)
		y := s.State(m - 1)
		for i := range ns {
			if !rk.used[i] {
				continue
			}
			stageInput(Y[i], rk.tab.A[i], h, y, k)
			if rk.needK[i] {
				if err := a.eval(k[i], t0+rk.c[i]*h, Y[i], m-1); err != nil {
					return err
				}
			}
			floats.ScaleTo(kbar[i], h*rk.tab.B[i], ybar)
		}
		// ybar becomes the cotangent of y_{m-1}: the direct path, then
		// every stage.
		for i := ns - 1; i >= 0; i-- {
			if !rk.used[i] {
				continue
			}
			if err := a.vjp(a.xbuf(), true, t0+rk.c[i]*h, Y[i], kbar[i], m-1); err != nil {
				return err
			}
			floats.Add(ybar, a.xbuf())
			for j, aij := range rk.tab.A[i] {
				if aij != 0 {
					floats.AddScaled(kbar[j], h*aij, a.xbuf())
				}
			}
		}
		if o := a.outs[m-1]; o != nil {
			floats.Add(ybar, o)
		}
	}
	copy(a.x0bar, ybar)
	return nil
}
