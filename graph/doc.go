// Package graph provides graph neural fractional differential equations
// on Gorgonia: graph diffusion vector fields for the FDE block,
// adjacency normalisations, and a loader for graph data sets in the
// gnn-benchmark .npz layout with random and fixed splits.
//
// The sparse matrix type is sparse.CSR (package sparse); the Gorgonia
// nodes built on it, the sparse-dense product (SpMM, SpMMValues), the
// sparse-features encoder with input dropout (SparseMatMul, FillDropout)
// and the edge attention (EdgeAttention, EdgeAttentionWith), are in
// package ops.
//
// # Model decomposition
//
// The state of a graph FDE is the whole node-feature matrix X (nodes ×
// features), one sample of dimension nodes·features. The fields are
//
//   - LinearDiffusion: f(X) = (Â - I) X on a fixed normalised adjacency Â
//     (NormalizeSym or NormalizeRW of Symmetrize's adjacency; no
//     parameters), the GRAND-l / FROND F-GRAND-l linear diffusion.
//   - EdgeDiffusion: f(X; w) = (A(w) - I) X, where A(w) has a fixed sparsity
//     pattern and its nnz values w ARE the field's parameter vector θ.
//   - AttentionDiffusion: f(X) = (A(w(X)) - I) X with attention weights
//     recomputed from the state at every evaluation (GRAND-nl).
//
// The attention variant with fixed weights is the composition of two
// nodes: ops.EdgeAttention computes edge weights once from the encoded
// features X0 (the FDE's initial state) and learnable projections, w =
// softmax_{j∈N(i)} (⟨X0 W_K)_i, (X0 W_Q)_j⟩/√d_k); then one FDE node
// solves D^α X = (A(w) - I) X with θ = w (an EdgeDiffusion). The FDE
// node's adjoint returns dL/dw, which Gorgonia carries back through
// EdgeAttention into W_K, W_Q and X0. Neither node knows about the other.
//
// # Large graphs
//
// The sparse products split the rows into blocks of equal work that run
// on all cores and allocate nothing per product; LinearDiffusion can
// compute them in float32 (SetFloat32), which halves the memory traffic of
// the random row gathers that dominate a graph too large for the caches.
package graph
