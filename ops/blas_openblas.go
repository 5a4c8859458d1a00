//go:build openblas

package ops

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// With the openblas build tag, Gorgonia's own matrix products (G.Mul and
// the tensor package's) go through OpenBLAS too, like every gonum BLAS
// call and the convolutions of package conv.
func init() {
	G.Use(netlib.Implementation{})
	tensor.Use(netlib.Implementation{})
}
