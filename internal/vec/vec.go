// Package vec holds the element-wise float loops of the solver that the Go
// compiler leaves scalar: rounding float64 to float32 and widening back,
// the widening weighted sums of float32 rows into float64, and the
// finiteness check with the largest magnitude. On amd64 with AVX2 and FMA
// they run four to eight values per instruction; elsewhere (and with the
// purego build tag) they are plain loops with the same results.
package vec

import "math"

// Narrow writes float32(src[i]) into dst[i]; dst holds at least len(src)
// values.
func Narrow(dst []float32, src []float64) {
	dst = dst[:len(src)]
	i := narrowVec(dst, src)
	for ; i < len(src); i++ {
		dst[i] = float32(src[i])
	}
}

// Widen writes float64(src[i]) into dst[i]; dst holds at least len(src)
// values.
func Widen(dst []float64, src []float32) {
	dst = dst[:len(src)]
	i := widenVec(dst, src)
	for ; i < len(src); i++ {
		dst[i] = float64(src[i])
	}
}

// Rows32 writes a·x + b·y into d, or adds it to d with add, widening x and
// y to float64; x and y hold at least len(d) values. Every element is
// rounded as a·x[i] + b·y[i] computed in float64 (with a fused
// multiply-add on the vector path, so results may differ from the
// portable loop in the last bit).
func Rows32(d []float64, a float64, x []float32, b float64, y []float32, add bool) {
	x, y = x[:len(d)], y[:len(d)]
	i := rows32Vec(d, a, x, b, y, add)
	if add {
		for ; i < len(d); i++ {
			d[i] += a*float64(x[i]) + b*float64(y[i])
		}
		return
	}
	for ; i < len(d); i++ {
		d[i] = a*float64(x[i]) + b*float64(y[i])
	}
}

// MaxAbsFinite reports whether every value of x is finite and, if so, the
// largest magnitude |x|∞ (0 for an empty x).
func MaxAbsFinite(x []float64) (finite bool, m float64) {
	i, s, m := maxAbsVec(x)
	for ; i < len(x); i++ {
		s += x[i] * 0 // 0 for finite values, NaN for ±Inf and NaN
		m = max(m, math.Abs(x[i]))
	}
	if s != 0 {
		return false, 0
	}
	return true, m
}
