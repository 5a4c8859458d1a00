package graph

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/ops"
)

// opIDs gives every sparse op a distinct identity for Gorgonia's hashing.
var opIDs atomic.Uint64

// sparse is a CSR matrix with its transpose, shared by the ops built on
// it. When the matrix is symmetric and only its own values are used (no
// values node), t is a itself and perm is nil, which halves the memory of
// a normalised adjacency.
type sparse struct {
	a    *CSR
	t    *CSR
	perm []int // t.Val[k] = a.Val[perm[k]]; nil when t == a
	id   uint64

	once32   sync.Once
	a32, t32 []float32 // float32 copies of a.Val and t.Val, made on first use
}

// newSparse validates a and keeps a private copy of it, so a matrix built
// or changed by hand cannot make the ops index out of range. withPerm
// keeps the permutation that maps values on a's pattern to values on the
// transpose's, which a product with a values node needs.
func newSparse(a *CSR, withPerm bool) (*sparse, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	a = a.clone()
	t, perm := a.Transpose()
	sp := &sparse{a: a, t: t, perm: perm, id: opIDs.Add(1)}
	if !withPerm && sameCSR(a, t) {
		sp.t, sp.perm = a, nil
	}
	return sp, nil
}

// sameCSR reports whether a and b hold the same matrix.
func sameCSR(a, b *CSR) bool {
	return a.Rows == b.Rows && a.Cols == b.Cols && slices.Equal(a.Ptr, b.Ptr) &&
		slices.Equal(a.Col, b.Col) && slices.Equal(a.Val, b.Val)
}

// vals32 returns the float32 values of a and of its transpose.
func (sp *sparse) vals32() (a32, t32 []float32) {
	sp.once32.Do(func() {
		sp.a32 = make([]float32, len(sp.a.Val))
		narrow(sp.a32, sp.a.Val)
		sp.t32 = sp.a32
		if sp.t != sp.a {
			sp.t32 = make([]float32, len(sp.t.Val))
			narrow(sp.t32, sp.t.Val)
		}
	})
	return sp.a32, sp.t32
}

// SpMM returns the node A X for a fixed sparse matrix A (r × c) and a
// dense matrix node x of shape (c, d), float64 or float32. Its gradient is
// dL/dX = Aᵀ G, itself a sparse-dense product node, with G = dL/d(A X).
func SpMM(a *CSR, x *G.Node) (*G.Node, error) {
	if a == nil {
		return nil, errors.New("graph: SpMM with a nil matrix")
	}
	sp, err := newSparse(a, false)
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
	sp, err := newSparse(pattern, true)
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

// product computes op(A) X into out (a dense tensor of the output shape)
// in the dtype of the inputs, with op(A)'s values from in[0] when the op
// has a values input.
func (op *spmmOp) product(out G.Value, in []G.Value) error {
	if len(in) != op.Arity() {
		return fmt.Errorf("graph: %v: %d inputs, want %d", op, len(in), op.Arity())
	}
	m, perm := op.mat()
	switch op.dtype {
	case tensor.Float32:
		a32, t32 := op.sp.vals32()
		vals := a32
		if op.trans {
			vals = t32
		}
		return productOf(op, out, in, m, perm, vals)
	default:
		return productOf(op, out, in, m, perm, m.Val)
	}
}

func productOf[E float](op *spmmOp, out G.Value, in []G.Value, m *CSR, perm []int, own []E) error {
	x, err := dataOf[E](in[len(in)-1])
	if err != nil {
		return fmt.Errorf("graph: %v: dense input: %w", op, err)
	}
	if len(x) != m.Cols*op.d {
		return fmt.Errorf("graph: %v: dense input of %d values, want %d", op, len(x), m.Cols*op.d)
	}
	dst, err := dataOf[E](out)
	if err != nil || len(dst) != m.Rows*op.d {
		return fmt.Errorf("graph: %v: output value does not hold %d %v values", op, m.Rows*op.d, op.dtype)
	}
	vals := own
	if op.withVals {
		v, err := dataOf[E](in[0])
		if err != nil {
			return fmt.Errorf("graph: %v: values: %w", op, err)
		}
		if len(v) != op.sp.a.NNZ() {
			return fmt.Errorf("graph: %v: %d values, want %d", op, len(v), op.sp.a.NNZ())
		}
		vals = v
		if perm != nil {
			tv := make([]E, len(v))
			for k, p := range perm {
				tv[k] = v[p]
			}
			vals = tv
		}
	}
	spmmPar(dst, m.Ptr, m.Col, vals, x, op.d, false)
	return nil
}

// dataOf returns the backing slice of a dense tensor of element type E.
func dataOf[E float](v G.Value) ([]E, error) {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("value of type %T, want a dense tensor", v)
	}
	d, ok := t.Data().([]E)
	if !ok {
		return nil, fmt.Errorf("tensor of dtype %v, want %T elements", t.Dtype(), *new(E))
	}
	return d, nil
}

func (op *spmmOp) Do(in ...G.Value) (G.Value, error) {
	m, _ := op.mat()
	out := tensor.New(tensor.WithShape(m.Rows, op.d), tensor.Of(op.dtype))
	if err := op.product(out, in); err != nil {
		return nil, err
	}
	return out, nil
}

// UsePreallocDo computes the product into prealloc, the output value of
// the previous run, so that a training loop does not allocate it again.
func (op *spmmOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	if err := op.product(prealloc, in); err != nil {
		return op.Do(in...)
	}
	return prealloc, nil
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
