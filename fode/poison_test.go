package fode

// Every test of the package runs with all buffers recycled, however
// small, and filled with NaN when handed out, so that a scheme or adjoint
// that reads a value it never wrote fails (with ErrNotFinite or a wrong
// result) instead of passing on zeros.
func init() {
	minPooled = 1
	poisonRecycled = true
}
