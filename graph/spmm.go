package graph

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/ops"
)

// opIDs gives every sparse op a distinct identity for Gorgonia's hashing.
var opIDs atomic.Uint64

// sparse is a CSR pattern with its transpose, shared by the ops built on it.
type sparse struct {
	a    *CSR
	t    *CSR
	perm []int // t.Val[k] = a.Val[perm[k]]
	id   uint64
}

// newSparse validates a and keeps a private copy of it, so a matrix built
// or changed by hand cannot make the ops index out of range.
func newSparse(a *CSR) (*sparse, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	a = a.clone()
	t, perm := a.Transpose()
	return &sparse{a: a, t: t, perm: perm, id: opIDs.Add(1)}, nil
}

// SpMM returns the node A X for a fixed sparse matrix A (r × c) and a
// dense matrix node x of shape (c, d), float64 or float32. Its gradient is
// dL/dX = Aᵀ G, itself a sparse-dense product node, with G = dL/d(A X).
func SpMM(a *CSR, x *G.Node) (*G.Node, error) {
	if a == nil {
		return nil, errors.New("graph: SpMM with a nil matrix")
	}
	sp, err := newSparse(a)
	if err != nil {
		return nil, fmt.Errorf("graph: SpMM: %w", err)
	}
	op, err := newSpmmOp(sp, false, false, x)
	if err != nil {
		return nil, err
	}
	return apply(op, x)
}

// SpMMValues returns the node A(v) X, where A(v) has the sparsity pattern
// of the r × c matrix pattern (its values are ignored) and the values of
// the vector node vals (length NNZ, in pattern's storage order), for a
// dense matrix node x of shape (c, d). Its gradients are
// dL/dX = A(v)ᵀ G and dL/dv_k = ⟨G_{row(k)}, X_{col(k)}⟩, the sum over
// the d columns for the entry k = (row(k), col(k)).
func SpMMValues(pattern *CSR, vals, x *G.Node) (*G.Node, error) {
	if pattern == nil || vals == nil {
		return nil, errors.New("graph: SpMMValues with a nil pattern or values node")
	}
	sp, err := newSparse(pattern)
	if err != nil {
		return nil, fmt.Errorf("graph: SpMMValues: %w", err)
	}
	if vals.Shape().TotalSize() != pattern.NNZ() || vals.Dims() != 1 {
		return nil, fmt.Errorf("graph: SpMMValues: values node of shape %v, want a vector of %d", vals.Shape(), pattern.NNZ())
	}
	op, err := newSpmmOp(sp, false, true, x)
	if err != nil {
		return nil, err
	}
	if vals.Dtype() != op.dtype {
		return nil, fmt.Errorf("graph: SpMMValues: values of dtype %v, x of %v", vals.Dtype(), op.dtype)
	}
	return apply(op, vals, x)
}

func apply(op G.Op, children ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("graph: %v: %w", op, err)
	}
	return n, nil
}

// spmmOp computes op(A) X with op(A) = A or Aᵀ; with vals the matrix's
// values come from the first input, otherwise they are A's own.
type spmmOp struct {
	sp       *sparse
	trans    bool
	withVals bool
	d        int
	dtype    tensor.Dtype
}

func newSpmmOp(sp *sparse, trans, withVals bool, x *G.Node) (*spmmOp, error) {
	if x == nil {
		return nil, errors.New("graph: sparse product with a nil dense node")
	}
	dt := x.Dtype()
	if dt != tensor.Float64 && dt != tensor.Float32 {
		return nil, fmt.Errorf("graph: sparse product with a dense node of dtype %v; want float64 or float32", dt)
	}
	inner := sp.a.Cols
	if trans {
		inner = sp.a.Rows
	}
	s := x.Shape()
	if x.Dims() != 2 || s[0] != inner {
		return nil, fmt.Errorf("graph: sparse product of a %d×%d matrix%s with a dense node of shape %v; want (%d, d)", sp.a.Rows, sp.a.Cols, map[bool]string{true: "ᵀ"}[trans], s, inner)
	}
	return &spmmOp{sp: sp, trans: trans, withVals: withVals, d: s[1], dtype: dt}, nil
}

func (op *spmmOp) mat() (*CSR, []int) {
	if op.trans {
		return op.sp.t, op.sp.perm
	}
	return op.sp.a, nil
}

func (op *spmmOp) Arity() int {
	if op.withVals {
		return 2
	}
	return 1
}

func (op *spmmOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	if op.withVals {
		return hm.NewFnType(G.TensorType{Dims: 1, Of: a}, m, m)
	}
	return hm.NewFnType(m, m)
}

func (op *spmmOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	m, _ := op.mat()
	return tensor.Shape{m.Rows, op.d}, nil
}

// values returns the values of op(A) in op(A)'s storage order.
func (op *spmmOp) values(in []G.Value) ([]float64, error) {
	m, perm := op.mat()
	if !op.withVals {
		return m.Val, nil
	}
	v, err := ops.Float64s(in[0])
	if err != nil {
		return nil, fmt.Errorf("graph: %v: values: %w", op, err)
	}
	if len(v) != op.sp.a.NNZ() {
		return nil, fmt.Errorf("graph: %v: %d values, want %d", op, len(v), op.sp.a.NNZ())
	}
	if perm == nil {
		return v, nil
	}
	tv := make([]float64, len(v))
	for k, p := range perm {
		tv[k] = v[p]
	}
	return tv, nil
}

func (op *spmmOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("graph: %v: %d inputs, want %d", op, len(in), op.Arity())
	}
	vals, err := op.values(in)
	if err != nil {
		return nil, err
	}
	x, err := ops.Float64s(in[len(in)-1])
	if err != nil {
		return nil, fmt.Errorf("graph: %v: dense input: %w", op, err)
	}
	m, _ := op.mat()
	if len(x) != m.Cols*op.d {
		return nil, fmt.Errorf("graph: %v: dense input of %d values, want %d", op, len(x), m.Cols*op.d)
	}
	out := make([]float64, m.Rows*op.d)
	spmm(out, m.Ptr, m.Col, vals, x, op.d, false)
	return ops.NewTensor(op.dtype, tensor.Shape{m.Rows, op.d}, out)
}

func (op *spmmOp) ReturnsPtr() bool     { return false }
func (op *spmmOp) CallsExtern() bool    { return false }
func (op *spmmOp) OverwritesInput() int { return -1 }

func (op *spmmOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "spmm#%d(trans=%v, vals=%v, d=%d)", op.sp.id, op.trans, op.withVals, op.d)
}

func (op *spmmOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *spmmOp) String() string {
	t := ""
	if op.trans {
		t = "ᵀ"
	}
	return fmt.Sprintf("SpMM{%d×%d%s, nnz=%d}", op.sp.a.Rows, op.sp.a.Cols, t, op.sp.a.NNZ())
}

// DiffWRT: differentiable with respect to the values and the dense input.
func (op *spmmOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff returns dX = op(A)ᵀ G (a sparse product node) and, with values,
// dv (an edge-dot node).
func (op *spmmOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("graph: %v: %d inputs, want %d", op, len(inputs), op.Arity())
	}
	back := &spmmOp{sp: op.sp, trans: !op.trans, withVals: op.withVals, d: op.d, dtype: op.dtype}
	if !op.withVals {
		dx, err := apply(back, grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx}, nil
	}
	dx, err := apply(back, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	dv, err := apply(&edgeDotOp{sp: op.sp, trans: op.trans, d: op.d, dtype: op.dtype}, grad, inputs[1])
	if err != nil {
		return nil, err
	}
	return G.Nodes{dv, dx}, nil
}

// DoDiff adds the input gradients into the inputs' existing gradients
// (LispMachine).
func (op *spmmOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if len(inputs) != op.Arity() {
		return fmt.Errorf("graph: %v: %d inputs, want %d", op, len(inputs), op.Arity())
	}
	gout, err := output.Grad()
	if err != nil {
		return fmt.Errorf("graph: %v: output gradient: %w", op, err)
	}
	vals := make([]G.Value, len(inputs))
	for i, in := range inputs {
		vals[i] = in.Value()
	}
	back := &spmmOp{sp: op.sp, trans: !op.trans, withVals: op.withVals, d: op.d, dtype: op.dtype}
	bin := []G.Value{gout}
	if op.withVals {
		bin = []G.Value{vals[0], gout}
	}
	dx, err := back.Do(bin...)
	if err != nil {
		return err
	}
	if err := addGradValue(inputs[len(inputs)-1], dx); err != nil {
		return fmt.Errorf("graph: %v: %w", op, err)
	}
	if op.withVals {
		dv, err := (&edgeDotOp{sp: op.sp, trans: op.trans, d: op.d, dtype: op.dtype}).Do(gout, vals[1])
		if err != nil {
			return err
		}
		if err := addGradValue(inputs[0], dv); err != nil {
			return fmt.Errorf("graph: %v: %w", op, err)
		}
	}
	return nil
}

// edgeDotOp computes, for every stored entry k = (i, j) of A, the
// derivative of ⟨G, op(A) X⟩ with respect to A's value k:
// ⟨G_i, X_j⟩ for op(A) = A and ⟨G_j, X_i⟩ for op(A) = Aᵀ.
type edgeDotOp struct {
	sp    *sparse
	trans bool
	d     int
	dtype tensor.Dtype
}

func (op *edgeDotOp) Arity() int { return 2 }

func (op *edgeDotOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, G.TensorType{Dims: 1, Of: a})
}

func (op *edgeDotOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.sp.a.NNZ()}, nil
}

func (op *edgeDotOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("graph: %v: %d inputs, want 2", op, len(in))
	}
	g, err := ops.Float64s(in[0])
	if err != nil {
		return nil, fmt.Errorf("graph: %v: %w", op, err)
	}
	x, err := ops.Float64s(in[1])
	if err != nil {
		return nil, fmt.Errorf("graph: %v: %w", op, err)
	}
	a := op.sp.a
	if op.trans {
		g, x = x, g
	}
	if len(g) != a.Rows*op.d || len(x) != a.Cols*op.d {
		return nil, fmt.Errorf("graph: %v: inputs of %d and %d values do not fit a %d×%d matrix with d = %d", op, len(g), len(x), a.Rows, a.Cols, op.d)
	}
	e := make([]float64, a.NNZ())
	edgeDots(e, a.Ptr, a.Col, g, x, op.d)
	return ops.NewTensor(op.dtype, tensor.Shape{len(e)}, e)
}

func (op *edgeDotOp) ReturnsPtr() bool     { return false }
func (op *edgeDotOp) CallsExtern() bool    { return false }
func (op *edgeDotOp) OverwritesInput() int { return -1 }

func (op *edgeDotOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "edgedot#%d(trans=%v, d=%d)", op.sp.id, op.trans, op.d)
}

func (op *edgeDotOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *edgeDotOp) String() string { return fmt.Sprintf("EdgeDot{nnz=%d}", op.sp.a.NNZ()) }

// addGradValue adds the value delta into n's gradient.
func addGradValue(n *G.Node, delta G.Value) error {
	d, err := ops.Float64s(delta)
	if err != nil {
		return err
	}
	return addGrad(n, d)
}

// addGrad adds delta into n's gradient.
func addGrad(n *G.Node, delta []float64) error {
	gv, err := n.Grad()
	if err != nil {
		return err
	}
	return ops.AddInto(gv, delta)
}
