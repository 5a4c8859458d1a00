// Package fode solves Caputo fractional differential equations
//
//	D^α x(t) = f(t, x(t); θ),  x(0) = x0,  0 < α ≤ 1,
//
// on [0, T], and differentiates their solutions with respect to x0, θ and
// α. D^α is the Caputo derivative of order α; at α = 1 the equation is the
// ordinary differential equation x' = f. Every scheme discretises the
// equivalent Volterra integral equation
//
//	x(t) = x0 + 1/Γ(α) ∫_0^t (t-s)^(α-1) f(s, x(s); θ) ds,
//
// whose kernel gives the solution a memory of its whole past: step n sums
// over all n earlier steps.
//
// # Fields
//
// The right-hand side is a Field. Its contract:
//
//   - A state is a batch: rows samples of Dim() values each, row-major in
//     one slice of length rows·Dim(); θ has NumParams() values.
//   - Eval(dst, t, x, θ) writes f(t, x; θ) into dst, of the length of x.
//   - VJP(xbar, thetabar, t, x, θ, v) overwrites xbar with (∂f/∂x)ᵀ v and
//     adds (∂f/∂θ)ᵀ v into thetabar; either may be nil when that product
//     is not needed. The gradients call only VJP, never a Jacobian, and
//     keep no activation of the field beyond one evaluation.
//   - Neither method modifies x or θ, and both are safe for concurrent use
//     when the calls write disjoint destinations (scratch space lives in
//     a sync.Pool or on the stack, never in the receiver).
//   - An error aborts the solve or the gradient and is returned wrapped
//     with the step and time; a NaN or ±Inf value is reported likewise
//     (ErrNotFinite).
//
// A field that implements RowwiseField, each sample depending on its own
// row alone, is evaluated on slices of the batch in parallel
// (Options.Workers). A JVPField also computes Jacobian-vector products, for
// the Forward gradient mode.
//
// # Schemes
//
// Options.Method selects the scheme. The fractional ones run on the uniform
// grid t_j = j h, h = T/N, and accept any 0 < α ≤ 1 (FLMM needs
// α ≥ FLMMMinAlpha). With their orders of convergence on smooth problems:
//
//	Rectangle   product rectangle rule (explicit)              1
//	PECE        Adams-Bashforth-Moulton predictor-corrector    min(2, 1+α)
//	Trapezoid   product trapezoid rule (implicit)              up to 2
//	GL          Grünwald-Letnikov (explicit)                   1
//	GLImplicit  Grünwald-Letnikov (implicit)                   1
//	L1          L1 scheme (implicit)                           2-α
//	FLMM        Lubich's trapezoidal fractional linear         2
//	            multistep method with starting weights (implicit)
//
// Each is x0 plus weighted history sums over the stored field values or
// states, and one step loop serves them all; the Method constants state
// their weights. Solutions that behave like t^α near t = 0 (the typical
// case: the Mittag-Leffler solution of the linear equation) lower the
// observed orders; L1, for example, then converges with order about 1. The
// implicit schemes solve each step by Anderson-accelerated fixed-point
// iteration (Options.Iteration). The classical methods need α = 1 and are
// explicit Runge-Kutta tableaus: Euler (order 1), RK4 (order 4) and
// Dopri5, the adaptive Dormand-Prince 5(4) pair with error control by
// Options.Adaptive. Each group of one-method settings, Options.PECE,
// Options.Adaptive and Options.Iteration, documents its defaults.
//
// # Multi-term and distributed-order equations
//
// Options.Orders and Options.Coeffs turn the left-hand side into
// Σ_i c_i D^{α_i} x with 0 < α_i ≤ 1 and c_i > 0. GL, GLImplicit and L1
// discretise each term as they discretise D^α alone,
// c_i D^{α_i} x(t_m) ≈ μ_i (x_m - a^i_m x_0 - Σ_{j<m} k^i_{m-j} x_j), and
// the step solves Σ_i μ_i (…) = f: with M = Σ_i μ_i and ρ_i = μ_i/M,
//
//	x_m = Σ_i ρ_i a^i_m x_0 + Σ_{j<m} (Σ_i ρ_i k^i_{m-j}) x_j + f/M,
//
// one history sum over the states with the combined kernel and one field
// evaluation per step whatever the number of terms, and 1/M the combined
// leading coefficient (f = f_{m-1} for GL, f(t_m, x_m) for the implicit
// two). One term with c = 1 is the single-term scheme; equal orders are
// the single-term equation with coefficient Σ c_i; at α_i = 1 the schemes
// are Euler (GL) and backward Euler for (Σ c_i) x' = f. A distributed-order
// equation ∫_0^1 w(a) D^a x da = f is a multi-term one through Quadrature
// (Gauss-Legendre nodes); Softmax maps free logits to coefficients.
//
// # Short memory
//
// Options.ShortMemory = M keeps only the last M steps of the history:
// every scheme's weights that reach back more than M steps are dropped
// (for GL the sum Σ_{k≤M} g_k (x_{m-k} - x_0), for L1 the last M
// differences), so the direct history sums cost O(M) per step instead of
// O(m), and Auto picks them. It changes the model: on D^½ x = -x over
// T = 10 the truncated solutions decay much faster than the
// Mittag-Leffler function, whose slow tail is the memory. Grad
// differentiates the truncated scheme exactly.
//
// # Gradients
//
// Grad returns dL/dx0, dL/dθ and, on request (GradOptions.GradAlpha), dL/dα
// for a loss L of the states at the output times, given the cotangents
// dL/dx(t_i). Its modes (GradOptions.Mode):
//
//   - Adjoint (the default) is the exact discrete adjoint of the scheme
//     that produced the solution, its step loop transposed and run
//     backward over the same history sums: the gradient of the computed
//     solution, exact to round-off, whatever the step size. For the
//     Runge-Kutta methods it rebuilds each step's stages from the stored
//     start state; for Dopri5 this is the adaptive checkpoint adjoint over
//     the accepted steps.
//   - Continuous discretises the continuous adjoint equation instead: an
//     approximation of the gradient of the exact solution, first order in
//     h, for the fixed-step methods with output times on grid points.
//   - Forward propagates tangent sensitivities through the scheme, one
//     tangent per component of x0 and θ; it gives the same values as
//     Adjoint and is meant for checking. The field must implement
//     JVPField.
//
// dL/dα (fractional methods, Adjoint mode, a field that does not depend on
// α) comes from the same reverse sweep and the closed-form α-derivatives
// of the scheme's weights; for a multi-term equation the same sweep gives
// dL/dα_i and dL/dc_i (Gradient.Orders and Gradient.Coeffs) from the
// derivatives of the combined weights by every order and coefficient.
//
// # History sums
//
// The memory term makes a direct solve cost O(N²) per state component.
// Options.History selects the HistoryEngine that computes the weighted
// history sums, forward and, transposed, in the adjoint: Direct sums them
// term by term; FFT uses the blocked fast-convolution algorithm of Hairer,
// Lubich and Schlichte, O(N log² N), equal to the direct sums up to
// round-off; Auto, the default, uses the direct sums for short solves and
// FFT from a crossover step count that falls as the width of the state
// (rows × Dim) grows, because the direct sums' cost grows with the width
// and the FFT's overhead per step does not.
//
// # Memory
//
// A solve stores every grid state and, for most schemes, every field
// value: O(N·rows·Dim) memory, and Grad needs at most about as much again
// for its cotangent stream. Options.Memory estimates (from above) the
// bytes of a solve, and Solve refuses, before allocating anything, a solve
// whose estimate exceeds Options.MaxMemory (DefaultMaxMemory, 16 GiB, when
// zero); Dopri5, whose step count is not known in advance, checks its
// stored states as it goes. Solution.Release hands the stored states and
// the outputs back for reuse once neither is needed any more,
// Solution.ReleaseFieldValues hands back the field values, which only a
// gradient by the orders reads, before a Grad without one, and
// Solution.ReleaseOutputs the outputs (and a state-free solve's newest
// states), which Grad never reads; Gradient.Release hands back dL/dx0.
// The buffers come from pools of four size
// classes per octave, so reuse rounds a buffer up by less than a quarter;
// buffers of tens of megabytes and more are kept at their exact size
// across garbage collections until FreeBuffers or a few minutes without
// reuse. A field that implements
// StateFreeField (its VJP does not read the state, as for a
// parameter-free linear field) lets Rectangle, Trapezoid and FLMM keep
// only a few recent states and those at the output times: about half the
// memory of a solve. Options.StoreFloat32 keeps the stored states and
// field values in float32, halving them again, for models that compute in
// float32; the explicit methods then evaluate a Float32Field straight
// into the float32 store, and its gradient forms the cotangents straight
// in their float32 stream.
//
// # Errors and precision
//
// Solve and Grad return an error for invalid options, for shapes that do
// not match the field and for implicit steps that do not converge. A NaN
// or ±Inf in an input, a state, a field value or a derivative is an error
// too, naming the step where a state or field value first became
// non-finite, and it wraps ErrNotFinite (test with errors.Is).
//
// # Stability
//
// An explicit scheme (Rectangle, PECE, GL, Euler, RK4) with a step too
// large for a stiff problem (h^α|λ| above about 1, λ an eigenvalue of the
// field's Jacobian) multiplies the error by about h^α|λ|/Γ(α+1) per step.
// Solve checks the largest state component after every explicit step and
// fails, with an error that names the step and wraps ErrUnstable, once it
// has grown by more than UnstableGrowth = 10^6 over steps that each at
// least doubled it and exceeds 10^6 times the initial scale
// 1 + |x0|∞ + T^α/Γ(α+1)|f(0, x0)|∞. A step that resolves the solution
// grows it by far less than a factor 2, so solves that resolve even fast
// growth pass; on D^α x = -10^6 x, T = 1, 10 steps, every explicit scheme
// fails within three steps. Not caught: instabilities that grow by less
// than a factor 2 per step, which end in a large finite result or in
// ±Inf (ErrNotFinite); PECE on D^α x = -100 x, α = 0.5 with 5000 steps
// returns 1e289. An implicit step whose iteration diverges or does not
// converge within Options.Iteration.MaxIter also wraps ErrUnstable. The
// implicit schemes are stable at any step, but at h^α|λ| ≫ 1 their
// results can be far off without an error (see FLMM): check a stiff solve
// by halving the step.
//
// All states, parameters, weights and derivatives are float64 (the stored
// states and field values are float32 with Options.StoreFloat32), and a Field
// receives and returns float64 slices. A field may compute in float32
// internally; the solution and its gradient then carry float32 round-off,
// and the implicit schemes need Options.Iteration.Tol loosened to about
// that level for their fixed-point iterations to converge.
//
// MittagLeffler evaluates the two-parameter Mittag-Leffler function
// E_{a,b}(z); the linear equation D^α x = -λ x has the exact solution
// x(t) = x0 E_{α,1}(-λ t^α).
package fode
