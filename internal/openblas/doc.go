// Package openblas installs OpenBLAS, through gonum.org/v1/netlib, as the
// process-wide gonum blas32 and blas64 implementation when the program is
// built with the tag "openblas" (cgo and libopenblas needed); without the
// tag it is empty. Importing it for its side effect is enough.
//
// It is a package of its own because it uses cgo, and a Go package that
// uses cgo may not hold Go assembly, which internal/gemm's kernels are.
package openblas
