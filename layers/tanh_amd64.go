//go:build amd64 && !purego

package layers

import "golang.org/x/sys/cpu"

// tanhAVX2 sets dst[j] = tanh32(src[j]) for j < n; n is a multiple of 4.
//
//go:noescape
func tanhAVX2(dst, src *float32, n int)

var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// tanhVec runs the vector kernel over the whole groups of 4 values and
// returns how many it did.
func tanhVec(dst, src []float32) int {
	n := len(dst) &^ 3
	if !hasAVX2FMA || n == 0 {
		return 0
	}
	_ = src[n-1]
	tanhAVX2(&dst[0], &src[0], n)
	return n
}
