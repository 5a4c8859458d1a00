// Package ops provides Gorgonia operations for neural fractional
// differential equations: one solve of D^α x = f(t, x; θ) as one graph
// node (FDE, FDETerms), whose gradient is computed by the fode adjoint
// rather than by differentiating an unrolled solver graph; the batched
// convolution, pooling and ReLU nodes of the image models (Conv2D,
// Conv2DReLU, MaxPool2D, ReLU), whose arithmetic is package conv; the
// sparse nodes of the graph models; and two element-wise nodes that write
// into kept outputs where Gorgonia's own allocate a tensor per run:
// AddBias (x + b along the rows, for Gorgonia's BroadcastAdd of a bias)
// and Mask (x ⊙ m for a dropout mask that gets no gradient).
//
// # Sparse ops
//
// The sparse ops multiply a fixed sparse matrix (a sparse.CSR, which they
// validate and of which they keep a private copy) with dense float64 or
// float32 nodes, on all cores:
//
//   - SpMM: A X, with the gradient dL/dX = Aᵀ G, itself a sparse product
//     node. SpMMValues: A(v) X for a values node v on A's sparsity
//     pattern, whose gradient with respect to v is an edge-dot node,
//     ⟨G_i, X_j⟩ for the entry (i, j).
//   - SparseMatMul: (X ⊙ M) W for sparse node features X, dense weights W
//     and an optional mask M on X's stored values (input dropout, see
//     FillDropout): the encoder of a graph model, which never builds X as
//     a dense matrix.
//   - EdgeAttention and EdgeAttentionWith: one weight per stored entry of
//     a square pattern, GRAND's scaled dot-product attention of key and
//     query nodes normalised over each node's neighbours (a row softmax,
//     or its symmetric form; see AttentionNorm), with an optional mask.
//
// The graph diffusion fields of package graph are built on these nodes
// and on the same kernels.
//
// # Output values
//
// The FDE, convolution, pooling, ReLU, AddBias and Mask ops keep their
// output tensor from one run of a machine to the next instead of
// allocating a new one (a TapeMachine's Reset drops the last run's
// values), and SpMM and SparseMatMul compute into the output value that
// the machine passes them from the last run: a node's value is
// overwritten by the node's next run, so copy it to keep it.
package ops
