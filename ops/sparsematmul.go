package ops

import (
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/spmm"
	"github.com/gofde/gofde/internal/vec"
	"github.com/gofde/gofde/sparse"
)

// SparseMatMul returns the node (X ⊙ M) W for a fixed sparse n × F matrix
// X, such as bag-of-words node features, and a dense weight node w of
// shape (F, h), float32 or float64: the encoder of a graph model, which
// never builds X as a dense matrix. mask is nil (M = 1) or a vector node
// of X.NNZ() multipliers of X's stored values in storage order, of w's
// dtype: input dropout on the sparse values fills it with 0 or 1/keep
// before every training run (see FillDropout). The mask gets no gradient.
//
// The gradient with respect to w is dL/dW = (X ⊙ M)ᵀ G for G = dL/d(XW),
// accumulated over row blocks of X on all cores. Neither pass allocates
// more than X's masked values and, in the backward pass, one F × h
// partial sum per core.
func SparseMatMul(x *sparse.CSR, w, mask *G.Node) (*G.Node, error) {
	if x == nil || w == nil {
		return nil, errors.New("ops: SparseMatMul with a nil matrix or weight node")
	}
	if err := x.Validate(); err != nil {
		return nil, fmt.Errorf("ops: SparseMatMul: %w", err)
	}
	dt := w.Dtype()
	if dt != tensor.Float64 && dt != tensor.Float32 {
		return nil, fmt.Errorf("ops: SparseMatMul: weights of dtype %v; want float64 or float32", dt)
	}
	if s := w.Shape(); w.Dims() != 2 || s[0] != x.Cols {
		return nil, fmt.Errorf("ops: SparseMatMul of a %d×%d matrix with weights of shape %v; want (%d, h)", x.Rows, x.Cols, s, x.Cols)
	}
	if mask != nil {
		if mask.Dims() != 1 || mask.Shape().TotalSize() != x.NNZ() || mask.Dtype() != dt {
			return nil, fmt.Errorf("ops: SparseMatMul: mask of shape %v and dtype %v; want a %v vector of %d (the stored values)", mask.Shape(), mask.Dtype(), dt, x.NNZ())
		}
	}
	op := &featOp{h: w.Shape()[1], dtype: dt, masked: mask != nil, id: opIDs.Add(1), out: new(outBuf), vals: new(maskedVals)}
	if dt == tensor.Float32 {
		// The float32 values alone: X's pattern without its float64 values.
		op.x = &sparse.CSR{Rows: x.Rows, Cols: x.Cols, Ptr: slices.Clone(x.Ptr), Col: slices.Clone(x.Col)}
		op.val32 = make([]float32, x.NNZ())
		vec.Narrow(op.val32, x.Val)
	} else {
		op.x = x.Clone()
	}
	if mask != nil {
		return apply(op, mask, w)
	}
	return apply(op, w)
}

// FillDropout fills mask with an inverted-dropout mask for SparseMatMul:
// each entry is 0 with probability rate and 1/(1-rate) otherwise, drawn
// with uniform, which returns numbers in [0, 1) (for example a
// math/rand/v2 Rand's Float64). rate must lie in [0, 1).
func FillDropout[E float32 | float64](mask []E, rate float64, uniform func() float64) error {
	if !(rate >= 0 && rate < 1) {
		return fmt.Errorf("ops: FillDropout: rate %v outside [0, 1)", rate)
	}
	if uniform == nil {
		return errors.New("ops: FillDropout: nil random source")
	}
	keep := E(1 / (1 - rate))
	for i := range mask {
		mask[i] = 0
		if uniform() >= rate {
			mask[i] = keep
		}
	}
	return nil
}

// featOp computes (X ⊙ M) W; with back it computes (X ⊙ M)ᵀ G instead.
type featOp struct {
	x      *sparse.CSR // X (without Val in a float32 op)
	val32  []float32   // X's values in float32 (float32 ops)
	h      int
	dtype  tensor.Dtype
	masked bool
	back   bool
	id     uint64
	out    *outBuf
	vals   *maskedVals // shared by the product and its backward op
}

// maskedVals is the kept buffer of X's masked values.
type maskedVals struct {
	mu  sync.Mutex // held while a run uses the buffer
	v32 []float32
	v64 []float64
}

// maskedBuf returns the op's buffer for the masked values of X in E and
// the mutex that guards it.
func maskedBuf[E spmm.Float](op *featOp) (*sync.Mutex, *[]E) {
	if b, ok := any(&op.vals.v32).(*[]E); ok {
		return &op.vals.mu, b
	}
	return &op.vals.mu, any(&op.vals.v64).(*[]E)
}

func (op *featOp) Arity() int {
	if op.masked {
		return 2
	}
	return 1
}

func (op *featOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	if op.masked {
		return hm.NewFnType(G.TensorType{Dims: 1, Of: a}, m, m)
	}
	return hm.NewFnType(m, m)
}

func (op *featOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if op.back {
		return tensor.Shape{op.x.Cols, op.h}, nil
	}
	return tensor.Shape{op.x.Rows, op.h}, nil
}

func (op *featOp) Do(in ...G.Value) (G.Value, error) {
	s, _ := op.InferShape()
	out := op.out.output(nil, op.dtype, s)
	if err := op.compute(out, in); err != nil {
		return nil, err
	}
	return out, nil
}

// UsePreallocDo computes into the previous run's output value.
func (op *featOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	if err := op.compute(prealloc, in); err != nil {
		return op.Do(in...)
	}
	return prealloc, nil
}

func (op *featOp) compute(out G.Value, in []G.Value) error {
	if len(in) != op.Arity() {
		return fmt.Errorf("ops: %v: %d inputs, want %d", op, len(in), op.Arity())
	}
	if op.dtype == tensor.Float32 {
		return featCompute(op, out, in, op.val32)
	}
	return featCompute(op, out, in, op.x.Val)
}

func featCompute[E spmm.Float](op *featOp, out G.Value, in []G.Value, val []E) error {
	dense, err := dataOf[E](in[len(in)-1])
	if err != nil {
		return fmt.Errorf("ops: %v: dense input: %w", op, err)
	}
	dst, err := dataOf[E](out)
	if err != nil {
		return fmt.Errorf("ops: %v: output: %w", op, err)
	}
	x := op.x
	inRows, outRows := x.Cols, x.Rows
	if op.back {
		inRows, outRows = outRows, inRows
	}
	if len(dense) != inRows*op.h || len(dst) != outRows*op.h {
		return fmt.Errorf("ops: %v: input of %d and output of %d values, want %d and %d", op, len(dense), len(dst), inRows*op.h, outRows*op.h)
	}
	if op.masked {
		m, err := dataOf[E](in[0])
		if err != nil {
			return fmt.Errorf("ops: %v: mask: %w", op, err)
		}
		if len(m) != len(val) {
			return fmt.Errorf("ops: %v: mask of %d values, want %d", op, len(m), len(val))
		}
		// The masked values go into a kept buffer (nnz values every run,
		// hundreds of megabytes on a large graph).
		mu, keep := maskedBuf[E](op)
		mu.Lock()
		defer mu.Unlock()
		if cap(*keep) < len(val) {
			*keep = make([]E, len(val))
		}
		buf := (*keep)[:len(val)]
		for k, v := range val {
			buf[k] = v * m[k]
		}
		val = buf
	}
	if op.back {
		spmm.TransProduct(dst, x.Ptr, x.Col, val, dense, op.h)
	} else {
		spmm.Product(dst, x.Ptr, x.Col, val, dense, op.h, false)
	}
	return nil
}

func (op *featOp) ReturnsPtr() bool     { return false }
func (op *featOp) CallsExtern() bool    { return false }
func (op *featOp) OverwritesInput() int { return -1 }

func (op *featOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "sparsematmul#%d(back=%v, masked=%v, h=%d)", op.id, op.back, op.masked, op.h)
}

func (op *featOp) Hashcode() uint32 { return hashOf(op) }

func (op *featOp) String() string {
	t := ""
	if op.back {
		t = "ᵀ"
	}
	return fmt.Sprintf("SparseMatMul{%d×%d%s, nnz=%d}", op.x.Rows, op.x.Cols, t, op.x.NNZ())
}

// DiffWRT: the weights are differentiable, the mask is not.
func (op *featOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	if inputs > 0 {
		d[inputs-1] = true
	}
	return d
}

func (op *featOp) backOp() *featOp {
	b := *op
	b.back = !op.back
	b.out = new(outBuf)
	return &b
}

// SymDiff returns dW = (X ⊙ M)ᵀ G, a node of the backward op (and no
// gradient for the mask).
func (op *featOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if op.back {
		return nil, fmt.Errorf("ops: %v: second derivatives are not supported", op)
	}
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("ops: %v: %d inputs, want %d", op, len(inputs), op.Arity())
	}
	if !op.masked {
		dw, err := apply(op.backOp(), grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dw}, nil
	}
	dw, err := apply(op.backOp(), inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{nil, dw}, nil
}

// DoDiff adds dW into the weights' gradient (LispMachine).
func (op *featOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if op.back {
		return fmt.Errorf("ops: %v: second derivatives are not supported", op)
	}
	if len(inputs) != op.Arity() {
		return fmt.Errorf("ops: %v: %d inputs, want %d", op, len(inputs), op.Arity())
	}
	gout, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: %v: output gradient: %w", op, err)
	}
	in := []G.Value{gout}
	if op.masked {
		in = []G.Value{inputs[0].Value(), gout}
	}
	dw, err := op.backOp().Do(in...)
	if err != nil {
		return err
	}
	if err := addGradValue(inputs[len(inputs)-1], dw); err != nil {
		return fmt.Errorf("ops: %v: %w", op, err)
	}
	return nil
}
