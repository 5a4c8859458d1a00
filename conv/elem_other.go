//go:build !amd64 || purego

package conv

// maskPositive32 and addBiasReLU32 have no vector kernels here: they do
// nothing and leave all values to the portable loops.
func maskPositive32(dst, src, mask []float32) int { return 0 }

func addBiasReLU32(s []float32, b float32) int { return 0 }
