package graph

// StateFreeVJP reports that the field's vector-Jacobian product never reads
// the state: the VJP of f(X) = (Â - I) X is (Âᵀ - I) v for every X. It makes
// LinearDiffusion a fode.StateFreeField, so the rectangle, trapezoid and
// FLMM solvers keep a few recent states instead of all N+1 grid states for
// the gradient, about half the memory of a graph FDE's solve.
func (f *LinearDiffusion) StateFreeVJP() bool { return true }
