package graph

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/ops"
)

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
func EdgeAttention(pattern *CSR, k, q *G.Node) (*G.Node, error) {
	if pattern == nil || k == nil || q == nil {
		return nil, errors.New("graph: EdgeAttention with a nil pattern or node")
	}
	if err := pattern.Validate(); err != nil {
		return nil, fmt.Errorf("graph: EdgeAttention: %w", err)
	}
	if pattern.Rows != pattern.Cols {
		return nil, fmt.Errorf("graph: EdgeAttention needs a square pattern, got %d×%d", pattern.Rows, pattern.Cols)
	}
	for i := 0; i < pattern.Rows; i++ {
		if pattern.Ptr[i+1] == pattern.Ptr[i] {
			return nil, fmt.Errorf("graph: EdgeAttention: node %d has no neighbours (add self-loops)", i)
		}
	}
	if k.Dims() != 2 || !k.Shape().Eq(q.Shape()) || k.Shape()[0] != pattern.Rows {
		return nil, fmt.Errorf("graph: EdgeAttention: keys %v and queries %v must both be (%d, d_k)", k.Shape(), q.Shape(), pattern.Rows)
	}
	dt := k.Dtype()
	if (dt != tensor.Float64 && dt != tensor.Float32) || q.Dtype() != dt {
		return nil, fmt.Errorf("graph: EdgeAttention: keys of dtype %v, queries of %v; want float64 or float32 for both", dt, q.Dtype())
	}
	sp, err := newSparse(pattern, true)
	if err != nil {
		return nil, err
	}
	op := &attnOp{sp: sp, dk: k.Shape()[1], dtype: dt}
	return apply(op, k, q)
}

// attnOp computes the edge weights from (K, Q).
type attnOp struct {
	sp    *sparse
	dk    int
	dtype tensor.Dtype
}

func (op *attnOp) Arity() int { return 2 }

func (op *attnOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, G.TensorType{Dims: 1, Of: a})
}

func (op *attnOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.sp.a.NNZ()}, nil
}

// weights returns the attention weights from K and Q.
func (op *attnOp) weights(kv, qv G.Value) (k, q, w []float64, err error) {
	if k, err = ops.Float64s(kv); err != nil {
		return nil, nil, nil, fmt.Errorf("graph: %v: keys: %w", op, err)
	}
	if q, err = ops.Float64s(qv); err != nil {
		return nil, nil, nil, fmt.Errorf("graph: %v: queries: %w", op, err)
	}
	a, d := op.sp.a, op.dk
	if len(k) != a.Rows*d || len(q) != a.Rows*d {
		return nil, nil, nil, fmt.Errorf("graph: %v: keys of %d and queries of %d values, want %d", op, len(k), len(q), a.Rows*d)
	}
	w = make([]float64, a.NNZ())
	edgeDots(w, a.Ptr, a.Col, k, q, d)
	scale := 1 / math.Sqrt(float64(d))
	for i := 0; i < a.Rows; i++ {
		row := w[a.Ptr[i]:a.Ptr[i+1]]
		m := math.Inf(-1)
		for j := range row {
			row[j] *= scale
			m = max(m, row[j])
		}
		s := 0.0
		for j, v := range row {
			row[j] = math.Exp(v - m)
			s += row[j]
		}
		for j := range row {
			row[j] /= s
		}
	}
	return k, q, w, nil
}

func (op *attnOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("graph: %v: %d inputs, want 2", op, len(in))
	}
	_, _, w, err := op.weights(in[0], in[1])
	if err != nil {
		return nil, err
	}
	return ops.NewTensor(op.dtype, tensor.Shape{len(w)}, w)
}

// grads returns dK and dQ from (K, Q, dL/dw).
func (op *attnOp) grads(kv, qv, gv G.Value) (dk, dq []float64, err error) {
	k, q, w, err := op.weights(kv, qv)
	if err != nil {
		return nil, nil, err
	}
	g, err := ops.Float64s(gv)
	if err != nil || len(g) != len(w) {
		return nil, nil, fmt.Errorf("graph: %v: weight cotangent of %d values, want %d (%v)", op, len(g), len(w), err)
	}
	a, d := op.sp.a, op.dk
	scale := 1 / math.Sqrt(float64(d))
	dk, dq = make([]float64, len(k)), make([]float64, len(q))
	for i := 0; i < a.Rows; i++ {
		lo, hi := a.Ptr[i], a.Ptr[i+1]
		s := 0.0
		for e := lo; e < hi; e++ {
			s += w[e] * g[e]
		}
		ki, dki := k[i*d:(i+1)*d], dk[i*d:(i+1)*d]
		for e := lo; e < hi; e++ {
			ds := w[e] * (g[e] - s) * scale
			j := a.Col[e]
			qj, dqj := q[j*d:(j+1)*d], dq[j*d:(j+1)*d]
			for c := range d {
				dki[c] += ds * qj[c]
				dqj[c] += ds * ki[c]
			}
		}
	}
	return dk, dq, nil
}

func (op *attnOp) ReturnsPtr() bool     { return false }
func (op *attnOp) CallsExtern() bool    { return false }
func (op *attnOp) OverwritesInput() int { return -1 }

func (op *attnOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "attn#%d(dk=%d)", op.sp.id, op.dk) }

func (op *attnOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *attnOp) String() string {
	return fmt.Sprintf("EdgeAttention{nnz=%d, dk=%d}", op.sp.a.NNZ(), op.dk)
}

// DiffWRT: differentiable with respect to K and Q.
func (op *attnOp) DiffWRT(inputs int) []bool { return []bool{true, true}[:min(inputs, 2)] }

// SymDiff emits two backward nodes, dK and dQ, from (K, Q, dL/dw).
func (op *attnOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("graph: %v: %d inputs, want 2", op, len(inputs))
	}
	dk, err := apply(&attnGradOp{fwd: op, which: 0}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	dq, err := apply(&attnGradOp{fwd: op, which: 1}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dk, dq}, nil
}

// DoDiff adds dK and dQ into the inputs' gradients (LispMachine).
func (op *attnOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if len(inputs) != 2 {
		return fmt.Errorf("graph: %v: %d inputs, want 2", op, len(inputs))
	}
	g, err := output.Grad()
	if err != nil {
		return fmt.Errorf("graph: %v: output gradient: %w", op, err)
	}
	dk, dq, err := op.grads(inputs[0].Value(), inputs[1].Value(), g)
	if err != nil {
		return err
	}
	if err := addGrad(inputs[0], dk); err != nil {
		return fmt.Errorf("graph: %v: %w", op, err)
	}
	if err := addGrad(inputs[1], dq); err != nil {
		return fmt.Errorf("graph: %v: %w", op, err)
	}
	return nil
}

// attnGradOp returns dK (which = 0) or dQ (which = 1) of an attnOp.
type attnGradOp struct {
	fwd   *attnOp
	which int
}

func (op *attnGradOp) Arity() int { return 3 }

func (op *attnGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, G.TensorType{Dims: 1, Of: a}, m)
}

func (op *attnGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.fwd.sp.a.Rows, op.fwd.dk}, nil
}

func (op *attnGradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("graph: %v: %d inputs, want 3", op, len(in))
	}
	dk, dq, err := op.fwd.grads(in[0], in[1], in[2])
	if err != nil {
		return nil, err
	}
	s := tensor.Shape{op.fwd.sp.a.Rows, op.fwd.dk}
	if op.which == 0 {
		return ops.NewTensor(op.fwd.dtype, s, dk)
	}
	return ops.NewTensor(op.fwd.dtype, s, dq)
}

func (op *attnGradOp) ReturnsPtr() bool     { return false }
func (op *attnGradOp) CallsExtern() bool    { return false }
func (op *attnGradOp) OverwritesInput() int { return -1 }

func (op *attnGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "grad%d/", op.which)
	op.fwd.WriteHash(h)
}

func (op *attnGradOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *attnGradOp) String() string { return fmt.Sprintf("∇%d%v", op.which, op.fwd) }
