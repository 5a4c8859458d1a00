package fode

// Field is a vector field f(t, x; θ) evaluated on a batch of states.
//
// A state is a flat row-major slice holding rows samples of Dim() values
// each, so len(x) = rows*Dim(). θ is a flat parameter vector of length
// NumParams(). The solvers never modify θ or x through a Field.
//
// Both methods must be safe for concurrent use by several goroutines as
// long as the calls write disjoint destination slices; implementations keep
// per-call scratch space in a sync.Pool or on the stack, never in the
// receiver.
type Field interface {
	// Dim returns the number of state components of one sample.
	Dim() int
	// NumParams returns the length of θ.
	NumParams() int
	// Eval writes f(t, x; θ) into dst (len(dst) = len(x)).
	Eval(dst []float64, t float64, x, theta []float64) error
	// VJP computes the vector-Jacobian products of f at (t, x; θ) with v:
	// it overwrites xbar with (∂f/∂x)ᵀ v and adds (∂f/∂θ)ᵀ v into thetabar.
	// Either destination may be nil when that product is not needed.
	VJP(xbar, thetabar []float64, t float64, x, theta, v []float64) error
}

// RowwiseField is implemented by fields whose value on one sample depends
// only on that sample's state (every per-sample neural field, but not a
// graph diffusion, where the whole graph is one sample). The solvers split
// the rows of such a field across goroutines when the batch is large enough
// for that to pay.
type RowwiseField interface {
	Field
	// Rowwise reports whether sample i of f(t, x) depends on row i of x alone.
	Rowwise() bool
}

// StateFreeField is implemented by fields whose vector-Jacobian products
// do not read the state: VJP(xbar, thetabar, t, x, θ, v) is the same for
// every x. That holds for a field linear in x without parameters, such as
// a graph diffusion f(X) = (Â - I) X, but not for one with parameters
// multiplying x (∂f/∂θ then depends on x).
//
// For such a field the fractional schemes that sum stored field values
// and read no state after its step (Rectangle, Trapezoid, FLMM; not PECE,
// GL, GLImplicit or L1) keep only the few states the step needs, the
// initial state and those at the output times instead of all N+1 grid
// states, which halves the memory of a solve; the gradient then passes
// the initial state as x to every VJP. Solution.State returns nil for the
// grid states that were not kept.
type StateFreeField interface {
	Field
	// StateFreeVJP reports whether VJP ignores its x argument.
	StateFreeVJP() bool
}

// Float32Field is implemented by fields that can write their values and
// vector-Jacobian products rounded to float32. A solve that stores its
// field values in float32 (Options.StoreFloat32) with an explicit method
// evaluates such a field straight into the store, and the gradient of a
// state-free one (see StateFreeField) writes its float32 cotangent stream
// the same way: no float64 copy of the value or cotangent is formed, which
// saves a state-sized buffer and passes over the state to round it. A
// graph diffusion that multiplies in float32 computes them in float32
// arithmetic to begin with.
type Float32Field interface {
	Field
	// EvalFloat32 writes f(t, x; θ), rounded to float32, into dst
	// (len(dst) = len(x)).
	EvalFloat32(dst []float32, t float64, x, theta []float64) error
	// VJPFloat32 is VJP with the product (∂f/∂x)ᵀ v rounded to float32
	// into xbar; (∂f/∂θ)ᵀ v is added into thetabar (when not nil) as VJP
	// adds it.
	VJPFloat32(xbar []float32, thetabar []float64, t float64, x, theta, v []float64) error
}
