//go:build !openblas

package gemm

// F32 computes C = alpha·op(A)·op(B) + beta·C on row-major float32
// matrices, where op(X) is X or Xᵀ as selected by transA/transB, op(A) is
// m×k, op(B) is k×n and C is m×n; lda, ldb and ldc are the row strides of
// the stored matrices (as in blas32.Gemm with row-major General matrices).
// When beta == 0, C's old contents are ignored (even NaN); k == 0 gives
// C = beta·C.
//
// The caller guarantees valid dimensions, strides (at least the stored
// width) and slice lengths; they are checked once per call and violations
// panic. F32 is safe for concurrent use on disjoint C and never starts
// goroutines.
func F32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmNative(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// F64 is F32 for float64 matrices. It uses this package's float64 kernels
// (6×8 AVX2 or 8×16 AVX-512) on amd64 CPUs that have them, and the
// portable Go kernel elsewhere: serial and allocation-free everywhere.
func F64(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if trivial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	best64.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Name returns the implementation serving F32 in this build and on this
// CPU: "gofde-avx512", "gofde-avx2" or "gofde-go" (the portable kernel).
// F64 uses the same kernel family where available (see F64).
func Name() string { return best32.name }
