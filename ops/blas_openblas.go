//go:build openblas

package ops

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// With the openblas build tag, Gorgonia's own matrix products (G.Mul and
// the tensor package's) go through OpenBLAS too, like every gonum BLAS
// call. (The convolutions of package conv keep gofde's own shifted-GEMM
// kernels in this build: they were faster than OpenBLAS on those shapes.)
func init() {
	G.Use(netlib.Implementation{})
	tensor.Use(netlib.Implementation{})
}
