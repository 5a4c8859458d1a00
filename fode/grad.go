package fode

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// GradMode selects how Grad differentiates a solution.
type GradMode int

const (
	// Adjoint is the exact discrete adjoint (discretise-then-optimise):
	// the reverse sweep of the very scheme that produced the solution,
	// backward in time over the stored states with one vector-Jacobian
	// product of the field per stored evaluation (and the fixed-point
	// iterations of the implicit schemes). It gives the gradient of the
	// computed solution to round-off. For Dopri5 it is the adaptive
	// checkpoint adjoint (ACA): it walks the accepted steps back, rebuilds
	// each step's stages from its stored start state, and differentiates
	// the accepted discrete map.
	Adjoint GradMode = iota
	// Continuous solves the continuous adjoint equation
	//
	//	λ(t) = Σ_i (t_i - t)_+^(α-1)/Γ(α) ȳ_i + 1/Γ(α) ∫_t^T (s-t)^(α-1) J(s)ᵀ λ(s) ds,
	//	dL/dθ = ∫_0^T λᵀ ∂f/∂θ dt,  dL/dx0 = Σ_i ȳ_i + ∫_0^T Jᵀ λ dt,
	//
	// (optimise-then-discretise, a right-sided Riemann-Liouville equation,
	// singular at each observation time t_i) backward on the grid of the
	// solution with a product-integration rule that integrates the
	// singular factors exactly. Its error is O(h); it needs the output
	// times on grid points and a fixed-step method. Its cost is O(N²) in
	// time and O(N·n) in memory per observation time.
	Continuous
	// Forward computes the same derivatives as Adjoint a second,
	// independent way: tangent (forward-mode) sensitivities propagated
	// through the scheme, one direction per component of x0 and θ. The
	// field must implement JVPField. Meant for checking; it costs n+P
	// solves.
	Forward
)

var gradModeNames = [...]string{Adjoint: "adjoint", Continuous: "continuous", Forward: "forward"}

// String returns the mode's name.
func (m GradMode) String() string {
	if m < 0 || int(m) >= len(gradModeNames) {
		return fmt.Sprintf("GradMode(%d)", int(m))
	}
	return gradModeNames[m]
}

// GradOptions configures Grad.
type GradOptions struct {
	// Mode is the differentiation method (default Adjoint).
	Mode GradMode
	// GradAlpha also computes dL/dα (fractional methods, Adjoint mode),
	// or, for a multi-term equation, dL/dα_i and dL/dc_i (Gradient.Orders
	// and Gradient.Coeffs). The field is taken not to depend on them.
	GradAlpha bool
}

// Gradient holds the derivatives of a loss L with respect to the inputs of
// a solve.
type Gradient struct {
	// X0 is dL/dx0, shaped like x0.
	X0 []float64
	// Theta is dL/dθ.
	Theta []float64
	// Alpha is dL/dα when GradOptions.GradAlpha was set for a
	// single-term equation, NaN otherwise.
	Alpha float64
	// Orders and Coeffs are dL/dα_i and dL/dc_i when GradOptions.GradAlpha
	// was set for a multi-term equation (Options.Orders), nil otherwise.
	Orders, Coeffs []float64
}

// Release hands the storage of X0 and Theta back to the package, to be
// reused by later solves and gradients instead of allocated afresh: a
// training loop saves an allocation of the state's and of θ's size per
// step. X0 and Theta are nil afterwards; the other fields stay.
func (g *Gradient) Release() {
	putFloats(g.X0)
	putFloats(g.Theta)
	g.X0, g.Theta = nil, nil
}

// JVPField is a Field that also computes Jacobian-vector products, needed
// only by the Forward gradient mode.
type JVPField interface {
	Field
	// JVP writes (∂f/∂x) xdot + (∂f/∂θ) thetadot at (t, x; θ) into dst.
	// thetadot may be nil, meaning zero.
	JVP(dst []float64, t float64, x, theta, xdot, thetadot []float64) error
}

// Grad returns the gradient of a loss L with respect to x0, θ and
// (optionally) α, given the solution sol computed by Solve (which holds
// the field) and the cotangents ybar = dL/dx(t_i) at the solution's output times
// (len(sol.Times) blocks of rows×Dim values, in the order of sol.Times).
//
// The Adjoint and Continuous modes use the states and field values that
// sol stored, call the field through vector-Jacobian products and keep no
// activation of the field beyond one evaluation. They call Eval again only
// where sol did not store what they need: RK4 and Dopri5 rebuild each
// step's inner stages from its start state, and dL/dα re-evaluates the
// field at the states whose field values the scheme did not keep (GL,
// GLImplicit, L1 and PECE's iterates). Forward mode integrates the tangent
// equations with Eval and JVP.
func Grad(sol *Solution, ybar []float64, opt GradOptions) (*Gradient, error) {
	if err := checkGradInput(sol, ybar, opt); err != nil {
		return nil, err
	}
	var (
		g   *Gradient
		err error
	)
	switch opt.Mode {
	case Adjoint:
		g, err = discreteAdjoint(sol, ybar, opt.GradAlpha)
	case Continuous:
		g, err = continuousAdjoint(sol, ybar)
	case Forward:
		g, err = forwardSensitivity(sol, ybar)
	}
	if err != nil {
		return nil, err
	}
	if !opt.GradAlpha {
		g.Alpha = math.NaN()
	}
	if err := checkGradient(g, sol, opt); err != nil {
		return nil, err
	}
	return g, nil
}

// checkGradient reports a NaN or ±Inf derivative, wrapping ErrNotFinite.
func checkGradient(g *Gradient, sol *Solution, opt GradOptions) error {
	what := fmt.Sprintf("fode: %v gradient of the %v solution", opt.Mode, sol.Method)
	if i := firstNonFinite(g.X0); i >= 0 {
		return fmt.Errorf("%s: dL/dx0 component %d = %v: %w", what, i, g.X0[i], ErrNotFinite)
	}
	if i := firstNonFinite(g.Theta); i >= 0 {
		return fmt.Errorf("%s: dL/dtheta component %d = %v: %w", what, i, g.Theta[i], ErrNotFinite)
	}
	if opt.GradAlpha && len(sol.Orders) == 0 && (math.IsNaN(g.Alpha) || math.IsInf(g.Alpha, 0)) {
		return fmt.Errorf("%s: dL/dalpha = %v: %w", what, g.Alpha, ErrNotFinite)
	}
	if i := firstNonFinite(g.Orders); i >= 0 {
		return fmt.Errorf("%s: dL/dalpha_%d = %v: %w", what, i, g.Orders[i], ErrNotFinite)
	}
	if i := firstNonFinite(g.Coeffs); i >= 0 {
		return fmt.Errorf("%s: dL/dc_%d = %v: %w", what, i, g.Coeffs[i], ErrNotFinite)
	}
	return nil
}

func checkGradInput(sol *Solution, ybar []float64, opt GradOptions) error {
	if sol == nil || sol.field == nil {
		return errors.New("fode: gradient of a nil or empty solution")
	}
	if sol.released {
		return errors.New("fode: gradient of a released solution (Solution.Release hands its states back)")
	}
	if opt.Mode < 0 || int(opt.Mode) >= len(gradModeNames) {
		return fmt.Errorf("fode: unknown gradient mode %v", opt.Mode)
	}
	n := sol.Rows * sol.Dim
	if want := len(sol.Times) * n; len(ybar) != want {
		return fmt.Errorf("fode: cotangent of length %d, want %d (%d output times × %d rows × %d)", len(ybar), want, len(sol.Times), sol.Rows, sol.Dim)
	}
	if i := firstNonFinite(ybar); i >= 0 {
		return fmt.Errorf("fode: cotangent component %d (output time %v) = %v: %w", i, sol.Times[i/n], ybar[i], ErrNotFinite)
	}
	if opt.GradAlpha && sol.noFields {
		return errors.New("fode: dL/dalpha of a solution whose field values were released (Solution.ReleaseFieldValues)")
	}
	if opt.GradAlpha && (!sol.Method.Fractional() || opt.Mode != Adjoint) {
		return fmt.Errorf("fode: dL/dalpha needs a fractional method and the adjoint mode, got %v with %v", sol.Method, opt.Mode)
	}
	switch opt.Mode {
	case Continuous:
		if len(sol.Orders) > 0 || (sol.ShortMemory > 0 && sol.ShortMemory < sol.Steps) {
			return errors.New("fode: the continuous adjoint solves the single-term equation with full memory; use the adjoint mode for multi-term and short-memory solves")
		}
		if !sol.Method.Fractional() && sol.Method != Euler && sol.Method != RK4 {
			return fmt.Errorf("fode: the continuous adjoint needs a fixed-step method, got %v", sol.Method)
		}
		for i, w := range sol.outW {
			if w != 0 {
				return fmt.Errorf("fode: the continuous adjoint needs output times on grid points; time %v is not", sol.Times[i])
			}
		}
	case Forward:
		if _, ok := sol.field.(JVPField); !ok {
			return fmt.Errorf("fode: forward-mode gradients need a field with JVP; %T has none", sol.field)
		}
	}
	return nil
}

// gridCotangents spreads the output cotangents onto the grid states they
// were interpolated from, following the linear interpolation of the
// outputs; grid states without an output get no entry.
func gridCotangents(sol *Solution, ybar []float64) map[int][]float64 {
	n := sol.Rows * sol.Dim
	g := make(map[int][]float64)
	// A grid state that gets one whole output cotangent reads it in
	// place (the sweep only reads these rows); a second one copies it.
	shared := make(map[int]bool)
	add := func(j int, w float64, src []float64) {
		row, ok := g[j]
		if !ok && w == 1 {
			g[j], shared[j] = src, true
			return
		}
		if !ok {
			row = make([]float64, n)
			g[j] = row
		}
		if shared[j] {
			row = append([]float64(nil), row...)
			g[j], shared[j] = row, false
		}
		floats.AddScaled(row, w, src)
	}
	for i := range sol.Times {
		src := ybar[i*n : (i+1)*n]
		j, w := sol.outJ[i], sol.outW[i]
		add(j, 1-w, src)
		if w != 0 {
			add(j+1, w, src)
		}
	}
	return g
}
