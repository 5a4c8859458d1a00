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

// Mask returns the node y = x ⊙ m, elementwise,
//
//	y[k] = x[k] m[k],
//
// for x and m of the same shape (not scalars) and dtype (float32 or
// float64). m is a constant of the graph as far as the gradients go: a
// dropout mask, for instance, that the caller fills before each run (see
// FillDropout). The gradient is ∂L/∂x = ∂L/∂y ⊙ m, the same op on the
// cotangent; m gets none (asking for it is an error of G.Grad). The output
// and the gradient are written into values kept from one run to the next
// (so a run's output is overwritten by the next run), and large tensors
// are split across GOMAXPROCS goroutines. It replaces G.HadamardProd(x, m),
// which allocates a new output on every run and also builds the unused
// gradient x ⊙ ∂L/∂y with respect to m.
func Mask(x, m *G.Node) (*G.Node, error) {
	if x == nil || m == nil {
		return nil, errors.New("ops: Mask: nil input or mask")
	}
	if x.Shape().IsScalar() || x.Shape().TotalSize() == 0 {
		return nil, fmt.Errorf("ops: Mask: input of shape %v; want a non-empty tensor", x.Shape())
	}
	if !m.Shape().Eq(x.Shape()) {
		return nil, fmt.Errorf("ops: Mask: mask of shape %v for an input of shape %v; want the same shape", m.Shape(), x.Shape())
	}
	if err := sameFloat("Mask", x.Dtype(), m); err != nil {
		return nil, err
	}
	y, err := G.ApplyOp(&maskOp{shape: x.Shape().Clone(), dt: x.Dtype(), out: new(outBuf)}, x, m)
	if err != nil {
		return nil, fmt.Errorf("ops: Mask: %w", err)
	}
	return y, nil
}

// maskOp is x ⊙ m from the inputs (x, m); the gradient node is another
// maskOp, on (dy, m).
type maskOp struct {
	shape tensor.Shape
	dt    tensor.Dtype
	out   *outBuf
}

func (op *maskOp) Arity() int { return 2 }

func (op *maskOp) Type() hm.Type {
	t := G.TensorType{Dims: op.shape.Dims(), Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t)
}

func (op *maskOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op *maskOp) ReturnsPtr() bool                               { return false }
func (op *maskOp) CallsExtern() bool                              { return false }
func (op *maskOp) OverwritesInput() int                           { return -1 }
func (op *maskOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "mask(%v,%v)", op.shape, op.dt) }
func (op *maskOp) Hashcode() uint32                               { return hashOf(op) }
func (op *maskOp) String() string                                 { return "Mask" }

func (op *maskOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo writes x ⊙ m into prealloc when it fits, otherwise into
// the op's kept output.
func (op *maskOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if err := op.check(vals); err != nil {
		return nil, err
	}
	out := op.out.output(prealloc, op.dt, op.shape)
	if err := op.run(out, vals[0], vals[1], false); err != nil {
		return nil, err
	}
	return out, nil
}

func (op *maskOp) check(vals []G.Value) error {
	if len(vals) != 2 {
		return fmt.Errorf("ops: %v: %d inputs, want 2", op, len(vals))
	}
	for i, v := range vals {
		if err := contiguousOf(v, i, op.dt, op.shape); err != nil {
			return fmt.Errorf("ops: %v: %w", op, err)
		}
	}
	return nil
}

// run sets (or, with add, increments) out by x ⊙ m.
func (op *maskOp) run(out *tensor.Dense, x, m G.Value, add bool) error {
	var err error
	if op.dt == tensor.Float32 {
		err = maskRun[float32](out, x, m, add)
	} else {
		err = maskRun[float64](out, x, m, add)
	}
	if err != nil {
		return fmt.Errorf("ops: %v: %w", op, err)
	}
	return nil
}

func maskRun[E conv.Float](out *tensor.Dense, x, m G.Value, add bool) error {
	in, err := data[E](x, m)
	if err != nil {
		return err
	}
	o, ok := out.Data().([]E)
	if !ok || len(o) != len(in[0]) || len(o) != len(in[1]) {
		return fmt.Errorf("output %T of %d values for inputs of %d and %d", out.Data(), out.Shape().TotalSize(), len(in[0]), len(in[1]))
	}
	parallelChunks(len(o), func(lo, hi int) {
		o := o[lo:hi]
		xs, ms := in[0][lo:hi], in[1][lo:hi]
		xs, ms = xs[:len(o)], ms[:len(o)]
		if add {
			for i := range o {
				o[i] += xs[i] * ms[i]
			}
			return
		}
		for i := range o {
			o[i] = xs[i] * ms[i]
		}
	})
	return nil
}

func (op *maskOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	if inputs > 0 {
		d[0] = true
	}
	return d
}

// SymDiff returns Mask(dy, m) for x and nothing for m.
func (op *maskOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("ops: Mask gradient: %d inputs, want 2", len(inputs))
	}
	if grad == nil {
		return nil, errors.New("ops: Mask gradient: nil cotangent")
	}
	dx, err := G.ApplyOp(&maskOp{shape: op.shape.Clone(), dt: op.dt, out: new(outBuf)}, grad, inputs[1])
	if err != nil {
		return nil, fmt.Errorf("ops: Mask gradient: %w", err)
	}
	return G.Nodes{dx, nil}, nil
}

// DoDiff adds dy ⊙ m into x's gradient (LispMachine), without a new
// tensor.
func (op *maskOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if len(inputs) != 2 {
		return fmt.Errorf("ops: Mask: %d inputs, want 2", len(inputs))
	}
	dy, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: Mask: output gradient: %w", err)
	}
	acc, err := inputs[0].Grad()
	if err != nil {
		return fmt.Errorf("ops: Mask: input gradient: %w", err)
	}
	m := inputs[1].Value()
	if err := op.check([]G.Value{dy, m}); err != nil {
		return err
	}
	if err := contiguousOf(acc, 0, op.dt, op.shape); err != nil {
		return fmt.Errorf("ops: Mask: input gradient: %w", err)
	}
	return op.run(acc.(*tensor.Dense), dy, m, true)
}
