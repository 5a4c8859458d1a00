package ops

import (
	"errors"
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/conv"
	"github.com/gofde/gofde/internal/par"
)

// ReLU returns the node max(x, 0), elementwise, for a float32 or float64
// tensor of any shape. Its gradient node passes the output cotangent where
// the output is positive. Both write into preallocated values; Gorgonia's
// own Rectify builds a comparison mask and a product per pass, which
// costs several times more on large activations.
func ReLU(x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, errors.New("ops: ReLU: nil input")
	}
	if err := sameFloat("ReLU", x.Dtype()); err != nil {
		return nil, err
	}
	y, err := G.ApplyOp(&reluOp{shape: x.Shape().Clone(), dt: x.Dtype(), out: new(outBuf)}, x)
	if err != nil {
		return nil, fmt.Errorf("ops: ReLU: %w", err)
	}
	return y, nil
}

// reluOp is max(x, 0); with grad set it is its gradient, from inputs
// (y, dy): dx = dy where y > 0, else 0.
type reluOp struct {
	shape tensor.Shape
	dt    tensor.Dtype
	grad  bool
	out   *outBuf
}

func (op *reluOp) Arity() int {
	if op.grad {
		return 2
	}
	return 1
}

func (op *reluOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	var t hm.Type = a
	if !op.shape.IsScalar() {
		t = G.TensorType{Dims: op.shape.Dims(), Of: a}
	}
	if op.grad {
		return hm.NewFnType(t, t, t)
	}
	return hm.NewFnType(t, t)
}

func (op *reluOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op *reluOp) ReturnsPtr() bool                               { return false }
func (op *reluOp) CallsExtern() bool                              { return false }
func (op *reluOp) OverwritesInput() int                           { return -1 }
func (op *reluOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "relu(%v,%v,grad=%v)", op.shape, op.dt, op.grad)
}
func (op *reluOp) Hashcode() uint32 { return hashOf(op) }
func (op *reluOp) String() string {
	if op.grad {
		return "∇ReLU"
	}
	return "ReLU"
}

func (op *reluOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo writes the result into prealloc when it fits.
func (op *reluOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("ops: %v: %d inputs, want %d", op, len(vals), op.Arity())
	}
	if op.shape.IsScalar() {
		return nil, fmt.Errorf("ops: %v: scalar values are not supported", op)
	}
	out := op.out.output(prealloc, op.dt, op.shape)
	var err error
	if op.dt == tensor.Float32 {
		err = relu[float32](op.grad, out, vals)
	} else {
		err = relu[float64](op.grad, out, vals)
	}
	if err != nil {
		return nil, fmt.Errorf("ops: %v: %w", op, err)
	}
	return out, nil
}

func relu[E conv.Float](grad bool, out *tensor.Dense, vals []G.Value) error {
	in, err := data[E](vals...)
	if err != nil {
		return err
	}
	o := out.Data().([]E)
	for _, s := range in {
		if len(s) != len(o) {
			return fmt.Errorf("input of %d values, output of %d", len(s), len(o))
		}
	}
	// Large activations are split across the cores: the pass is memory
	// bound, and one core does not saturate the memory bus.
	parallelChunks(len(o), func(lo, hi int) {
		if !grad {
			for i, v := range in[0][lo:hi] {
				o[lo+i] = max(v, 0)
			}
			return
		}
		switch o := any(o[lo:hi]).(type) {
		case []float32:
			reluGrad32(o, any(in[0][lo:hi]).([]float32), any(in[1][lo:hi]).([]float32))
		case []float64:
			reluGrad64(o, any(in[0][lo:hi]).([]float64), any(in[1][lo:hi]).([]float64))
		}
	})
	return nil
}

// parallelChunk is the number of values below which an elementwise pass
// stays on the caller's goroutine.
const parallelChunk = 1 << 16

// parallelChunks calls work on contiguous ranges covering [0, n), one
// per core when n is large (see par.For).
func parallelChunks(n int, work func(lo, hi int)) {
	par.For(n, par.Pieces(n, parallelChunk), func(_, lo, hi int) { work(lo, hi) })
}

// reluGrad32 sets dx = dy where y > 0 and 0 elsewhere, selecting with a
// bit mask rather than a branch: half of a layer's activations are zero,
// in no order a branch predictor can follow.
func reluGrad32(dx, y, dy []float32) {
	dy = dy[:len(y)]
	dx = dx[:len(y)]
	for i, v := range y {
		// b-1 is below 0x7fffffff exactly for positive non-zero v.
		var m uint32
		if math.Float32bits(v)-1 < 0x7fffffff {
			m = ^uint32(0)
		}
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & m)
	}
}

// reluGrad64 is reluGrad32 for float64.
func reluGrad64(dx, y, dy []float64) {
	dy = dy[:len(y)]
	dx = dx[:len(y)]
	for i, v := range y {
		var m uint64
		if math.Float64bits(v)-1 < 0x7fffffffffffffff {
			m = ^uint64(0)
		}
		dx[i] = math.Float64frombits(math.Float64bits(dy[i]) & m)
	}
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff returns the gradient node, which reads the output.
func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.grad || len(inputs) != 1 {
		return nil, errors.New("ops: ReLU: only the ReLU itself is differentiable")
	}
	g := *op
	g.out = new(outBuf)
	g.grad = true
	dx, err := G.ApplyOp(&g, output, grad)
	if err != nil {
		return nil, fmt.Errorf("ops: ReLU gradient: %w", err)
	}
	return G.Nodes{dx}, nil
}

// DoDiff adds the gradient into the input's gradient (LispMachine).
func (op *reluOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if op.grad || len(inputs) != 1 {
		return errors.New("ops: ReLU: only the ReLU itself is differentiable")
	}
	dy, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: ReLU: output gradient: %w", err)
	}
	g := *op
	g.out = nil // the gradient is added in at once
	g.grad = true
	dx, err := g.Do(output.Value(), dy)
	if err != nil {
		return err
	}
	acc, err := inputs[0].Grad()
	if err != nil {
		return fmt.Errorf("ops: ReLU: input gradient: %w", err)
	}
	return addValue(acc, dx)
}
