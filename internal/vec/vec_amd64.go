//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func narrowAVX2(dst *float32, src *float64, n int)

//go:noescape
func widenAVX2(dst *float64, src *float32, n int)

//go:noescape
func rows32AVX2(d *float64, a float64, x *float32, b float64, y *float32, n int, add bool)

//go:noescape
func maxAbsAVX2(x *float64, n int) (s, m float64)

// narrowVec rounds the leading multiple of 8 values and returns how many
// it did.
func narrowVec(dst []float32, src []float64) int {
	n := len(src) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	narrowAVX2(&dst[0], &src[0], n)
	return n
}

func widenVec(dst []float64, src []float32) int {
	n := len(src) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	widenAVX2(&dst[0], &src[0], n)
	return n
}

func rows32Vec(d []float64, a float64, x []float32, b float64, y []float32, add bool) int {
	n := len(d) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	rows32AVX2(&d[0], a, &x[0], b, &y[0], n, add)
	return n
}

// maxAbsVec returns how many leading values it did, the sum of v·0 over
// them (NaN when one is not finite) and their largest magnitude.
func maxAbsVec(x []float64) (int, float64, float64) {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 {
		return 0, 0, 0
	}
	s, m := maxAbsAVX2(&x[0], n)
	return n, s, m
}
