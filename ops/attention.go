package ops

import (
	"errors"
	"fmt"
	"hash"
	"slices"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/spmm"
	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/sparse"
)

// AttentionNorm selects how EdgeAttentionWith turns the scores s_k of
// the entries k = (i, j) of a pattern into edge weights w_k.
type AttentionNorm int

const (
	// RowSoftmax normalises each row with a softmax, w_ij = p_ij =
	// exp(s_ij) / Σ_j' exp(s_ij'): every row of A(w) sums to one, and
	// equal scores give the random-walk matrix D⁻¹A of the pattern.
	RowSoftmax AttentionNorm = iota
	// SymSoftmax takes the geometric mean of the two directions' row
	// softmaxes, w_ij = √(p_ij p_ji): A(w) is symmetric, and equal scores
	// give D^-½ A D^-½ of the pattern, which is NormalizeSym's matrix when
	// the pattern is A + I. It needs a symmetric pattern.
	SymSoftmax
)

// String returns "row" or "sym".
func (n AttentionNorm) String() string {
	switch n {
	case RowSoftmax:
		return "row"
	case SymSoftmax:
		return "sym"
	}
	return fmt.Sprintf("AttentionNorm(%d)", int(n))
}

// ParseAttentionNorm parses "row" or "sym".
func ParseAttentionNorm(s string) (AttentionNorm, error) {
	switch s {
	case "row":
		return RowSoftmax, nil
	case "sym":
		return SymSoftmax, nil
	}
	return 0, fmt.Errorf("ops: unknown attention normalisation %q (want row or sym)", s)
}

// EdgeAttention returns the vector node of edge weights, one per stored
// entry k = (i, j) of pattern (a square n × n matrix whose values are
// ignored), of GRAND's scaled dot-product attention normalised over each
// node's neighbours:
//
//	s_k = ⟨K_i, Q_j⟩ / √d_k,   w_k = exp(s_k) / Σ_{k' in row i} exp(s_k'),
//
// for key and query node matrices k and q of shape (n, d_k), typically
// K = X0 W_K and Q = X0 W_Q. Every row of A(w) sums to one. The gradient
// with respect to K and Q is computed by the node's backward ops:
// ∂s = w ⊙ (ḡ - Σ_row w ḡ), dK_i = Σ_k ∂s_k Q_j/√d_k, dQ_j = Σ_k ∂s_k K_i/√d_k.
// It is EdgeAttentionWith and the zero AttentionOptions.
func EdgeAttention(pattern *sparse.CSR, k, q *G.Node) (*G.Node, error) {
	return EdgeAttentionWith(pattern, k, q, AttentionOptions{})
}

// AttentionOptions configures EdgeAttentionWith; the zero value is
// EdgeAttention's row softmax without a mask.
type AttentionOptions struct {
	// Norm turns the scores into weights (RowSoftmax or SymSoftmax).
	Norm AttentionNorm
	// Mask, when not nil, is a vector node of one non-negative multiplier
	// m_k per entry of the pattern, in its storage order, of the keys'
	// dtype: the row softmax becomes p_k = m_k exp(s_k) / Σ_row m exp(s),
	// so m_k = 0 removes entry k and the rest of its row is renormalised
	// (dropout on the attention that keeps every row stochastic). Every
	// row needs a positive multiplier when the node runs. No gradient
	// flows into the mask.
	Mask *G.Node
}

// EdgeAttentionWith is EdgeAttention with the normalisation and mask of
// opt. With SymSoftmax, w_k = √(p_k p_k'), where p is the row softmax of
// the scores s_k = ⟨K_i, Q_j⟩ / √d_k and k' = (j, i) is k's mirror entry;
// the backward pass uses p_k ∂L/∂p_k = ½ (ḡ_k + ḡ_k') w_k, so no weight is
// divided by.
func EdgeAttentionWith(pattern *sparse.CSR, k, q *G.Node, opt AttentionOptions) (*G.Node, error) {
	if pattern == nil || k == nil || q == nil {
		return nil, errors.New("ops: EdgeAttention with a nil pattern or node")
	}
	norm := opt.Norm
	if norm != RowSoftmax && norm != SymSoftmax {
		return nil, fmt.Errorf("ops: EdgeAttention: unknown normalisation %v", norm)
	}
	if err := pattern.Validate(); err != nil {
		return nil, fmt.Errorf("ops: EdgeAttention: %w", err)
	}
	if pattern.Rows != pattern.Cols {
		return nil, fmt.Errorf("ops: EdgeAttention needs a square pattern, got %d×%d", pattern.Rows, pattern.Cols)
	}
	for i := 0; i < pattern.Rows; i++ {
		if pattern.Ptr[i+1] == pattern.Ptr[i] {
			return nil, fmt.Errorf("ops: EdgeAttention: node %d has no neighbours (add self-loops)", i)
		}
	}
	if k.Dims() != 2 || !k.Shape().Eq(q.Shape()) || k.Shape()[0] != pattern.Rows {
		return nil, fmt.Errorf("ops: EdgeAttention: keys %v and queries %v must both be (%d, d_k)", k.Shape(), q.Shape(), pattern.Rows)
	}
	dt := k.Dtype()
	if (dt != tensor.Float64 && dt != tensor.Float32) || q.Dtype() != dt {
		return nil, fmt.Errorf("ops: EdgeAttention: keys of dtype %v, queries of %v; want float64 or float32 for both", dt, q.Dtype())
	}
	if m := opt.Mask; m != nil && (m.Dims() != 1 || m.Shape().TotalSize() != pattern.NNZ() || m.Dtype() != dt) {
		return nil, fmt.Errorf("ops: EdgeAttention: mask of shape %v and dtype %v, want (%d) of %v", m.Shape(), m.Dtype(), pattern.NNZ(), dt)
	}
	sp, err := newSparseMat(pattern, true)
	if err != nil {
		return nil, err
	}
	op := &attnOp{sp: sp, dk: k.Shape()[1], dtype: dt, norm: norm, masked: opt.Mask != nil}
	if norm == SymSoftmax {
		// The pattern is symmetric exactly when its transpose has the same
		// (sorted) pattern; then perm maps each entry to its mirror.
		if !slices.Equal(sp.A.Ptr, sp.T.Ptr) || !slices.Equal(sp.A.Col, sp.T.Col) {
			return nil, errors.New("ops: EdgeAttention: the symmetric normalisation needs a symmetric pattern")
		}
		op.mirror = sp.Perm
	}
	if opt.Mask != nil {
		return apply(op, k, q, opt.Mask)
	}
	return apply(op, k, q)
}

// attnOp computes the edge weights from (K, Q) or (K, Q, mask).
type attnOp struct {
	sp     *sparseMat
	dk     int
	dtype  tensor.Dtype
	norm   AttentionNorm
	masked bool
	mirror []int // SymSoftmax: the index of entry (j, i) for entry (i, j)
}

func (op *attnOp) Arity() int {
	if op.masked {
		return 3
	}
	return 2
}

func (op *attnOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	v := G.TensorType{Dims: 1, Of: a}
	if op.masked {
		return hm.NewFnType(m, m, v, v)
	}
	return hm.NewFnType(m, m, v)
}

func (op *attnOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.sp.A.NNZ()}, nil
}

// weights returns the attention weights w from the inputs (K, Q[, mask]),
// and the row softmax p (the same slice as w for RowSoftmax).
func (op *attnOp) weights(in []G.Value) (k, q, p, w []float64, err error) {
	if len(in) != op.Arity() {
		return nil, nil, nil, nil, fmt.Errorf("ops: %v: %d inputs, want %d", op, len(in), op.Arity())
	}
	if k, err = value.Float64s(in[0]); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("ops: %v: keys: %w", op, err)
	}
	if q, err = value.Float64s(in[1]); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("ops: %v: queries: %w", op, err)
	}
	a, d := op.sp.A, op.dk
	if len(k) != a.Rows*d || len(q) != a.Rows*d {
		return nil, nil, nil, nil, fmt.Errorf("ops: %v: keys of %d and queries of %d values, want %d", op, len(k), len(q), a.Rows*d)
	}
	var mask []float64
	if op.masked {
		if mask, err = value.Float64s(in[2]); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("ops: %v: mask: %w", op, err)
		}
		if len(mask) != a.NNZ() {
			return nil, nil, nil, nil, fmt.Errorf("ops: %v: mask of %d values, want %d", op, len(mask), a.NNZ())
		}
	}
	p, w, err = spmm.AttentionWeights(a.Ptr, a.Col, op.mirror, k, q, mask, d)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("ops: %v: %w", op, err)
	}
	return k, q, p, w, nil
}

func (op *attnOp) Do(in ...G.Value) (G.Value, error) {
	_, _, _, w, err := op.weights(in)
	if err != nil {
		return nil, err
	}
	return value.New(op.dtype, tensor.Shape{len(w)}, w)
}

// grads returns dK and dQ from the inputs (K, Q[, mask]) and dL/dw. With u_k = p_k ∂L/∂p_k
// (ḡ_k w_k for RowSoftmax, ½ (ḡ_k + ḡ_k') w_k for SymSoftmax), the
// softmax's backward pass is ∂L/∂s_k = u_k - p_k Σ_row u.
func (op *attnOp) grads(in []G.Value, gv G.Value) (dk, dq []float64, err error) {
	k, q, p, w, err := op.weights(in)
	if err != nil {
		return nil, nil, err
	}
	g, err := value.Float64s(gv)
	if err != nil || len(g) != len(w) {
		return nil, nil, fmt.Errorf("ops: %v: weight cotangent of %d values, want %d (%v)", op, len(g), len(w), err)
	}
	a := op.sp.A
	dk, dq = spmm.AttentionGrads(a.Ptr, a.Col, op.mirror, k, q, p, w, g, op.dk)
	return dk, dq, nil
}

func (op *attnOp) ReturnsPtr() bool     { return false }
func (op *attnOp) CallsExtern() bool    { return false }
func (op *attnOp) OverwritesInput() int { return -1 }

func (op *attnOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "attn#%d(dk=%d, norm=%v, masked=%v)", op.sp.id, op.dk, op.norm, op.masked)
}

func (op *attnOp) Hashcode() uint32 { return hashOf(op) }

func (op *attnOp) String() string {
	m := ""
	if op.masked {
		m = ", masked"
	}
	return fmt.Sprintf("EdgeAttention{nnz=%d, dk=%d, norm=%v%s}", op.sp.A.NNZ(), op.dk, op.norm, m)
}

// DiffWRT: differentiable with respect to K and Q, not the mask.
func (op *attnOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range min(inputs, 2) {
		d[i] = true
	}
	return d
}

// SymDiff emits two backward nodes, dK and dQ, from (K, Q[, mask], dL/dw);
// the mask gets no gradient.
func (op *attnOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("ops: %v: %d inputs, want %d", op, len(inputs), op.Arity())
	}
	args := append(append(G.Nodes{}, inputs...), grad)
	dk, err := apply(&attnGradOp{fwd: op, which: 0}, args...)
	if err != nil {
		return nil, err
	}
	dq, err := apply(&attnGradOp{fwd: op, which: 1}, args...)
	if err != nil {
		return nil, err
	}
	if op.masked {
		return G.Nodes{dk, dq, nil}, nil
	}
	return G.Nodes{dk, dq}, nil
}

// DoDiff adds dK and dQ into the inputs' gradients (LispMachine).
func (op *attnOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if len(inputs) != op.Arity() {
		return fmt.Errorf("ops: %v: %d inputs, want %d", op, len(inputs), op.Arity())
	}
	g, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: %v: output gradient: %w", op, err)
	}
	vals := make([]G.Value, len(inputs))
	for i, n := range inputs {
		vals[i] = n.Value()
	}
	dk, dq, err := op.grads(vals, g)
	if err != nil {
		return err
	}
	if err := addGrad(inputs[0], dk); err != nil {
		return fmt.Errorf("ops: %v: %w", op, err)
	}
	if err := addGrad(inputs[1], dq); err != nil {
		return fmt.Errorf("ops: %v: %w", op, err)
	}
	return nil
}

// attnGradOp returns dK (which = 0) or dQ (which = 1) of an attnOp from
// (K, Q[, mask], dL/dw).
type attnGradOp struct {
	fwd   *attnOp
	which int
}

func (op *attnGradOp) Arity() int { return op.fwd.Arity() + 1 }

func (op *attnGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	v := G.TensorType{Dims: 1, Of: a}
	if op.fwd.masked {
		return hm.NewFnType(m, m, v, v, m)
	}
	return hm.NewFnType(m, m, v, m)
}

func (op *attnGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.fwd.sp.A.Rows, op.fwd.dk}, nil
}

func (op *attnGradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("ops: %v: %d inputs, want %d", op, len(in), op.Arity())
	}
	dk, dq, err := op.fwd.grads(in[:len(in)-1], in[len(in)-1])
	if err != nil {
		return nil, err
	}
	s := tensor.Shape{op.fwd.sp.A.Rows, op.fwd.dk}
	if op.which == 0 {
		return value.New(op.fwd.dtype, s, dk)
	}
	return value.New(op.fwd.dtype, s, dq)
}

func (op *attnGradOp) ReturnsPtr() bool     { return false }
func (op *attnGradOp) CallsExtern() bool    { return false }
func (op *attnGradOp) OverwritesInput() int { return -1 }

func (op *attnGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "grad%d/", op.which)
	op.fwd.WriteHash(h)
}

func (op *attnGradOp) Hashcode() uint32 { return hashOf(op) }

func (op *attnGradOp) String() string { return fmt.Sprintf("∇%d%v", op.which, op.fwd) }
