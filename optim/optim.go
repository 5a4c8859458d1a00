package optim

import (
	"errors"
	"fmt"
	"github.com/gofde/gofde/internal/finite"
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/gofde/gofde/internal/tableau"
)

// Func evaluates the loss L and its gradient at params: it writes ∇L(params)
// into grad (len(grad) = len(params), zeroed before each call) and returns
// L(params). It must not modify params or keep either slice after it
// returns. The loss is informational (Stats.Loss); return 0 when it is not
// at hand. The optimizer calls Func once per stage, at the stage's
// parameters.
type Func func(params, grad []float64) (loss float64, err error)

// ErrNotFinite is wrapped by the errors of a step whose parameters, stage
// gradients or update contain NaN or ±Inf. It is the same value as
// fode.ErrNotFinite.
var ErrNotFinite = finite.ErrNotFinite

// StageError is the error of a step that failed in one of its stages: the
// gradient Func failed or returned a non-finite gradient (Err wraps
// ErrNotFinite then). Stage is 1-based; Stage 0 is the final update
// θ - h·direction, which can overflow. The parameters and the optimizer's
// state are those from before the step.
type StageError struct {
	Method string // the tableau's Name
	Step   int    // the step that failed, 1-based (Stats.Steps + 1)
	Stage  int    // 1 … Stages; 0 for the update
	Stages int    // stages a step evaluates
	Err    error  // the Func's error or a wrapped ErrNotFinite
}

// Error names the method, the step and the stage.
func (e *StageError) Error() string {
	if e.Stage == 0 {
		return fmt.Sprintf("optim: %s step %d, update: %v", e.Method, e.Step, e.Err)
	}
	return fmt.Sprintf("optim: %s step %d, stage %d of %d: %v", e.Method, e.Step, e.Stage, e.Stages, e.Err)
}

// Unwrap returns Err.
func (e *StageError) Unwrap() error { return e.Err }

// Stats describes the optimizer's progress.
type Stats struct {
	// Steps counts the accepted steps.
	Steps int
	// Evals counts the gradient evaluations: the calls of Func, failed
	// ones included, plus the gradients handed to StepGrad (or computed by
	// the caller's run before Solver.Step). A step costs one evaluation per
	// stage it uses (Euler 1, Heun 2, RK3 3, RK4 4, BogackiShampine 3, or 4
	// with Embedded control), plus s-1 per rejected attempt.
	Evals int
	// Rejected counts the rejected attempts (Embedded control with Reject).
	Rejected int
	// H is the step size the last accepted step used; NextH the one the
	// next step starts from.
	H, NextH float64
	// Err is the error estimate of the last step (Embedded control), else 0.
	Err float64
	// Loss is the loss Func returned at the first stage of the last step;
	// NaN when the step started from a given gradient (StepGrad, Solver).
	Loss float64
	// GradNorm is ‖∇L(θ)‖₂ at the start of the last step, before clipping.
	GradNorm float64
}

// Optimizer takes Runge-Kutta steps on the preconditioned gradient flow
//
//	θ' = -P ∇L(θ),
//
// one Tableau step of size h per call, with k_i = P g_i and the stage
// gradients g_i = ∇L(θ - h Σ_{j<i} a_ij k_j) (each clipped when WithClip is
// set); the direction d = Σ b_i k_i gives θ ← θ - h d, or with momentum
// m ← β m + d, θ ← θ - h m. P is the identity unless WithRMSprop or
// WithAdaGrad sets it; it is computed once per step from g_1 and frozen
// within the step.
//
// An Optimizer works on plain []float64 parameter vectors (Step, StepGrad);
// Solver adapts it to Gorgonia graphs. It keeps state between steps
// (preconditioner, momentum, step size) for one parameter vector of fixed
// length; Reset starts over. It is not safe for concurrent use.
type Optimizer struct {
	tab  Tableau
	set  settings
	used int // stages evaluated per attempt

	h     float64 // current step size
	n     int     // parameter count, 0 before the first step
	stats Stats

	v, vNext []float64   // preconditioner accumulator and its candidate
	pinv     []float64   // diagonal of P for the current step
	m, mNext []float64   // momentum and its candidate
	k        [][]float64 // stage directions k_i = P g_i
	y, d     []float64   // stage parameters / new θ, RK direction

	// Lipschitz control: the last step's θ and (clipped) first gradient,
	// and this step's first gradient before preconditioning.
	thetaPrev, gPrev, gCur []float64
}

// New returns an optimizer for the method t with the options opts. With no
// options it is t on the plain gradient flow with h = 0.001; New(Euler(),
// WithLearnRate(h)) is gradient descent, step for step equal to Gorgonia's
// VanillaSolver with the same learn rate.
func New(t Tableau, opts ...Option) (*Optimizer, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("optim: %w", err)
	}
	t = tableau.Clone(t)
	set, err := build(t, opts)
	if err != nil {
		return nil, err
	}
	o := &Optimizer{tab: t, set: set, h: set.lr}
	last := 0
	for i := range t.B {
		if t.B[i] != 0 || (set.adaptive.Control == Embedded && t.BHat[i] != 0) {
			last = i
		}
	}
	o.used = last + 1
	o.stats.NextH = o.h
	return o, nil
}

// Tableau returns a copy of the optimizer's method.
func (o *Optimizer) Tableau() Tableau { return tableau.Clone(o.tab) }

// StagesPerStep returns the gradient evaluations one accepted step without
// rejections costs: the stages up to the last one with a non-zero weight
// (in B, or in BHat with Embedded control).
func (o *Optimizer) StagesPerStep() int { return o.used }

// Stats returns the optimizer's counters and last step's data.
func (o *Optimizer) Stats() Stats { return o.stats }

// LearnRate returns the step size h the next step starts from.
func (o *Optimizer) LearnRate() float64 { return o.h }

// SetLearnRate sets the step size of the next step (for schedules); with
// adaptive steps it is clamped to [HMin, HMax]. It requires a finite h > 0.
func (o *Optimizer) SetLearnRate(h float64) error {
	if !(h > 0) || math.IsInf(h, 0) {
		return fmt.Errorf("optim: learn rate %v, want a finite h > 0", h)
	}
	if a := o.set.adaptive; a.Control != Fixed {
		h = min(max(h, a.HMin), a.HMax)
	}
	o.h = h
	o.stats.NextH = h
	return nil
}

// Reset forgets the state: preconditioner, momentum, step size (back to the
// learn rate option), statistics and the parameter count.
func (o *Optimizer) Reset() {
	*o = Optimizer{tab: o.tab, set: o.set, used: o.used, h: o.set.lr}
	o.stats.NextH = o.h
}

// Step takes one step from the parameters theta, which it updates in place,
// evaluating the gradient with f at every stage (the first at theta
// itself). On error theta and the optimizer's state are left unchanged
// (only Stats.Evals and Stats.Rejected count the work done); a failed or
// non-finite
// stage is reported as a *StageError.
func (o *Optimizer) Step(theta []float64, f Func) error {
	if f == nil {
		return errors.New("optim: nil gradient Func")
	}
	return o.step(theta, nil, f)
}

// StepGrad is Step with the first stage's gradient given: grad must hold
// ∇L(theta), computed by the caller (for instance with the loss it logs);
// f is called only for the later stages and may be nil when the step has
// a single stage (StagesPerStep() == 1). grad is not modified.
func (o *Optimizer) StepGrad(theta, grad []float64, f Func) error {
	if len(grad) != len(theta) {
		return fmt.Errorf("optim: gradient of length %d for %d parameters", len(grad), len(theta))
	}
	if f == nil && o.used > 1 {
		return fmt.Errorf("optim: %s takes %d stages a step and needs a gradient Func", o.tab.Name, o.used)
	}
	return o.step(theta, grad, f)
}

// alloc sizes the buffers for n parameters.
func (o *Optimizer) alloc(n int) {
	o.n = n
	o.k = make([][]float64, o.used)
	for i := range o.k {
		o.k[i] = make([]float64, n)
	}
	o.y = make([]float64, n)
	o.d = make([]float64, n)
	if o.set.precond != noPrecond {
		o.v = make([]float64, n)
		o.vNext = make([]float64, n)
		o.pinv = make([]float64, n)
	}
	if o.set.beta > 0 {
		o.m = make([]float64, n)
		o.mNext = make([]float64, n)
	}
	if o.set.adaptive.Control == Lipschitz {
		o.thetaPrev = make([]float64, n)
		o.gPrev = make([]float64, n)
		o.gCur = make([]float64, n)
	}
}

// firstNonFinite returns the index of the first NaN or ±Inf in x, or -1.
func firstNonFinite(x []float64) int { return finite.First(x) }

// norm2 returns ‖x‖₂ and whether every component of x is finite: a plain
// sum of squares, and gonum's scaled norm when that over- or underflows.
func norm2(x []float64) (float64, bool) {
	var ss, nan float64
	for _, v := range x {
		ss += v * v
		nan += 0 * v
	}
	if nan != 0 {
		return 0, false
	}
	if ss > 1e-280 && ss < 1e280 {
		return math.Sqrt(ss), true
	}
	return floats.Norm(x, 2), true
}

// stageErr builds the error of stage (1-based; 0 for the update).
func (o *Optimizer) stageErr(stage int, err error) error {
	return &StageError{Method: o.tab.Name, Step: o.stats.Steps + 1, Stage: stage, Stages: o.used, Err: err}
}

// gradient evaluates stage i (0-based) at o.y into o.k[i] (or copies the
// given first-stage gradient), checks it, clips it and returns the loss
// and the norm before clipping.
func (o *Optimizer) gradient(i int, g0 []float64, f Func) (loss, norm float64, err error) {
	k := o.k[i]
	loss = math.NaN()
	if g0 != nil {
		copy(k, g0)
	} else {
		clear(k)
		loss, err = f(o.y, k)
	}
	o.stats.Evals++
	if err != nil {
		return loss, 0, o.stageErr(i+1, err)
	}
	norm, ok := norm2(k)
	if !ok {
		x := firstNonFinite(k)
		return loss, 0, o.stageErr(i+1, fmt.Errorf("gradient component %d = %v: %w", x, k[x], ErrNotFinite))
	}
	if c := o.set.clip; c > 0 && norm > c {
		floats.Scale(c/norm, k)
	}
	return loss, norm, nil
}

func (o *Optimizer) step(theta, g0 []float64, f Func) error {
	n := len(theta)
	switch {
	case n == 0:
		return errors.New("optim: no parameters")
	case o.n == 0:
		o.alloc(n)
	case o.n != n:
		return fmt.Errorf("optim: %d parameters, the optimizer holds state for %d (Reset to start over)", n, o.n)
	}
	if x := firstNonFinite(theta); x >= 0 {
		return fmt.Errorf("optim: %s step %d: parameter component %d = %v: %w", o.tab.Name, o.stats.Steps+1, x, theta[x], ErrNotFinite)
	}
	set, a := &o.set, &o.set.adaptive

	// Stage 1 at θ, the preconditioner and the gradient-ratio rule.
	copy(o.y, theta)
	loss, gnorm, err := o.gradient(0, g0, f)
	if err != nil {
		return err
	}
	if a.Control == Lipschitz {
		copy(o.gCur, o.k[0])
	}
	if set.precond != noPrecond {
		rho := set.rho
		// Bias correction of the RMSprop average: 1/(1 - ρ^t) at step t.
		corr := 1.0
		if set.precond == rmsprop {
			corr = 1 / (1 - math.Pow(rho, float64(o.stats.Steps+1)))
		}
		for x, g := range o.k[0] {
			var v float64
			if set.precond == adagrad {
				v = o.v[x] + g*g
			} else {
				v = rho*o.v[x] + (1-rho)*g*g
			}
			o.vNext[x] = v
			o.pinv[x] = 1 / (math.Sqrt(v*corr) + set.eps)
		}
		floats.Mul(o.k[0], o.pinv)
	}
	h := o.h
	if a.Control == Lipschitz && o.stats.Steps > 0 {
		h = o.lipschitzStep(theta)
	}

	// Stages 2 … s; with Embedded control and Reject, retries with smaller h.
	hNext, errEst := h, 0.0
	for rejects := 0; ; {
		for i := 1; i < o.used; i++ {
			// y = θ - h Σ_{j<i} a_ij k_j
			clear(o.y)
			for j, aij := range o.tab.A[i][:min(i, len(o.tab.A[i]))] {
				if aij != 0 {
					floats.AddScaled(o.y, aij, o.k[j])
				}
			}
			for x, acc := range o.y {
				o.y[x] = theta[x] - h*acc
			}
			if _, _, err := o.gradient(i, nil, f); err != nil {
				return err
			}
			if set.precond != noPrecond {
				floats.Mul(o.k[i], o.pinv)
			}
		}
		o.direction(o.d, o.tab.B)
		if a.Control != Embedded {
			break
		}
		// err = ‖h Σ (b_i - b̂_i) k_i‖_RMS
		var ss float64
		scale := 0.0
		for x := range n {
			var e float64
			for i := range o.used {
				if w := o.tab.B[i] - o.tab.BHat[i]; w != 0 {
					e += w * o.k[i][x]
				}
			}
			e *= h
			// Scaled sum of squares (as in BLAS nrm2), safe from overflow.
			if e != 0 {
				ae := math.Abs(e)
				if scale < ae {
					ss = 1 + ss*(scale/ae)*(scale/ae)
					scale = ae
				} else {
					ss += (ae / scale) * (ae / scale)
				}
			}
		}
		errEst = scale * math.Sqrt(ss/float64(n))
		q := min(o.tab.Order, o.tab.EmbeddedOrder)
		fac := a.FacMax
		if errEst > 0 {
			fac = min(max(a.Safety*math.Pow(a.Tol/errEst, 1/float64(q+1)), a.FacMin), a.FacMax)
		}
		if errEst > a.Tol && a.Reject && h > a.HMin && rejects < a.MaxRejects {
			h = max(h*min(fac, 1), a.HMin)
			rejects++
			o.stats.Rejected++
			continue
		}
		if rejects > 0 {
			fac = min(fac, 1)
		}
		hNext = min(max(h*fac, a.HMin), a.HMax)
		break
	}

	// Update θ - h d (or θ - h m) into y, check, commit.
	dir := o.d
	if set.beta > 0 {
		for x, d := range o.d {
			o.mNext[x] = set.beta*o.m[x] + d
		}
		dir = o.mNext
	}
	var nan float64 // stays 0 unless some new component is NaN or ±Inf
	for x, d := range dir {
		// The conversion keeps h·d rounded on its own (no fused
		// multiply-add), as in Gorgonia's VanillaSolver.
		y := theta[x] - float64(h*d)
		o.y[x] = y
		nan += 0 * y
	}
	if x := firstNonFinite(o.y); nan != 0 && x >= 0 {
		return o.stageErr(0, fmt.Errorf("parameter component %d = %v (h = %v): %w", x, o.y[x], h, ErrNotFinite))
	}
	if a.Control == Lipschitz {
		copy(o.thetaPrev, theta)
		o.gPrev, o.gCur = o.gCur, o.gPrev
	}
	copy(theta, o.y)
	if set.precond != noPrecond {
		o.v, o.vNext = o.vNext, o.v
	}
	if set.beta > 0 {
		o.m, o.mNext = o.mNext, o.m
	}
	o.h = hNext
	o.stats.Steps++
	o.stats.H, o.stats.NextH = h, hNext
	o.stats.Err, o.stats.Loss, o.stats.GradNorm = errEst, loss, gnorm
	return nil
}

// lipschitzStep returns the step size of the Lipschitz rule:
// h · clip(Target/(h L̂), FacMin, FacMax) clamped to [HMin, HMax], with
// L̂ = ‖P (g_n - g_{n-1})‖ / ‖θ_n - θ_{n-1}‖ (FacMax when the field did not
// change, h when θ did not).
func (o *Optimizer) lipschitzStep(theta []float64) float64 {
	a := &o.set.adaptive
	var dg, dx float64
	for x := range theta {
		y := o.gCur[x] - o.gPrev[x]
		if o.pinv != nil {
			y *= o.pinv[x]
		}
		s := theta[x] - o.thetaPrev[x]
		dg += y * y
		dx += s * s
	}
	h := o.h
	switch {
	case dx == 0:
		return h
	case dg == 0:
		return min(h*a.FacMax, a.HMax)
	}
	fac := a.Target * math.Sqrt(dx/dg) / h
	fac = min(max(fac, a.FacMin), a.FacMax)
	return min(max(h*fac, a.HMin), a.HMax)
}

// direction writes Σ_i w_i k_i over the evaluated stages into dst; the
// first non-zero term is assigned, not added to zero, so that Euler's
// direction is g itself.
func (o *Optimizer) direction(dst, w []float64) {
	first := true
	for i := range o.used {
		if w[i] == 0 {
			continue
		}
		if first {
			if w[i] == 1 {
				copy(dst, o.k[i])
			} else {
				floats.ScaleTo(dst, w[i], o.k[i])
			}
			first = false
			continue
		}
		floats.AddScaled(dst, w[i], o.k[i])
	}
	if first {
		clear(dst)
	}
}
