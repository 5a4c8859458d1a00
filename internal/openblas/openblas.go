//go:build openblas

package openblas

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// init makes OpenBLAS the process-wide gonum BLAS implementation, so every
// blas32/blas64 user goes through it, and keeps OpenBLAS to one thread per
// call: the library's callers split batches across goroutines themselves,
// and OpenBLAS threads on top of them oversubscribe the cores (measured:
// 2.8x slower on the image example).
func init() {
	C.openblas_set_num_threads(1)
	blas64.Use(netlib.Implementation{})
	blas32.Use(netlib.Implementation{})
}
