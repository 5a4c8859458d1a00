package ops

import (
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/conv"
	"github.com/gofde/gofde/internal/par"
)

// AddBias returns the node y = x + b with the bias added to every row,
//
//	y[i, j] = x[i, j] + b[j],
//
// for x of shape (n, h) and the vector b of shape (h), both float32 or both
// float64 (a bias of shape (1, h) is not accepted: pass the vector). Its
// gradients are
//
//	∂L/∂x = ∂L/∂y (the cotangent node itself, no copy),
//	∂L/∂b[j] = Σ_i ∂L/∂y[i, j] (the column sums of the cotangent),
//
// the column sums summed in float64 whatever the dtype. The output and the
// column sums are written into values kept from one run to the next (so a
// run's output is overwritten by the next run); large inputs are split
// over the rows on GOMAXPROCS goroutines. It replaces
// G.BroadcastAdd(x, reshaped b, nil, []byte{0}), which copies the bias
// into a new n × h tensor and allocates its output on every run.
func AddBias(x, b *G.Node) (*G.Node, error) {
	if x == nil || b == nil {
		return nil, errors.New("ops: AddBias: nil input or bias")
	}
	if x.Dims() != 2 || x.Shape().TotalSize() == 0 {
		return nil, fmt.Errorf("ops: AddBias: input of shape %v; want a non-empty matrix (n, h)", x.Shape())
	}
	h := x.Shape()[1]
	if b.Dims() != 1 || b.Shape()[0] != h {
		return nil, fmt.Errorf("ops: AddBias: bias of shape %v for an input of shape %v; want the vector (%d)", b.Shape(), x.Shape(), h)
	}
	if err := sameFloat("AddBias", x.Dtype(), b); err != nil {
		return nil, err
	}
	y, err := G.ApplyOp(&biasOp{shape: x.Shape().Clone(), dt: x.Dtype(), out: new(outBuf)}, x, b)
	if err != nil {
		return nil, fmt.Errorf("ops: AddBias: %w", err)
	}
	return y, nil
}

// biasOp is x + b along the rows, from inputs (x, b); with grad set it is
// the bias gradient, from the input (dy): db[j] = Σ_i dy[i, j].
type biasOp struct {
	shape tensor.Shape // (n, h): x, y and dy
	dt    tensor.Dtype
	grad  bool
	out   *outBuf

	mu   sync.Mutex // guards part
	part []float64  // the column sums' per-goroutine partial sums
}

func (op *biasOp) Arity() int {
	if op.grad {
		return 1
	}
	return 2
}

func (op *biasOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	v := G.TensorType{Dims: 1, Of: a}
	if op.grad {
		return hm.NewFnType(m, v)
	}
	return hm.NewFnType(m, v, m)
}

func (op *biasOp) outShape() tensor.Shape {
	if op.grad {
		return tensor.Shape{op.shape[1]}
	}
	return op.shape.Clone()
}

func (op *biasOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.outShape(), nil }
func (op *biasOp) ReturnsPtr() bool                               { return false }
func (op *biasOp) CallsExtern() bool                              { return false }
func (op *biasOp) OverwritesInput() int                           { return -1 }
func (op *biasOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "addbias(%v,%v,grad=%v)", op.shape, op.dt, op.grad)
}
func (op *biasOp) Hashcode() uint32 { return hashOf(op) }
func (op *biasOp) String() string {
	if op.grad {
		return "∇AddBias"
	}
	return "AddBias"
}

func (op *biasOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo writes the result into prealloc when it fits, otherwise
// into the op's kept output.
func (op *biasOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if err := op.check(vals); err != nil {
		return nil, err
	}
	out := op.out.output(prealloc, op.dt, op.outShape())
	var err error
	if op.dt == tensor.Float32 {
		err = biasRun[float32](op, out.Data().([]float32), vals, false)
	} else {
		err = biasRun[float64](op, out.Data().([]float64), vals, false)
	}
	if err != nil {
		return nil, fmt.Errorf("ops: %v: %w", op, err)
	}
	return out, nil
}

// check verifies the number, shapes and layout of the input values.
func (op *biasOp) check(vals []G.Value) error {
	if len(vals) != op.Arity() {
		return fmt.Errorf("ops: %v: %d inputs, want %d", op, len(vals), op.Arity())
	}
	shapes := []tensor.Shape{op.shape, {op.shape[1]}}
	for i, v := range vals {
		if err := contiguousOf(v, i, op.dt, shapes[i]); err != nil {
			return fmt.Errorf("ops: %v: %w", op, err)
		}
	}
	return nil
}

// contiguousOf checks that the value v, input i, is a contiguous tensor of
// the dtype and shape.
func contiguousOf(v G.Value, i int, dt tensor.Dtype, shape tensor.Shape) error {
	d, err := dense(v, fmt.Sprintf("input %d", i))
	if err != nil {
		return err
	}
	switch {
	case d.Dtype() != dt:
		return fmt.Errorf("input %d of dtype %v, want %v", i, d.Dtype(), dt)
	case !d.Shape().Eq(shape):
		return fmt.Errorf("input %d of shape %v, want %v", i, d.Shape(), shape)
	case d.RequiresIterator():
		return fmt.Errorf("input %d is a non-contiguous view", i)
	}
	return nil
}

// biasRun computes the op into o: the forward sum, or the column sums of
// the cotangent (added into o when add is set).
func biasRun[E conv.Float](op *biasOp, o []E, vals []G.Value, add bool) error {
	in, err := data[E](vals...)
	if err != nil {
		return err
	}
	n, h := op.shape[0], op.shape[1]
	if op.grad {
		op.mu.Lock()
		defer op.mu.Unlock()
		colSums(o, in[0], n, h, add, &op.part)
		return nil
	}
	addRows(o, in[0], in[1], n, h)
	return nil
}

// addRows sets o[i, j] = x[i, j] + b[j] for the n × h row-major o and x.
func addRows[E conv.Float](o, x, b []E, n, h int) {
	b = b[:h]
	par.For(n, rowWorkers(n, h), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			oi := o[i*h : (i+1)*h]
			xi := x[i*h : (i+1)*h]
			xi, bi := xi[:len(oi)], b[:len(oi)]
			for j := range oi {
				oi[j] = xi[j] + bi[j]
			}
		}
	})
}

// colSums sets (or, with add, increments) dst[j] by Σ_i g[i, j] for the
// n × h row-major g, summed in float64: every goroutine sums its rows into
// its own h partial sums in *part (grown as needed and kept), which are
// then added up in goroutine order.
func colSums[E conv.Float](dst, g []E, n, h int, add bool, part *[]float64) {
	p := rowWorkers(n, h)
	if cap(*part) < p*h {
		*part = make([]float64, p*h)
	}
	ps := (*part)[:p*h]
	par.For(n, p, func(k, lo, hi int) {
		acc := ps[k*h : (k+1)*h]
		clear(acc)
		for i := lo; i < hi; i++ {
			gi := g[i*h : (i+1)*h]
			gi = gi[:len(acc)]
			for j, v := range gi {
				acc[j] += float64(v)
			}
		}
	})
	dst = dst[:h]
	for j := range dst {
		s := ps[j]
		for k := 1; k < p; k++ {
			s += ps[k*h+j]
		}
		if add {
			dst[j] += E(s)
		} else {
			dst[j] = E(s)
		}
	}
}

// rowWorkers is the number of goroutines a pass over an n × h matrix is
// split into: one below parallelChunk values, otherwise up to GOMAXPROCS,
// each with at least parallelChunk values and one row.
func rowWorkers(n, h int) int { return min(par.Pieces(n*h, parallelChunk), max(n, 1)) }

func (op *biasOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = !op.grad
	}
	return d
}

// SymDiff returns the cotangent itself for x and the column-sum node for b.
func (op *biasOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.grad || len(inputs) != 2 {
		return nil, errors.New("ops: AddBias: only the AddBias itself is differentiable")
	}
	if grad == nil {
		return nil, errors.New("ops: AddBias gradient: nil cotangent")
	}
	db, err := G.ApplyOp(&biasOp{shape: op.shape.Clone(), dt: op.dt, grad: true, out: new(outBuf)}, grad)
	if err != nil {
		return nil, fmt.Errorf("ops: AddBias gradient: %w", err)
	}
	return G.Nodes{grad, db}, nil
}

// DoDiff adds the gradients into the inputs' gradients (LispMachine): the
// cotangent into x's, its column sums into b's, without a new tensor.
func (op *biasOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if op.grad || len(inputs) != 2 {
		return errors.New("ops: AddBias: only the AddBias itself is differentiable")
	}
	dy, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: AddBias: output gradient: %w", err)
	}
	dx, err := inputs[0].Grad()
	if err != nil {
		return fmt.Errorf("ops: AddBias: input gradient: %w", err)
	}
	if err := addValue(dx, dy); err != nil {
		return fmt.Errorf("ops: AddBias: input gradient: %w", err)
	}
	db, err := inputs[1].Grad()
	if err != nil {
		return fmt.Errorf("ops: AddBias: bias gradient: %w", err)
	}
	g := &biasOp{shape: op.shape, dt: op.dt, grad: true}
	if err := g.check([]G.Value{dy}); err != nil {
		return err
	}
	if err := contiguousOf(db, 1, op.dt, tensor.Shape{op.shape[1]}); err != nil {
		return fmt.Errorf("ops: AddBias: bias gradient: %w", err)
	}
	acc := db.(*tensor.Dense)
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.dt == tensor.Float32 {
		err = biasAcc[float32](g, acc, dy, &op.part)
	} else {
		err = biasAcc[float64](g, acc, dy, &op.part)
	}
	if err != nil {
		return fmt.Errorf("ops: AddBias: bias gradient: %w", err)
	}
	return nil
}

// biasAcc adds the column sums of dy into acc, with the partial sums in
// *part.
func biasAcc[E conv.Float](g *biasOp, acc *tensor.Dense, dy G.Value, part *[]float64) error {
	in, err := data[E](dy)
	if err != nil {
		return err
	}
	colSums(acc.Data().([]E), in[0], g.shape[0], g.shape[1], true, part)
	return nil
}
