package optim

import (
	"fmt"
	"math"
)

// Option configures an Optimizer or a Solver. Options are checked by New
// and NewSolver, which return an error for invalid values.
type Option func(*settings)

// settings holds the configuration built from the options.
type settings struct {
	lr       float64
	precond  precondKind
	rho, eps float64
	beta     float64
	clip     float64
	adaptive Adaptive
	errs     []error
}

// precondKind selects the diagonal preconditioner.
type precondKind int

const (
	noPrecond precondKind = iota
	rmsprop
	adagrad
)

// WithLearnRate sets the (initial) step size h > 0 of the flow; the default
// is 0.001, as for Gorgonia's solvers. With adaptive steps it is the first
// step size, clamped to [HMin, HMax].
func WithLearnRate(h float64) Option {
	return func(s *settings) {
		if !(h > 0) || math.IsInf(h, 0) {
			s.errs = append(s.errs, fmt.Errorf("optim: learn rate %v, want a finite h > 0", h))
			return
		}
		s.lr = h
	}
}

// WithRMSprop sets the RMSprop-like diagonal preconditioner: once per step,
// from the first stage's gradient g = ∇L(θ_n) of step n = 1, 2, …,
//
//	v ← ρ v + (1-ρ) g²,   P = diag(1/(√(v/(1-ρⁿ)) + ε)),
//
// with v = 0 at the start and Adam's bias correction 1/(1-ρⁿ) (without it
// the first steps would be 1/√(1-ρ) times too long). Every stage of the
// step uses the same P, so that the step integrates the preconditioned
// flow θ' = -P ∇L(θ). Typical values are ρ = 0.99 and ε = 1e-8. It
// requires 0 < ρ < 1 and ε > 0.
func WithRMSprop(rho, eps float64) Option {
	return func(s *settings) {
		if !(rho > 0 && rho < 1) {
			s.errs = append(s.errs, fmt.Errorf("optim: RMSprop decay ρ = %v, want 0 < ρ < 1", rho))
			return
		}
		if !(eps > 0) || math.IsInf(eps, 0) {
			s.errs = append(s.errs, fmt.Errorf("optim: preconditioner ε = %v, want a finite ε > 0", eps))
			return
		}
		s.precond, s.rho, s.eps = rmsprop, rho, eps
	}
}

// WithAdaGrad sets the AdaGrad diagonal preconditioner: once per step, from
// the first stage's gradient g,
//
//	v ← v + g²,   P = diag(1/(√v + ε)),
//
// applied inside every stage as for WithRMSprop. It requires ε > 0.
func WithAdaGrad(eps float64) Option {
	return func(s *settings) {
		if !(eps > 0) || math.IsInf(eps, 0) {
			s.errs = append(s.errs, fmt.Errorf("optim: preconditioner ε = %v, want a finite ε > 0", eps))
			return
		}
		s.precond, s.rho, s.eps = adagrad, 1, eps
	}
}

// WithMomentum applies heavy-ball momentum to the Runge-Kutta direction
// d = Σ b_i P g_i (g_i the stage gradients):
//
//	m ← β m + d,   θ ← θ - h m,
//
// with m = 0 at the start. β = 0 (the default) is no momentum; it requires
// 0 ≤ β < 1.
func WithMomentum(beta float64) Option {
	return func(s *settings) {
		if !(beta >= 0 && beta < 1) {
			s.errs = append(s.errs, fmt.Errorf("optim: momentum β = %v, want 0 ≤ β < 1", beta))
			return
		}
		s.beta = beta
	}
}

// WithClip clips every stage's gradient by its global norm:
//
//	g ← g · min(1, c/‖g‖₂),
//
// before preconditioning (so the preconditioner accumulates clipped
// gradients). Unlike Gorgonia's WithClip, which clamps each component, the
// direction is kept. It requires c > 0.
func WithClip(c float64) Option {
	return func(s *settings) {
		if !(c > 0) {
			s.errs = append(s.errs, fmt.Errorf("optim: clip norm %v, want c > 0", c))
			return
		}
		s.clip = c
	}
}

// StepControl selects how the step size h changes from step to step.
type StepControl int

const (
	// Fixed keeps h (the default; change it with Optimizer.SetLearnRate).
	Fixed StepControl = iota
	// Embedded controls h with the local error estimate of an embedded pair
	// (the tableau must have BHat). With the RK direction d = Σ b_i k_i,
	// the embedded one d̂ = Σ b̂_i k_i and k_i = P g_i,
	//
	//	err = ‖h (d - d̂)‖_RMS = (1/n Σ_x (h (d - d̂)_x)²)^½,
	//	h ← h · clip(Safety · (Tol/err)^(1/(q+1)), FacMin, FacMax),  q = min(p, p̂),
	//
	// clamped to [HMin, HMax] (FacMax when err = 0). With Reject, a step
	// with err > Tol is redone from the same θ with the smaller h (the
	// first stage's gradient is reused) until err ≤ Tol, h = HMin or
	// MaxRejects retries; otherwise every step is accepted and the new h
	// applies from the next step. h never grows right after a rejection.
	// The propagated solution is the higher-order one, B (local
	// extrapolation).
	Embedded
	// Lipschitz controls h with the ratio of the norms of successive
	// changes of the field and of the parameters (Malitsky & Mishchenko
	// 2020, "Adaptive gradient descent without descent"): before step n
	// (n ≥ 2) takes its stages,
	//
	//	L̂ = ‖P (g_n - g_{n-1})‖ / ‖θ_n - θ_{n-1}‖,
	//	h ← h · clip(Target/(h L̂), FacMin, FacMax),
	//
	// clamped to [HMin, HMax], with g_n, g_{n-1} the (clipped) first-stage
	// gradients of this step and the last one and P this step's
	// preconditioner. L̂ estimates the Lipschitz constant of the field
	// -P∇L along the last step, so h L̂ ≈ Target keeps the stiffest
	// direction the steps see inside the method's stability interval on
	// the real axis (h λ ≤ 2 for Euler and Heun, 2.51 for RK3, 2.79 for
	// RK4). On L = λθ²/2 with Euler and Target = 1 it reaches the minimum
	// in one step once h is set; with Euler on a quadratic, L̂ bounds the
	// Barzilai-Borwein curvature ⟨s, y⟩/⟨s, s⟩ from above. It works with
	// every tableau and needs no embedded pair. With minibatches g_n and
	// g_{n-1} come from different batches, which makes L̂ larger and h
	// smaller.
	//
	// The plain ratio ‖g_n‖/‖g_{n-1}‖ is not used: it cannot tell a step
	// that is too small (ratio 1 - hλ) from one that overshoots (hλ - 1).
	Lipschitz
)

// Adaptive configures adaptive step sizes (WithAdaptive). Zero fields take
// the defaults given with each field.
type Adaptive struct {
	// Control selects the rule; Fixed disables adaptation.
	Control StepControl
	// Tol is the tolerance on the RMS local error (Embedded); required.
	Tol float64
	// Target is the wanted h L̂ (Lipschitz), > 0; default 1.
	Target float64
	// HMin and HMax bound h; defaults 1e-3 and 1e3 times the learn rate.
	HMin, HMax float64
	// Safety is the safety factor of the Embedded rule, in (0, 1];
	// default 0.9.
	Safety float64
	// FacMin and FacMax bound the factor h changes by in one step,
	// 0 < FacMin ≤ 1 ≤ FacMax; defaults 0.2 and 5 (Embedded), 0.1 and √2
	// (Lipschitz).
	FacMin, FacMax float64
	// Reject redoes steps whose error estimate exceeds Tol (Embedded).
	Reject bool
	// MaxRejects bounds the retries of one step; default 10.
	MaxRejects int
}

// WithAdaptive sets an adaptive step size; see StepControl for the rules.
func WithAdaptive(a Adaptive) Option {
	return func(s *settings) { s.adaptive = a }
}

// build applies the options and checks them against the tableau.
func build(t Tableau, opts []Option) (settings, error) {
	s := settings{lr: 0.001}
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	if len(s.errs) > 0 {
		return s, s.errs[0]
	}
	a := &s.adaptive
	switch a.Control {
	case Fixed:
		return s, nil
	case Embedded:
		if !t.Embedded() {
			return s, fmt.Errorf("optim: embedded step control needs an embedded pair; tableau %q has no BHat", t.Name)
		}
		if !(a.Tol > 0) || math.IsInf(a.Tol, 0) {
			return s, fmt.Errorf("optim: adaptive Tol = %v, want a finite Tol > 0", a.Tol)
		}
		def(&a.FacMin, 0.2)
		def(&a.FacMax, 5)
	case Lipschitz:
		def(&a.Target, 1)
		if !(a.Target > 0) || math.IsInf(a.Target, 0) {
			return s, fmt.Errorf("optim: adaptive Target = %v, want a finite Target > 0", a.Target)
		}
		def(&a.FacMin, 0.1)
		def(&a.FacMax, math.Sqrt2)
	default:
		return s, fmt.Errorf("optim: unknown step control %d", int(a.Control))
	}
	def(&a.Safety, 0.9)
	def(&a.HMin, 1e-3*s.lr)
	def(&a.HMax, 1e3*s.lr)
	if a.MaxRejects == 0 {
		a.MaxRejects = 10
	}
	switch {
	case !(a.Safety > 0 && a.Safety <= 1):
		return s, fmt.Errorf("optim: adaptive Safety = %v, want 0 < Safety ≤ 1", a.Safety)
	case !(a.FacMin > 0 && a.FacMin <= 1 && a.FacMax >= 1) || math.IsInf(a.FacMax, 0):
		return s, fmt.Errorf("optim: adaptive factor bounds [%v, %v], want 0 < FacMin ≤ 1 ≤ FacMax < ∞", a.FacMin, a.FacMax)
	case !(a.HMin > 0 && a.HMin <= a.HMax) || math.IsInf(a.HMax, 0):
		return s, fmt.Errorf("optim: adaptive step bounds [%v, %v], want 0 < HMin ≤ HMax < ∞", a.HMin, a.HMax)
	case a.MaxRejects < 0:
		return s, fmt.Errorf("optim: adaptive MaxRejects = %d, want ≥ 0", a.MaxRejects)
	}
	s.lr = min(max(s.lr, a.HMin), a.HMax)
	return s, nil
}

// def sets *x to v when it is zero.
func def(x *float64, v float64) {
	if *x == 0 {
		*x = v
	}
}
