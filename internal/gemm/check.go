package gemm

import "fmt"

// checkArgs validates dimensions, strides and slice lengths once per call.
// rows/cols are those of the stored (not transposed) matrices.
func checkArgs[T float32 | float64](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat("A", ar, ac, len(a), lda)
	checkMat("B", br, bc, len(b), ldb)
	checkMat("C", m, n, len(c), ldc)
}

func checkMat(name string, rows, cols, length, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: bad stride for %s: ld=%d < cols=%d", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; length < need {
		panic(fmt.Sprintf("gemm: %s too short: len=%d, need %d (%d×%d, ld=%d)", name, length, need, rows, cols, ld))
	}
}

// trivial checks the arguments (see checkArgs) and handles the products
// that need no kernel: an empty C, and k = 0 or alpha = 0, where C =
// beta·C. It reports whether it did the whole product.
func trivial[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) bool {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return true
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return true
	}
	return false
}

// scaleC sets C = beta·C for an m×n block (beta == 0 clears, ignoring NaN).
func scaleC[T float32 | float64](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
