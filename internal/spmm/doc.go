// Package spmm holds the sparse-matrix kernels behind the sparse
// Gorgonia ops (package ops), the graph diffusion fields (package graph)
// and sparse.CSR's MulDense: the sparse-dense product and its transpose,
// the product in float32 for a float64 state, the edge dot products that
// are the gradient of a product with respect to the matrix's values, and
// the edge-attention weights and their gradients.
//
// # Preconditions
//
// The kernels take raw CSR arrays (ptr, col, val, as in sparse.CSR) and
// row-major dense matrices, and trust them: the callers validate the
// matrix once (sparse.CSR.Validate) and keep a private copy of it, so the
// kernels check nothing per call. The arrays must form a valid CSR matrix:
// len(ptr) = rows+1, ptr[0] = 0, ptr non-decreasing, ptr[rows] = len(col)
// = len(val), every column index a row of the dense operand, and the
// dense slices hold exactly the values their shapes ask for. Arrays that
// break this make a kernel panic with an index out of range, never read
// past a slice: the AVX2 row gather checks its column indices before it
// reads without bounds checks.
//
// # Products
//
// A product Y = A X with A in CSR form and X dense (row-major, d columns)
// walks A's rows; each output row is the sum of the rows of X that the
// row's entries point to, scaled by the entries. The rows are split into
// blocks of about equal work (stored entries plus rows) that run on all
// cores, and within a row the output is accumulated eight columns at a
// time in registers, so each gathered row of X is read once per eight
// columns from the L1 cache and the output row is written once. A large
// graph's X does not fit the caches: the random gathers of X's rows
// dominate, which float32 halves. On amd64 with AVX2 and FMA (and without
// the purego build tag) the float32 rows go through an assembly kernel.
package spmm
