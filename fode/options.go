package fode

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"

	"github.com/gofde/gofde/internal/finite"
)

// Method selects the time-stepping scheme of Solve. Every method runs on the
// uniform grid t_j = j h, h = T/N, except Dopri5, which adapts its steps.
type Method int

const (
	// Rectangle is the product rectangle rule (fractional forward Euler):
	//   y_n = y_0 + Σ_{j<n} c_{n-1-j} f_j,  c_k = h^α/Γ(α+1) ((k+1)^α - k^α).
	// Explicit, order 1.
	Rectangle Method = iota
	// PECE is the Adams-Bashforth-Moulton predictor-corrector of Diethelm,
	// Ford and Freed: the Rectangle predictor p_n, then the product
	// trapezoid corrector
	//   y_n = y_0 + h^α/Γ(α+2) (f(t_n, p_n) + Σ_{j<n} a_{j,n} f_j),
	//   a_{0,n} = (n-1)^(α+1) - (n-1-α) n^α,
	//   a_{j,n} = (n-j+1)^(α+1) + (n-j-1)^(α+1) - 2 (n-j)^(α+1), 1 ≤ j < n,
	// applied 1+Options.PECE.Correctors times. Order min(2, 1+α) on
	// smooth data.
	PECE
	// GL is the explicit Grünwald-Letnikov scheme in Caputo form
	//   y_n = y_0 + h^α f_{n-1} - Σ_{1≤k≤n} g_k (y_{n-k} - y_0),
	//   g_0 = 1, g_k = (1 - (α+1)/k) g_{k-1}.
	// Order 1.
	GL
	// GLImplicit is the implicit Grünwald-Letnikov scheme: GL with
	// f(t_n, y_n) in place of f_{n-1}. Order 1.
	GLImplicit
	// L1 is the implicit L1 scheme, which discretises the Caputo derivative
	//   D^α y(t_n) ≈ h^-α/Γ(2-α) Σ_{k<n} b_k (y_{n-k} - y_{n-k-1}),
	//   b_k = (k+1)^(1-α) - k^(1-α),
	// and equates it with f(t_n, y_n). Order 2-α for smooth solutions,
	// about 1 for solutions that behave like t^α.
	L1
	// Trapezoid is the implicit product trapezoid rule: the PECE corrector
	// with f(t_n, y_n) in place of f(t_n, p_n). Order up to 2.
	Trapezoid
	// FLMM is Lubich's fractional linear multistep method built on the
	// trapezoid rule: convolution weights ω_k from the generating function
	// ((1+ξ)/(2(1-ξ)))^α, plus starting weights that make the rule exact for
	// t^γ, γ ∈ {kα < 0.95} ∪ {1}:
	//   y_n = y_0 + h^α (Σ_{j≤n} ω_{n-j} f_j + Σ_{j<s} w_{n,j} f_j).
	// Implicit, order 2. It needs α ≥ FLMMMinAlpha: the starting-weight
	// system grows like 1/α and turns singular below.
	//
	// On stiff problems (h^α|λ| ≫ 1) its iterations converge, but the
	// result is inaccurate without any sign of it: the trapezoid generating
	// function does not damp the stiff components, and the error falls only
	// like h^α. On D^α x = -10^6 x, α = 0.5, T = 1 it returns 0.016 with 10
	// steps, 0.0048 with 100 and 4.6e-4 with 10^4, where the exact value is
	// 5.6e-7; GLImplicit and L1 give 5.9e-7 and 5.8e-7 with 10 steps. Use
	// those for stiff problems.
	FLMM
	// Euler is the forward Euler method for α = 1. Order 1.
	Euler
	// RK4 is the classical fourth-order Runge-Kutta method for α = 1.
	RK4
	// Dopri5 is the adaptive Dormand-Prince 5(4) method for α = 1 with
	// error control by Options.Adaptive (safety 0.9, step factor clipped
	// to [0.2, 10]). Order 5.
	Dopri5
)

var methodNames = [...]string{
	Rectangle:  "rect",
	PECE:       "pece",
	GL:         "gl",
	GLImplicit: "gl-implicit",
	L1:         "l1",
	Trapezoid:  "trap",
	FLMM:       "flmm",
	Euler:      "euler",
	RK4:        "rk4",
	Dopri5:     "dopri5",
}

// String returns the method's short name as ParseMethod accepts it.
func (m Method) String() string {
	if m < 0 || int(m) >= len(methodNames) {
		return fmt.Sprintf("Method(%d)", int(m))
	}
	return methodNames[m]
}

// ParseMethod returns the method with the given short name ("rect", "pece",
// "gl", "gl-implicit", "l1", "trap", "flmm", "euler", "rk4", "dopri5").
func ParseMethod(name string) (Method, error) {
	for m, n := range methodNames {
		if n == name {
			return Method(m), nil
		}
	}
	return 0, fmt.Errorf("fode: unknown method %q (want one of %s)", name, strings.Join(methodNames[:], ", "))
}

// Fractional reports whether m solves equations of order α < 1. Euler, RK4
// and Dopri5 are classical methods and require α = 1.
func (m Method) Fractional() bool { return m < Euler }

// Implicit reports whether m solves a nonlinear equation at each step.
func (m Method) Implicit() bool {
	return m == GLImplicit || m == L1 || m == Trapezoid || m == FLMM
}

// Options configures Solve. The zero value is not valid: set at least
// Alpha, T and Steps (or StepSize).
type Options struct {
	// Method is the time-stepping scheme (default Rectangle).
	Method Method
	// Alpha is the order α of the Caputo derivative, 0 < α ≤ 1. It must
	// be zero when Orders is set.
	Alpha float64
	// Orders and Coeffs make the equation multi-term,
	//
	//	Σ_i c_i D^{α_i} x = f(t, x; θ),  0 < α_i ≤ 1,  c_i > 0,
	//
	// with α_i = Orders[i] and c_i = Coeffs[i] (nil Coeffs means every
	// c_i = 1). A distributed-order equation ∫_0^1 w(a) D^a x da = f
	// becomes one through a quadrature (see Quadrature). GL, GLImplicit
	// and L1 solve them; each term's weights are discretised as in the
	// single-term scheme, and the terms share one history sum and one
	// field evaluation per step. At most MaxTerms terms.
	Orders, Coeffs []float64
	// ShortMemory, when M > 0, keeps only the last M steps of the history
	// (the short-memory principle): every weight of a fractional scheme
	// that reaches back more than M steps is dropped, so a step costs
	// O(M) instead of O(m). Zero keeps the full memory; values of at least
	// Steps change nothing. The truncation changes the model, and its
	// error does not decay as t grows; Grad differentiates the truncated
	// scheme exactly. The classical methods have no history and ignore it.
	ShortMemory int
	// StoreFloat32 stores the grid states and the field values that the
	// history sums and the gradient read in float32 (fractional methods;
	// a float64 ring keeps the few recent states a step works on, and the
	// field values of the starting weights stay float64): half the memory
	// of a solve, for models that compute in float32 anyway. Each value is
	// rounded as it is stored and the history sums and the gradient read
	// the rounded values, so the solution and its gradient carry float32
	// round-off (about 1e-7 relative); the gradient is the adjoint of the
	// scheme with the rounding taken as the identity. The reverse sweep
	// of Grad stores its cotangent stream in float32 likewise, and the FFT
	// engine keeps its partial sums in float32 (its block products are
	// float32 matrix products), which adds a few float32 round-offs (a
	// few 1e-7 relative); the steps themselves, the direct sums and the
	// field's arguments stay float64. An explicit method evaluates a
	// Float32Field straight into the store. It needs one of the package's
	// history engines (Direct, FFT or Auto).
	StoreFloat32 bool
	// T is the final time; the solution starts at t = 0.
	T float64
	// Steps is the number N of uniform steps, h = T/N. For Dopri5 it sets
	// the first trial step T/N.
	Steps int
	// StepSize sets N = ceil(T/StepSize) when Steps is zero.
	StepSize float64
	// Times lists the output times, increasing, in (0, T]. Nil means {T}.
	// States between grid points are interpolated linearly; Dopri5 instead
	// shortens its steps to land on every output time.
	Times []float64
	// PECE holds the settings that only PECE reads.
	PECE PECESettings
	// Adaptive holds the error control that only Dopri5 reads.
	Adaptive AdaptiveSettings
	// Iteration holds the fixed-point iteration of the implicit methods
	// (GLImplicit, L1, Trapezoid, FLMM) and of their adjoints.
	Iteration IterationSettings
	// History computes the weighted history sums (default Auto: direct
	// sums for short solves, FFT from a crossover that falls with the
	// width of the state).
	History HistoryEngine
	// Workers bounds the goroutines that evaluate a RowwiseField on
	// slices of the batch: 0 picks GOMAXPROCS, 1 disables parallelism.
	Workers int
	// MaxMemory bounds the bytes Solve may allocate (see Memory); a solve
	// that would need more is refused with an error before anything is
	// allocated. Zero means DefaultMaxMemory.
	MaxMemory int64
}

// withDefaults returns o with every zero setting that has a default
// replaced by it: History Auto, Workers GOMAXPROCS, MaxMemory
// DefaultMaxMemory, Times {T}, Coeffs all ones for a multi-term equation,
// Iteration.Tol 1e-12 and MaxIter 200, Adaptive.RTol and ATol 1e-6 and
// 1e-8 (when both are zero) and MaxSteps 100000. The other zero values
// are the defaults themselves (Method Rectangle, PECE.Correctors 0,
// ShortMemory 0 for the full memory). Invalid values are left for the
// checks to report.
func (o Options) withDefaults() Options {
	if o.History == nil {
		o.History = Auto
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if len(o.Times) == 0 {
		o.Times = []float64{o.T}
	}
	if len(o.Orders) > 0 && o.Coeffs == nil {
		o.Coeffs = ones(len(o.Orders))
	}
	if o.Iteration.Tol == 0 {
		o.Iteration.Tol = 1e-12
	}
	if o.Iteration.MaxIter == 0 {
		o.Iteration.MaxIter = 200
	}
	if o.Adaptive.RTol == 0 && o.Adaptive.ATol == 0 {
		o.Adaptive.RTol, o.Adaptive.ATol = 1e-6, 1e-8
	}
	if o.Adaptive.MaxSteps == 0 {
		o.Adaptive.MaxSteps = 100000
	}
	return o
}

// PECESettings configures the PECE method.
type PECESettings struct {
	// Correctors is the number of corrector iterations after the first:
	// PE(CE)^μ with μ = 1+Correctors. Default 0 (one corrector, the
	// classical scheme); at most MaxCorrectors.
	Correctors int
}

// AdaptiveSettings configures the error control of Dopri5. A step is
// accepted when the root mean square over the components of
// e_i / (ATol + RTol·max(|y_i|, |y'_i|)) is at most 1, where e_i is the
// difference of the embedded fourth- and fifth-order solutions and y, y'
// the states before and after the step.
type AdaptiveSettings struct {
	// RTol and ATol are the relative and absolute tolerances: both
	// positive, or both zero for the defaults 1e-6 and 1e-8.
	RTol, ATol float64
	// MaxSteps bounds the number of steps, accepted and rejected together
	// (default 100000).
	MaxSteps int
}

// IterationSettings configures the fixed-point iterations (accelerated by
// Anderson mixing) that solve the implicit step equations
// y_n = c_n + b h^α f(t_n, y_n) and the coupled starting steps of FLMM,
// and the transposed iterations of their adjoints.
type IterationSettings struct {
	// Tol stops an iteration when the largest change of a component is
	// at most Tol·max(1, |y|∞): absolute for states below 1 in magnitude,
	// relative above (default 1e-12). On stiff problems the change cannot
	// fall below the round-off of the terms summed, about
	// 1e-16·h^α|λ||y|, and a step can then fail at the default Tol
	// (Trapezoid on D^α x = -10^6 x with 10 steps): reduce the step size
	// or loosen Tol.
	Tol float64
	// MaxIter bounds the iterations of one step (default 200); a step
	// that reaches it fails with ErrUnstable.
	MaxIter int
}

// DefaultMaxMemory is the memory budget of Solve when Options.MaxMemory is
// zero: 16 GiB. The memory of one solve is dominated by the stored grid
// states and field values, (Steps+1)·rows·dim·8 bytes each, so at one
// state component it allows about 10^9 steps (fewer for the methods that
// store more arrays), and at 1000 components about 10^6.
const DefaultMaxMemory int64 = 16 << 30

// MaxCorrectors bounds Options.PECE.Correctors: PECE stores every corrected
// iterate, and more than a few correctors do not improve its order.
const MaxCorrectors = 100

// MaxTerms bounds the number of terms of a multi-term equation
// (len(Options.Orders)).
const MaxTerms = 64

// FLMMMinAlpha is the smallest order α that the FLMM method accepts,
// 0.95/6 ≈ 0.1583 (K = 6 starting exponents kα < 0.95). The starting
// weights solve a (K+1)×(K+1) system, K = ⌈0.95/α⌉, whose condition
// number grows steeply as α decreases, and the coupled starting steps
// inherit it. Measured on the linear test problem (T in {0.1, 1, 10},
// 10 to 2000 steps): for α ≥ 0.95/6 every solve converges; for
// 0.1357 ≤ α < 0.95/6 (K = 7) most starting blocks do not converge to the
// default tolerance; the system's condition number is 1.4e16 at α = 0.1
// (singular in float64), and at α = 1e-4 it would have 9500 unknowns.
// Use PECE, L1 or Trapezoid for smaller α.
const FLMMMinAlpha = 0.95 / 6

// ErrNotFinite is wrapped by the errors Solve returns when an input, a
// state or a field value is or becomes NaN or ±Inf, and by the errors Grad
// returns for a non-finite cotangent or derivative. It is the same value
// as optim.ErrNotFinite: one errors.Is check covers a training step.
var ErrNotFinite = finite.ErrNotFinite

// ErrUnstable is wrapped by the errors Solve returns when a step is
// recognisably unstable: an explicit scheme whose state blew up, or an
// implicit step whose fixed-point iteration diverged or did not converge
// within Options.Iteration.MaxIter. The message names the step and its
// time; the remedy is a smaller step size or, for the explicit schemes, an
// implicit method.
//
// An explicit step (Rectangle, PECE, GL, Euler, RK4) is reported when the
// largest state component |y_m|∞ has grown by more than UnstableGrowth
// since the start of a run of steps that each at least doubled it, and
// exceeds UnstableGrowth times the scale
//
//	1 + |y_0|∞ + T^α/Γ(α+1) |f(0, y_0)|∞
//
// (the initial state plus what the initial field value would add over the
// whole interval). A step that resolves the solution changes it by a
// modest factor and ends every such run; an explicit scheme outside its
// stability region multiplies the state by about h^α|λ|/Γ(α+1) per step
// (λ an eigenvalue of the field's Jacobian) and is caught once that growth
// has accumulated to UnstableGrowth, within a few steps when h^α|λ| is
// large. Not caught: an instability that grows by less than a factor 2 per
// step (it reaches ±Inf, reported as ErrNotFinite, or ends at T with a
// large finite state), and the inaccuracy of a stable scheme at a step size
// that does not resolve the solution, in particular of the implicit schemes
// at h^α|λ| ≫ 1 (see FLMM). Dopri5 controls its error instead and reports
// its step limit.
var ErrUnstable = errors.New("unstable step")

// UnstableGrowth is the growth factor of the explicit schemes' stability
// check (see ErrUnstable).
const UnstableGrowth = 1e6

// CheckOptions reports whether o is a valid set of options for Solve on
// its own, before any field or state is known. It checks every group of
// settings, also those that o.Method does not read.
func CheckOptions(o Options) error {
	o = o.withDefaults()
	_, _, err := o.stepping()
	return err
}

// Grid returns the grid t_0 = 0 < t_1 < … < t_N = T that Solve steps on
// with these options: N = Steps, or ⌈T/StepSize⌉ without Steps, and
// t_j = jT/N with t_N = T exactly. It returns an error for options that
// CheckOptions refuses, for Dopri5, which chooses its own grid, and for a
// grid whose solve would need more than Options.MaxMemory even for a
// one-value state.
func (o Options) Grid() ([]float64, error) {
	o = o.withDefaults()
	steps, h, err := o.stepping()
	if err != nil {
		return nil, err
	}
	if o.Method == Dopri5 {
		return nil, errors.New("fode: Grid: method dopri5 chooses its grid while it solves")
	}
	// The least a solve on this grid stores bounds the grid's size.
	if _, err := o.checkMemory(steps, 1, true); err != nil {
		return nil, err
	}
	return uniformGrid(steps, h, o.T), nil
}

// uniformGrid returns t_j = j h for j < steps and t_steps = T.
func uniformGrid(steps int, h, T float64) []float64 {
	g := make([]float64, steps+1)
	for j := range g {
		g[j] = float64(j) * h
	}
	g[steps] = T
	return g
}

// Locate returns where time tau lies on an increasing grid, as Solve's
// outputs use it: the state at tau is y_j + w (y_{j+1} − y_j), with w = 0
// when tau is grid point j (to 1e-9 relative) and j the last point when
// tau lies beyond it.
func Locate(grid []float64, tau float64) (j int, w float64) {
	last := len(grid) - 1
	j = sort.SearchFloat64s(grid, tau) // the first grid point >= tau
	switch {
	case j > last:
		return last, 0
	case math.Abs(grid[j]-tau) <= 1e-9*math.Max(1, math.Abs(tau)):
		return j, 0
	}
	j--
	return j, (tau - grid[j]) / (grid[j+1] - grid[j])
}

// validate checks the options, with their defaults applied, against the
// field and the inputs and returns the step count and the step size.
func (o *Options) validate(f Field, x0, theta []float64) (steps int, h float64, err error) {
	if f == nil {
		return 0, 0, errors.New("fode: nil field")
	}
	if steps, h, err = o.stepping(); err != nil {
		return 0, 0, err
	}
	d := f.Dim()
	if d <= 0 {
		return 0, 0, fmt.Errorf("fode: field dimension %d must be positive", d)
	}
	if len(x0) == 0 || len(x0)%d != 0 {
		return 0, 0, fmt.Errorf("fode: state of length %d does not match the field's dimension %d (want rows*%d)", len(x0), d, d)
	}
	if len(theta) != f.NumParams() {
		return 0, 0, fmt.Errorf("fode: %d parameters given, the field has %d", len(theta), f.NumParams())
	}
	if _, err := o.checkMemory(steps, len(x0), isStateFree(f)); err != nil {
		return 0, 0, err
	}
	if i := firstNonFinite(x0); i >= 0 {
		return 0, 0, fmt.Errorf("fode: initial state component %d = %v: %w", i, x0[i], ErrNotFinite)
	}
	if i := firstNonFinite(theta); i >= 0 {
		return 0, 0, fmt.Errorf("fode: parameter %d = %v: %w", i, theta[i], ErrNotFinite)
	}
	return steps, h, nil
}

// stepping checks the options, with their defaults applied, that do not
// depend on the field and returns the step count and the step size.
func (o *Options) stepping() (steps int, h float64, err error) {
	if o.Method < 0 || int(o.Method) >= len(methodNames) {
		return 0, 0, fmt.Errorf("fode: unknown method %v", o.Method)
	}
	if err := o.checkOrders(); err != nil {
		return 0, 0, err
	}
	if e := o.History; o.StoreFloat32 && e != Auto && e != Direct && e != FFT {
		return 0, 0, fmt.Errorf("fode: float32 storage needs the direct, fft or auto history engine, not %v", e)
	}
	if o.ShortMemory < 0 {
		return 0, 0, fmt.Errorf("fode: short memory = %d steps must not be negative (0 keeps the full memory)", o.ShortMemory)
	}
	if len(o.Orders) == 0 && o.Method == FLMM && o.Alpha < FLMMMinAlpha {
		return 0, 0, fmt.Errorf("fode: method flmm needs alpha >= %.4g (FLMMMinAlpha; its starting weights are ill-conditioned below), got %v: use pece, l1 or trap", FLMMMinAlpha, o.Alpha)
	}
	if !o.Method.Fractional() && o.Alpha != 1 {
		return 0, 0, fmt.Errorf("fode: method %v is classical and needs alpha = 1, got %v", o.Method, o.Alpha)
	}
	if !(o.T > 0) || math.IsInf(o.T, 0) {
		return 0, 0, fmt.Errorf("fode: final time T = %v must be positive and finite", o.T)
	}
	steps = o.Steps
	switch {
	case steps < 0:
		return 0, 0, fmt.Errorf("fode: steps = %d must be at least 1", steps)
	case steps == 0 && o.StepSize == 0 && o.Method == Dopri5:
		// Dopri5 picks its own first step.
	case steps == 0 && o.StepSize == 0:
		return 0, 0, errors.New("fode: steps = 0 and no step size: set Steps >= 1 or StepSize > 0")
	case steps == 0:
		if !(o.StepSize > 0) || math.IsInf(o.StepSize, 0) {
			return 0, 0, fmt.Errorf("fode: step size %v must be positive and finite", o.StepSize)
		}
		n := math.Ceil(o.T/o.StepSize - 1e-9)
		if n > 1<<31 {
			return 0, 0, fmt.Errorf("fode: step size %v gives too many steps for T = %v", o.StepSize, o.T)
		}
		steps = max(int(n), 1)
	}
	if steps > 0 {
		h = o.T / float64(steps)
	}
	if c := o.PECE.Correctors; c < 0 || c > MaxCorrectors {
		return 0, 0, fmt.Errorf("fode: PECE correctors = %d outside [0, %d]", c, MaxCorrectors)
	}
	if a := o.Adaptive; !(a.RTol > 0) || !(a.ATol > 0) || math.IsInf(a.RTol, 0) || math.IsInf(a.ATol, 0) {
		return 0, 0, fmt.Errorf("fode: adaptive rtol = %v, atol = %v: both must be positive and finite (or both zero for the defaults)", a.RTol, a.ATol)
	}
	if o.Adaptive.MaxSteps < 0 {
		return 0, 0, fmt.Errorf("fode: adaptive MaxSteps = %d must not be negative", o.Adaptive.MaxSteps)
	}
	if it := o.Iteration; !(it.Tol > 0) || math.IsInf(it.Tol, 0) || it.MaxIter < 0 {
		return 0, 0, fmt.Errorf("fode: iteration Tol = %v must be positive and finite and MaxIter = %d not negative", it.Tol, it.MaxIter)
	}
	if o.MaxMemory < 0 || o.Workers < 0 {
		return 0, 0, fmt.Errorf("fode: MaxMemory = %d and Workers = %d must not be negative", o.MaxMemory, o.Workers)
	}
	prev := 0.0
	for i, t := range o.Times {
		if !(t > prev) || t > o.T*(1+1e-12) {
			return 0, 0, fmt.Errorf("fode: output time %d = %v must increase strictly within (0, T = %v]", i, t, o.T)
		}
		prev = t
	}
	return steps, h, nil
}

// checkOrders checks the order α, or the orders and coefficients of a
// multi-term equation.
func (o *Options) checkOrders() error {
	if len(o.Orders) == 0 {
		if o.Coeffs != nil {
			return fmt.Errorf("fode: %d coefficients given without orders", len(o.Coeffs))
		}
		if !(o.Alpha > 0 && o.Alpha <= 1) {
			return fmt.Errorf("fode: order alpha = %v outside (0, 1]", o.Alpha)
		}
		return nil
	}
	K := len(o.Orders)
	switch {
	case o.Alpha != 0:
		return fmt.Errorf("fode: alpha = %v and %d orders given: set alpha = 0, the orders replace it", o.Alpha, K)
	case K > MaxTerms:
		return fmt.Errorf("fode: %d orders, at most %d (MaxTerms)", K, MaxTerms)
	case o.Coeffs != nil && len(o.Coeffs) != K:
		return fmt.Errorf("fode: %d orders but %d coefficients", K, len(o.Coeffs))
	case o.Method != GL && o.Method != GLImplicit && o.Method != L1:
		return fmt.Errorf("fode: method %v does not solve multi-term equations: use gl, gl-implicit or l1", o.Method)
	}
	for i, a := range o.Orders {
		if !(a > 0 && a <= 1) {
			return fmt.Errorf("fode: order %d = %v outside (0, 1]", i, a)
		}
	}
	for i, c := range o.Coeffs {
		if !(c > 0) || math.IsInf(c, 0) {
			return fmt.Errorf("fode: coefficient %d = %v must be positive and finite", i, c)
		}
	}
	return nil
}
