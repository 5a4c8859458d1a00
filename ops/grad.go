package ops

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/value"
)

// DiffWRT reports that the node is differentiable with respect to every
// input: x0, each parameter and α (or the orders and coefficients).
func (op *fdeOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff emits one backward node that runs the adjoint solve and returns
// all input cotangents packed into a vector; Slice and Reshape nodes
// unpack them.
func (op *fdeOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("ops: FDE: %d inputs, want %d", len(inputs), op.Arity())
	}
	// From now on the forward pass keeps its solution for this node.
	op.keep.Store(true)
	children := append(append(G.Nodes{}, inputs...), output, grad)
	packed, err := G.ApplyOp(&fdeGradOp{fwd: op, out: new(outBuf)}, children...)
	if err != nil {
		return nil, fmt.Errorf("ops: FDE gradient: %w", err)
	}
	out := make(G.Nodes, len(inputs))
	off := 0
	for i, in := range inputs {
		size := max(1, in.Shape().TotalSize())
		var part *G.Node
		if in.IsScalar() {
			part, err = G.Slice(packed, G.S(off))
		} else {
			if part, err = G.Slice(packed, G.S(off, off+size)); err == nil {
				// Slice drops axes of length one: restore the input's shape.
				part, err = G.Reshape(part, in.Shape().Clone())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("ops: FDE gradient of input %d: %w", i, err)
		}
		out[i] = part
		off += size
	}
	return out, nil
}

// DoDiff is the LispMachine's automatic differentiation: it adds the
// cotangents into the inputs' existing gradients.
//
// A LispMachine runs every forward pass before the first DoDiff, so the
// op cannot know during its first forward pass that a gradient will
// follow: the first DoDiff solves again, and marks the op so that every
// later forward pass keeps its solution for the DoDiff that follows.
func (op *fdeOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	op.keep.Store(true)
	vals := make([]G.Value, len(inputs))
	for i, in := range inputs {
		vals[i] = in.Value()
	}
	gout, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: FDE: output gradient: %w", err)
	}
	packed, err := op.gradients(vals, output.Value(), gout)
	if err != nil {
		return err
	}
	off := 0
	for i, in := range inputs {
		size := max(1, in.Shape().TotalSize())
		gv, err := in.Grad()
		if err != nil {
			return fmt.Errorf("ops: FDE: gradient of input %d: %w", i, err)
		}
		if err := value.AddInto(gv, packed[off:off+size]); err != nil {
			return fmt.Errorf("ops: FDE: gradient of input %d: %w", i, err)
		}
		off += size
	}
	return nil
}

// fdeGradOp computes the packed input cotangents of an fdeOp from
// (inputs..., output, output cotangent).
type fdeGradOp struct {
	fwd *fdeOp
	out *outBuf
}

func (op *fdeGradOp) Arity() int { return op.fwd.Arity() + 2 }

func (op *fdeGradOp) Type() hm.Type {
	ft := op.fwd.Type().(*hm.FunctionType)
	ts := ft.FlatTypes() // inputs..., output
	a := hm.TypeVariable('a')
	ts = append(ts, ts[len(ts)-1], G.TensorType{Dims: 1, Of: a})
	return hm.NewFnType(ts...)
}

func (op *fdeGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	n := op.fwd.xShape.TotalSize() + op.fwd.cfg.Field.NumParams() + op.fwd.learned()
	return tensor.Shape{n}, nil
}

func (op *fdeGradOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo writes the packed cotangents into prealloc when it is a
// vector of the right dtype and length, into a new one otherwise.
func (op *fdeGradOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("ops: FDE gradient: %d inputs, want %d", len(vals), op.Arity())
	}
	k := op.fwd.Arity()
	packed, err := op.fwd.gradients(vals[:k], vals[k], vals[k+1])
	if err != nil {
		return nil, err
	}
	out := op.out.output(prealloc, op.fwd.dtype, tensor.Shape{len(packed)})
	if err := value.SetFloat64s(out, packed); err != nil {
		return nil, fmt.Errorf("ops: FDE gradient: %w", err)
	}
	return out, nil
}

func (op *fdeGradOp) ReturnsPtr() bool     { return false }
func (op *fdeGradOp) CallsExtern() bool    { return false }
func (op *fdeGradOp) OverwritesInput() int { return -1 }

func (op *fdeGradOp) WriteHash(h hash.Hash) {
	fmt.Fprint(h, "grad/")
	op.fwd.WriteHash(h)
}

func (op *fdeGradOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *fdeGradOp) String() string { return "∇" + op.fwd.String() }
