//go:build !amd64 || purego

package spmm

// gatherRow32 has no vector kernel on this platform: it does no columns.
func gatherRow32(out, x []float32, d int, cs []int, vs []float32, add bool) int { return 0 }

// widenSub32 has no vector kernel on this platform: it does no values.
func widenSub32(dst []float64, a []float32, x []float64) int { return 0 }

// hasAVX2 is false: no vector kernels on this platform.
const hasAVX2 = false

// sub32 has no vector kernel on this platform: it does no values.
func sub32(dst, x []float32) int { return 0 }
