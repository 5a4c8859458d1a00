// Package finite holds the library's one sentinel for NaN and ±Inf values
// and a fast scan for them, shared by the solver (fode) and the
// optimizers (optim) so that errors.Is matches either package's errors
// against either package's ErrNotFinite.
package finite

import (
	"errors"
	"math"
)

// ErrNotFinite is the sentinel wrapped by errors about NaN or ±Inf values.
var ErrNotFinite = errors.New("non-finite value")

// First returns the index of the first NaN or ±Inf in x, or -1 when every
// value is finite.
func First(x []float64) int {
	// v·0 is 0 for finite v and NaN for ±Inf and NaN, so one pass of
	// multiply-adds (no branch per value) tells whether to look closer.
	const block = 256
	for lo := 0; lo < len(x); lo += block {
		hi := min(lo+block, len(x))
		b := x[lo:hi]
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(b); i += 4 {
			s0 += b[i] * 0
			s1 += b[i+1] * 0
			s2 += b[i+2] * 0
			s3 += b[i+3] * 0
		}
		for ; i < len(b); i++ {
			s0 += b[i] * 0
		}
		if s0+s1+s2+s3 == 0 {
			continue
		}
		for i, v := range b {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return lo + i
			}
		}
	}
	return -1
}
