// Package sparse provides CSR, a sparse matrix in compressed sparse row
// form: the adjacency matrices and sparse node features of the graph
// models (package graph) and the fixed matrices of the sparse Gorgonia
// ops (package ops).
//
// A CSR of shape Rows × Cols holds the entries of row i as Val[k] at
// column Col[k] for Ptr[i] ≤ k < Ptr[i+1]. It is valid (CSR.Validate) when
//
//   - the shape is not negative and len(Ptr) = Rows+1;
//   - Ptr[0] = 0, Ptr never decreases and Ptr[Rows] = len(Col) = len(Val);
//   - every column index lies in [0, Cols), and within a row the column
//     indices strictly increase (no duplicate entries).
//
// NewCSR and FromCOO build valid matrices from arrays, sorting each row
// and summing duplicates, and reject non-finite values. A matrix built or
// changed by hand is never trusted: every method that computes with it
// validates it first and reports an invalid matrix as an error (or a nil
// result), never with a panic or a read out of range.
//
// The functions and methods return new matrices and never modify their
// arguments; MulDense runs its product on all cores for a large matrix.
package sparse
