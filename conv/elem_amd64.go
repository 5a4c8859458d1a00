//go:build amd64 && !purego

package conv

import "golang.org/x/sys/cpu"

// maskPositiveAVX2 sets dst[j] = src[j] where mask[j] > 0 and 0
// elsewhere, for j < n; n is a multiple of 8.
//
//go:noescape
func maskPositiveAVX2(dst, src, mask *float32, n int)

// addBiasReLUAVX2 sets s[j] = max(s[j]+b, 0) for j < n, keeping NaN; n
// is a multiple of 8.
//
//go:noescape
func addBiasReLUAVX2(s *float32, b float32, n int)

var hasAVX2 = cpu.X86.HasAVX2

// maskPositive32 runs the vector kernel over the whole groups of 8 and
// returns how many values it did.
func maskPositive32(dst, src, mask []float32) int {
	n := len(dst) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_, _ = src[n-1], mask[n-1]
	maskPositiveAVX2(&dst[0], &src[0], &mask[0], n)
	return n
}

// addBiasReLU32 is maskPositive32's counterpart for addBias with relu.
func addBiasReLU32(s []float32, b float32) int {
	n := len(s) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	addBiasReLUAVX2(&s[0], b, n)
	return n
}
