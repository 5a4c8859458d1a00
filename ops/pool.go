package ops

import (
	"errors"
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/conv"
)

// MaxPool2D returns the node of the maxima of x (batch, C, H, W, NCHW) over
// size×size windows with the given stride and no padding, in x's dtype
// (float32 or float64). Its gradient node sends each output cotangent to
// its window's maximum (the first one on ties). Unlike Gorgonia's own
// pooling it keeps no index tensor between the passes and writes into
// preallocated values.
func MaxPool2D(x *G.Node, size, stride int) (*G.Node, error) {
	if x == nil || x.Dims() != 4 {
		return nil, errors.New("ops: MaxPool2D: want a 4-D (NCHW) input")
	}
	if err := sameFloat("MaxPool2D", x.Dtype()); err != nil {
		return nil, err
	}
	s := x.Shape()
	p := conv.Pool{C: s[1], H: s[2], W: s[3], Size: size, Stride: stride}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("ops: MaxPool2D: %w", err)
	}
	y, err := G.ApplyOp(&poolOp{p: p, batch: s[0], dt: x.Dtype(), out: new(outBuf)}, x)
	if err != nil {
		return nil, fmt.Errorf("ops: MaxPool2D: %w", err)
	}
	return y, nil
}

// poolOp is max pooling; with grad set it is its gradient, from inputs
// (x, dy).
type poolOp struct {
	p     conv.Pool
	batch int
	dt    tensor.Dtype
	grad  bool
	out   *outBuf
}

func (op *poolOp) Arity() int {
	if op.grad {
		return 2
	}
	return 1
}

func (op *poolOp) Type() hm.Type {
	t4 := G.TensorType{Dims: 4, Of: hm.TypeVariable('a')}
	if op.grad {
		return hm.NewFnType(t4, t4, t4)
	}
	return hm.NewFnType(t4, t4)
}

func (op *poolOp) shape() tensor.Shape {
	if op.grad {
		return tensor.Shape{op.batch, op.p.C, op.p.H, op.p.W}
	}
	return tensor.Shape{op.batch, op.p.C, op.p.OutH(), op.p.OutW()}
}

func (op *poolOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape(), nil }
func (op *poolOp) ReturnsPtr() bool                               { return false }
func (op *poolOp) CallsExtern() bool                              { return false }
func (op *poolOp) OverwritesInput() int                           { return -1 }
func (op *poolOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "maxpool(%d,%d,%d,%d,size%d,stride%d,%v,grad=%v)", op.batch, op.p.C, op.p.H, op.p.W, op.p.Size, op.p.Stride, op.dt, op.grad)
}
func (op *poolOp) Hashcode() uint32 { return hashOf(op) }
func (op *poolOp) String() string {
	if op.grad {
		return "∇MaxPool2D"
	}
	return fmt.Sprintf("MaxPool2D{%d s%d}", op.p.Size, op.p.Stride)
}

func (op *poolOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo writes the pooling (or its gradient) into prealloc when
// it fits.
func (op *poolOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("ops: %v: %d inputs, want %d", op, len(vals), op.Arity())
	}
	out := op.out.output(prealloc, op.dt, op.shape())
	var err error
	if op.dt == tensor.Float32 {
		err = pool[float32](op, out, vals)
	} else {
		err = pool[float64](op, out, vals)
	}
	if err != nil {
		return nil, fmt.Errorf("ops: %v: %w", op, err)
	}
	return out, nil
}

func pool[E conv.Float](op *poolOp, out *tensor.Dense, vals []G.Value) error {
	in, err := data[E](vals...)
	if err != nil {
		return err
	}
	if op.grad {
		return conv.MaxPoolBackward(op.p, out.Data().([]E), in[0], in[1])
	}
	return conv.MaxPoolForward(op.p, out.Data().([]E), in[0])
}

func (op *poolOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff returns the gradient node of the pooling.
func (op *poolOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if op.grad || len(inputs) != 1 {
		return nil, errors.New("ops: MaxPool2D: only the pooling itself is differentiable")
	}
	g := *op
	g.out = new(outBuf)
	g.grad = true
	dx, err := G.ApplyOp(&g, inputs[0], grad)
	if err != nil {
		return nil, fmt.Errorf("ops: MaxPool2D gradient: %w", err)
	}
	return G.Nodes{dx}, nil
}

// DoDiff adds the gradient into the input's gradient (LispMachine).
func (op *poolOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if op.grad || len(inputs) != 1 {
		return errors.New("ops: MaxPool2D: only the pooling itself is differentiable")
	}
	dy, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: MaxPool2D: output gradient: %w", err)
	}
	g := *op
	g.out = nil // the gradient is added in at once
	g.grad = true
	dx, err := g.Do(inputs[0].Value(), dy)
	if err != nil {
		return err
	}
	acc, err := inputs[0].Grad()
	if err != nil {
		return fmt.Errorf("ops: MaxPool2D: input gradient: %w", err)
	}
	return addValue(acc, dx)
}
