// Package layers provides FDE blocks for Gorgonia models and the vector
// fields they integrate.
//
// The fields (MLPField, ConvField) are pure Go on gonum's BLAS: each
// implements fode.Field, fode.RowwiseField and fode.JVPField with
// hand-written vector-Jacobian and Jacobian-vector products, keeps its
// scratch space in pools by size class and allocates nothing per call in steady
// state.
package layers
