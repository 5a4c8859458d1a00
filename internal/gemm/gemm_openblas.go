//go:build openblas

package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	// Installs OpenBLAS as gonum's BLAS, one thread per call.
	_ "github.com/gofde/gofde/internal/openblas"
)

// F32 computes C = alpha·op(A)·op(B) + beta·C on row-major float32
// matrices, where op(X) is X or Xᵀ as selected by transA/transB, op(A) is
// m×k, op(B) is k×n and C is m×n; lda, ldb and ldc are the row strides of
// the stored matrices (as in blas32.Gemm with row-major General matrices).
// When beta == 0, C's old contents are ignored (even NaN); k == 0 gives
// C = beta·C.
//
// The caller guarantees valid dimensions, strides (at least the stored
// width) and slice lengths; they are checked once per call and violations
// panic. In this build (tag openblas) it calls OpenBLAS's cblas_sgemm.
func F32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if trivial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	netlib.Implementation{}.Sgemm(tr(transA), tr(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// F64 is F32 for float64 matrices (OpenBLAS cblas_dgemm in this build).
func F64(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if trivial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	netlib.Implementation{}.Dgemm(tr(transA), tr(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Name returns "openblas": OpenBLAS serves F32 and F64 in this build.
func Name() string { return "openblas" }

func tr(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
