package ops

import (
	"errors"
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/csrpair"
	"github.com/gofde/gofde/internal/spmm"
	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/sparse"
)

// sparseMat is a fixed matrix with its transpose, shared by the ops built
// on it (a product, its backward product and edge dots), and the identity
// they hash with.
type sparseMat struct {
	*csrpair.Pair
	id uint64
}

// newSparseMat validates a and keeps a private copy of it with its
// transpose (see csrpair.New), so a matrix built or changed by hand cannot
// make the ops index out of range.
func newSparseMat(a *sparse.CSR, withPerm bool) (*sparseMat, error) {
	p, err := csrpair.New(a, withPerm)
	if err != nil {
		return nil, err
	}
	return &sparseMat{Pair: p, id: opIDs.Add(1)}, nil
}

// SpMM returns the node A X for a fixed sparse matrix A (r × c) and a
// dense matrix node x of shape (c, d), float64 or float32. Its gradient is
// dL/dX = Aᵀ G, itself a sparse-dense product node, with G = dL/d(A X).
func SpMM(a *sparse.CSR, x *G.Node) (*G.Node, error) {
	if a == nil {
		return nil, errors.New("ops: SpMM with a nil matrix")
	}
	sp, err := newSparseMat(a, false)
	if err != nil {
		return nil, fmt.Errorf("ops: SpMM: %w", err)
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
func SpMMValues(pattern *sparse.CSR, vals, x *G.Node) (*G.Node, error) {
	if pattern == nil || vals == nil {
		return nil, errors.New("ops: SpMMValues with a nil pattern or values node")
	}
	sp, err := newSparseMat(pattern, true)
	if err != nil {
		return nil, fmt.Errorf("ops: SpMMValues: %w", err)
	}
	if vals.Shape().TotalSize() != pattern.NNZ() || vals.Dims() != 1 {
		return nil, fmt.Errorf("ops: SpMMValues: values node of shape %v, want a vector of %d", vals.Shape(), pattern.NNZ())
	}
	op, err := newSpmmOp(sp, false, true, x)
	if err != nil {
		return nil, err
	}
	if vals.Dtype() != op.dtype {
		return nil, fmt.Errorf("ops: SpMMValues: values of dtype %v, x of %v", vals.Dtype(), op.dtype)
	}
	return apply(op, vals, x)
}

// apply applies op to the children, naming the op in an error.
func apply(op G.Op, children ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("ops: %v: %w", op, err)
	}
	return n, nil
}

// spmmOp computes op(A) X with op(A) = A or Aᵀ; with vals the matrix's
// values come from the first input, otherwise they are A's own.
type spmmOp struct {
	sp       *sparseMat
	trans    bool
	withVals bool
	d        int
	dtype    tensor.Dtype
}

func newSpmmOp(sp *sparseMat, trans, withVals bool, x *G.Node) (*spmmOp, error) {
	if x == nil {
		return nil, errors.New("ops: sparse product with a nil dense node")
	}
	dt := x.Dtype()
	if dt != tensor.Float64 && dt != tensor.Float32 {
		return nil, fmt.Errorf("ops: sparse product with a dense node of dtype %v; want float64 or float32", dt)
	}
	inner := sp.A.Cols
	if trans {
		inner = sp.A.Rows
	}
	s := x.Shape()
	if x.Dims() != 2 || s[0] != inner {
		return nil, fmt.Errorf("ops: sparse product of a %d×%d matrix%s with a dense node of shape %v; want (%d, d)", sp.A.Rows, sp.A.Cols, map[bool]string{true: "ᵀ"}[trans], s, inner)
	}
	return &spmmOp{sp: sp, trans: trans, withVals: withVals, d: s[1], dtype: dt}, nil
}

func (op *spmmOp) mat() (*sparse.CSR, []int) {
	if op.trans {
		return op.sp.T, op.sp.Perm
	}
	return op.sp.A, nil
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
		return fmt.Errorf("ops: %v: %d inputs, want %d", op, len(in), op.Arity())
	}
	m, perm := op.mat()
	switch op.dtype {
	case tensor.Float32:
		a32, t32 := op.sp.Vals32()
		vals := a32
		if op.trans {
			vals = t32
		}
		return productOf(op, out, in, m, perm, vals)
	default:
		return productOf(op, out, in, m, perm, m.Val)
	}
}

func productOf[E spmm.Float](op *spmmOp, out G.Value, in []G.Value, m *sparse.CSR, perm []int, own []E) error {
	x, err := dataOf[E](in[len(in)-1])
	if err != nil {
		return fmt.Errorf("ops: %v: dense input: %w", op, err)
	}
	if len(x) != m.Cols*op.d {
		return fmt.Errorf("ops: %v: dense input of %d values, want %d", op, len(x), m.Cols*op.d)
	}
	dst, err := dataOf[E](out)
	if err != nil || len(dst) != m.Rows*op.d {
		return fmt.Errorf("ops: %v: output value does not hold %d %v values", op, m.Rows*op.d, op.dtype)
	}
	vals := own
	if op.withVals {
		v, err := dataOf[E](in[0])
		if err != nil {
			return fmt.Errorf("ops: %v: values: %w", op, err)
		}
		if len(v) != op.sp.A.NNZ() {
			return fmt.Errorf("ops: %v: %d values, want %d", op, len(v), op.sp.A.NNZ())
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
	spmm.Product(dst, m.Ptr, m.Col, vals, x, op.d, false)
	return nil
}

// dataOf returns the backing slice of a dense tensor of element type E.
func dataOf[E spmm.Float](v G.Value) ([]E, error) {
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

func (op *spmmOp) Hashcode() uint32 { return hashOf(op) }

func (op *spmmOp) String() string {
	t := ""
	if op.trans {
		t = "ᵀ"
	}
	return fmt.Sprintf("SpMM{%d×%d%s, nnz=%d}", op.sp.A.Rows, op.sp.A.Cols, t, op.sp.A.NNZ())
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
		return nil, fmt.Errorf("ops: %v: %d inputs, want %d", op, len(inputs), op.Arity())
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
		return fmt.Errorf("ops: %v: %d inputs, want %d", op, len(inputs), op.Arity())
	}
	gout, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: %v: output gradient: %w", op, err)
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
		return fmt.Errorf("ops: %v: %w", op, err)
	}
	if op.withVals {
		dv, err := (&edgeDotOp{sp: op.sp, trans: op.trans, d: op.d, dtype: op.dtype}).Do(gout, vals[1])
		if err != nil {
			return err
		}
		if err := addGradValue(inputs[0], dv); err != nil {
			return fmt.Errorf("ops: %v: %w", op, err)
		}
	}
	return nil
}

// addGradValue adds the value delta into n's gradient.
func addGradValue(n *G.Node, delta G.Value) error {
	d, err := value.Float64s(delta)
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
	return value.AddInto(gv, delta)
}
