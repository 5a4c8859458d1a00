// Package graph provides graph neural fractional differential equations
// on Gorgonia: a CSR sparse matrix type and a sparse-dense product node,
// a sparse-features × weights node with input dropout on the stored values
// (SparseMatMul, FillDropout), adjacency normalisations, graph diffusion vector fields for the FDE
// block, an edge-attention node, and a loader for graph data sets in the
// gnn-benchmark .npz layout with random and fixed splits.
//
// # Model decomposition
//
// The state of a graph FDE is the whole node-feature matrix X (nodes ×
// features), one sample of dimension nodes·features. Two fields are
// provided:
//
//   - LinearDiffusion: f(X) = (Â - I) X on a fixed normalised adjacency Â
//     (no parameters), the GRAND-l / FROND F-GRAND-l linear diffusion.
//   - EdgeDiffusion: f(X; w) = (A(w) - I) X, where A(w) has a fixed sparsity
//     pattern and its nnz values w ARE the field's parameter vector θ.
//
// The attention variant is the composition of two nodes: EdgeAttention
// computes edge weights once from the encoded features X0 (the FDE's
// initial state) and learnable projections, w = softmax_{j∈N(i)}
// (⟨X0 W_K)_i, (X0 W_Q)_j⟩/√d_k); then one FDE node solves
// D^α X = (A(w) - I) X with θ = w. The FDE node's adjoint returns dL/dw,
// which Gorgonia carries back through EdgeAttention into W_K, W_Q and X0.
// Neither node knows about the other.
//
// # Large graphs
//
// The sparse products split the rows into blocks of equal work that run
// on all cores and allocate nothing per product; LinearDiffusion can
// compute them in float32 (SetFloat32), which halves the memory traffic of
// the random row gathers that dominate a graph too large for the caches.
package graph
