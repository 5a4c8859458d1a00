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
// all input cotangents packed into a vector, and one unpack node per input
// that copies its part out in the input's shape.
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
		u := &unpackOp{off: off, shape: in.Shape().Clone(), dtype: op.dtype, out: new(outBuf)}
		if out[i], err = G.ApplyOp(u, packed); err != nil {
			return nil, fmt.Errorf("ops: FDE gradient of input %d: %w", i, err)
		}
		off += u.size()
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
	parts, release, err := op.gradients(vals, output.Value(), gout)
	if err != nil {
		return err
	}
	defer release()
	for i, in := range inputs {
		gv, err := in.Grad()
		if err != nil {
			return fmt.Errorf("ops: FDE: gradient of input %d: %w", i, err)
		}
		if err := value.AddInto(gv, parts[i]); err != nil {
			return fmt.Errorf("ops: FDE: gradient of input %d: %w", i, err)
		}
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
	parts, release, err := op.fwd.gradients(vals[:k], vals[k], vals[k+1])
	if err != nil {
		return nil, err
	}
	defer release()
	shape, _ := op.InferShape()
	out := op.out.output(prealloc, op.fwd.dtype, shape)
	off := 0
	for _, p := range parts {
		if err := value.SetFloat64sAt(out, off, p); err != nil {
			return nil, fmt.Errorf("ops: FDE gradient: %w", err)
		}
		off += len(p)
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

// unpackOp copies the cotangent of one FDE input, the values
// [off, off+size) of the packed cotangent vector, out in the input's
// shape: a contiguous copy into a kept output, where Slice and Reshape
// nodes would copy element by element through an iterator into a new
// tensor on every run.
type unpackOp struct {
	off   int
	shape tensor.Shape // the input's; a scalar shape holds one value
	dtype tensor.Dtype
	out   *outBuf
}

func (op *unpackOp) size() int { return max(1, op.shape.TotalSize()) }

func (op *unpackOp) Arity() int { return 1 }

func (op *unpackOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	var out hm.Type = a
	if len(op.shape) > 0 {
		out = G.TensorType{Dims: len(op.shape), Of: a}
	}
	return hm.NewFnType(G.TensorType{Dims: 1, Of: a}, out)
}

func (op *unpackOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }

func (op *unpackOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo copies the part into prealloc when it fits, into the
// op's kept output otherwise.
func (op *unpackOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if len(vals) != 1 {
		return nil, fmt.Errorf("ops: %v: %d inputs, want 1", op, len(vals))
	}
	packed, ok := vals[0].(*tensor.Dense)
	if !ok || packed.Dtype() != op.dtype || packed.Shape().TotalSize() < op.off+op.size() {
		return nil, fmt.Errorf("ops: %v: input %v of shape %v does not hold the part", op, vals[0].Dtype(), vals[0].Shape())
	}
	if len(op.shape) == 0 {
		// A scalar input's cotangent is a scalar value, as Slice gives.
		if op.dtype == tensor.Float32 {
			return G.NewF32(packed.Float32s()[op.off]), nil
		}
		return G.NewF64(packed.Float64s()[op.off]), nil
	}
	out := op.out.output(prealloc, op.dtype, op.shape)
	switch d := out.Data().(type) {
	case []float64:
		copy(d, packed.Float64s()[op.off:op.off+op.size()])
	case []float32:
		copy(d, packed.Float32s()[op.off:op.off+op.size()])
	default:
		return nil, fmt.Errorf("ops: %v: unsupported dtype %v", op, op.dtype)
	}
	return out, nil
}

func (op *unpackOp) ReturnsPtr() bool     { return false }
func (op *unpackOp) CallsExtern() bool    { return false }
func (op *unpackOp) OverwritesInput() int { return -1 }

func (op *unpackOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "fdeunpack(%d, %v, %v)", op.off, op.shape, op.dtype)
}

func (op *unpackOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *unpackOp) String() string { return fmt.Sprintf("FDEUnpack{%d:%d}", op.off, op.off+op.size()) }
