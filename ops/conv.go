package ops

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/conv"
	"github.com/gofde/gofde/internal/hugepage"
)

// Conv2D returns the node y = x ⋆ kernel + bias: the 2-D convolution
// (cross-correlation) of the NCHW batch x (batch, in, H, W) with the
// kernel (out, in, k, k), square, with the given stride and zero padding,
// plus the per-channel bias (out) when bias is not nil. The whole batch
// runs as a few large matrix products (package conv; split across
// GOMAXPROCS goroutines), on preallocated buffers, in the nodes' dtype
// (float32 or float64). Its gradients are nodes of their own: the input
// gradient (the transposed products), the kernel gradient and the bias
// gradient, each computed only where Gorgonia asks for it. Shapes and
// dtypes are checked when the graph is built.
func Conv2D(x, kernel, bias *G.Node, stride, padding int) (*G.Node, error) {
	return conv2D("Conv2D", x, kernel, bias, stride, padding, false)
}

// Conv2DReLU returns the node max(x ⋆ kernel + bias, 0): Conv2D with the
// ReLU fused into the same pass over the output, forward and backward,
// which saves the separate activation node's passes over a large output.
func Conv2DReLU(x, kernel, bias *G.Node, stride, padding int) (*G.Node, error) {
	return conv2D("Conv2DReLU", x, kernel, bias, stride, padding, true)
}

func conv2D(name string, x, kernel, bias *G.Node, stride, padding int, relu bool) (*G.Node, error) {
	if x == nil || kernel == nil {
		return nil, fmt.Errorf("ops: %s: nil input or kernel", name)
	}
	if x.Dims() != 4 || kernel.Dims() != 4 {
		return nil, fmt.Errorf("ops: %s: input of shape %v and kernel of shape %v; want both 4-D (NCHW, out×in×k×k)", name, x.Shape(), kernel.Shape())
	}
	xs, ks := x.Shape(), kernel.Shape()
	if ks[2] != ks[3] || ks[1] != xs[1] {
		return nil, fmt.Errorf("ops: %s: kernel of shape %v for an input of shape %v: want a square kernel over %d input channels", name, ks, xs, xs[1])
	}
	dt := x.Dtype()
	if err := sameFloat(name, dt, kernel, bias); err != nil {
		return nil, err
	}
	g := conv.Geometry{InC: xs[1], H: xs[2], W: xs[3], OutC: ks[0], Kernel: ks[2], Stride: stride, Padding: padding}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("ops: %s: %w", name, err)
	}
	if bias != nil && (bias.Dims() != 1 || bias.Shape()[0] != g.OutC) {
		return nil, fmt.Errorf("ops: %s: bias of shape %v; want (%d)", name, bias.Shape(), g.OutC)
	}
	k, err := newConvKernel(g, dt, relu)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", name, err)
	}
	op := &convOp{k: k, batch: xs[0], bias: bias != nil, out: new(outBuf)}
	children := G.Nodes{x, kernel}
	if bias != nil {
		children = append(children, bias)
	}
	y, err := G.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("ops: %s: %w", name, err)
	}
	return y, nil
}

// sameFloat checks that dt is float32 or float64 and that every non-nil
// node has it.
func sameFloat(name string, dt tensor.Dtype, nodes ...*G.Node) error {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("ops: %s: dtype %v; want float32 or float64", name, dt)
	}
	for _, n := range nodes {
		if n != nil && n.Dtype() != dt {
			return fmt.Errorf("ops: %s: %s has dtype %v, the input %v", name, n.Name(), n.Dtype(), dt)
		}
	}
	return nil
}

// convKernel is a convolution in the graph's dtype.
type convKernel struct {
	g    conv.Geometry
	dt   tensor.Dtype
	relu bool
	c32  *conv.Conv[float32]
	c64  *conv.Conv[float64]
}

func newConvKernel(g conv.Geometry, dt tensor.Dtype, relu bool) (*convKernel, error) {
	k := &convKernel{g: g, dt: dt, relu: relu}
	var opts []conv.Option
	if relu {
		opts = append(opts, conv.WithReLU())
	}
	var err error
	if dt == tensor.Float32 {
		k.c32, err = conv.New[float32](g, 0, opts...)
	} else {
		k.c64, err = conv.New[float64](g, 0, opts...)
	}
	return k, err
}

func (k *convKernel) outShape(batch int) tensor.Shape {
	return tensor.Shape{batch, k.g.OutC, k.g.OutH(), k.g.OutW()}
}

func (k *convKernel) hash(h hash.Hash, what string) {
	g := k.g
	fmt.Fprintf(h, "%s(%d,%d,%d→%d,k%d,s%d,p%d,%v,relu=%v)", what, g.InC, g.H, g.W, g.OutC, g.Kernel, g.Stride, g.Padding, k.dt, k.relu)
}

// dense returns v's *tensor.Dense or an error.
func dense(v G.Value, what string) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("%s is a %T, want a tensor", what, v)
	}
	return d, nil
}

// outBuf is an op's output tensor, kept from one run to the next: a
// TapeMachine's Reset drops the values of the last run, so without it
// every run of a graph would allocate (and the kernel zero) megabytes of
// fresh outputs. An op's value is therefore overwritten by the op's next
// run; copy it to keep it. The zero value and a nil *outBuf are ready to
// use (nil keeps nothing).
type outBuf struct {
	mu sync.Mutex
	t  *tensor.Dense
}

// output returns prealloc when it is a tensor of the dtype and shape,
// otherwise the op's kept tensor if it fits, otherwise a new one, which it
// keeps.
func (b *outBuf) output(prealloc G.Value, dt tensor.Dtype, shape tensor.Shape) *tensor.Dense {
	fits := func(d *tensor.Dense) bool { return d != nil && d.Dtype() == dt && d.Shape().Eq(shape) }
	if d, ok := prealloc.(*tensor.Dense); ok && fits(d) {
		return d
	}
	if b == nil {
		return newDense(dt, shape)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !fits(b.t) {
		b.t = newDense(dt, shape)
	}
	return b.t
}

// newDense returns a zeroed tensor of the dtype and shape; a large float
// tensor's memory is asked to be backed by huge pages (see package
// hugepage).
func newDense(dt tensor.Dtype, shape tensor.Shape) *tensor.Dense {
	n := shape.TotalSize()
	switch {
	case len(shape) == 0:
	case dt == tensor.Float32:
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(hugepage.Make[float32](n)))
	case dt == tensor.Float64:
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(hugepage.Make[float64](n)))
	}
	return tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
}

// data returns the backing slices of the values (nil for a nil value), all
// of element type E.
func data[E conv.Float](vals ...G.Value) ([][]E, error) {
	out := make([][]E, len(vals))
	for i, v := range vals {
		if v == nil {
			continue
		}
		d, err := dense(v, fmt.Sprintf("input %d", i))
		if err != nil {
			return nil, err
		}
		s, ok := d.Data().([]E)
		if !ok {
			return nil, fmt.Errorf("input %d holds %T", i, d.Data())
		}
		out[i] = s
	}
	return out, nil
}

// convOp computes x ⋆ kernel (+ bias).
type convOp struct {
	k     *convKernel
	batch int
	bias  bool
	// keep is set once the op has a symbolic gradient: the forward pass
	// then leaves its padded input planes in kept for the kernel gradient.
	keep bool
	kept keptPlanes
	out  *outBuf
}

// keptPlanes holds the padded input planes of the last forward pass, tagged
// with the addresses of the input and output values it ran on: the
// kernel-gradient node reuses them only for that same pair (in a tape the
// gradient runs after its forward pass, on the same values), and forms
// them again otherwise.
type keptPlanes struct {
	mu       sync.Mutex
	x, y     uintptr
	planes32 []float32
	planes64 []float64
}

func (k *keptPlanes) store(x, y G.Value) {
	k.x, k.y = memKey(x), memKey(y)
}

// matches reports whether the kept planes were formed from x for y.
func (k *keptPlanes) matches(x, y G.Value) bool {
	return k.x != 0 && k.x == memKey(x) && k.y == memKey(y)
}

func (op *convOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op *convOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4 := G.TensorType{Dims: 4, Of: a}
	if op.bias {
		return hm.NewFnType(t4, t4, G.TensorType{Dims: 1, Of: a}, t4)
	}
	return hm.NewFnType(t4, t4, t4)
}

func (op *convOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.k.outShape(op.batch), nil
}
func (op *convOp) ReturnsPtr() bool     { return false }
func (op *convOp) CallsExtern() bool    { return false }
func (op *convOp) OverwritesInput() int { return -1 }
func (op *convOp) WriteHash(h hash.Hash) {
	op.k.hash(h, fmt.Sprintf("conv2d/b%d/%v", op.batch, op.bias))
}
func (op *convOp) Hashcode() uint32 { return hashOf(op) }
func (op *convOp) String() string {
	name := "Conv2D"
	if op.k.relu {
		name = "Conv2DReLU"
	}
	return fmt.Sprintf("%s{k%d s%d p%d}", name, op.k.g.Kernel, op.k.g.Stride, op.k.g.Padding)
}

func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *convOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo writes the convolution into prealloc when it fits.
func (op *convOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("ops: Conv2D: %d inputs, want %d", len(vals), op.Arity())
	}
	if !op.bias {
		vals = append(vals, nil)
	}
	out := op.out.output(prealloc, op.k.dt, op.k.outShape(vals[0].Shape()[0]))
	var err error
	if op.keep {
		op.kept.mu.Lock()
		defer op.kept.mu.Unlock()
		op.kept.x = 0
	}
	if op.k.dt == tensor.Float32 {
		err = convForward(op.k.c32, out, vals, op.keep, &op.kept.planes32)
	} else {
		err = convForward(op.k.c64, out, vals, op.keep, &op.kept.planes64)
	}
	if err != nil {
		return nil, fmt.Errorf("ops: Conv2D: %w", err)
	}
	if op.keep {
		op.kept.store(vals[0], out)
	}
	return out, nil
}

func convForward[E conv.Float](c *conv.Conv[E], out *tensor.Dense, vals []G.Value, keep bool, planes *[]E) error {
	in, err := data[E](vals...)
	if err != nil {
		return err
	}
	if !keep {
		return c.Forward(out.Data().([]E), in[0], in[1], in[2])
	}
	n := c.KeepLen(len(in[0]) / c.Geometry().InSize())
	if cap(*planes) < n {
		*planes = make([]E, n)
	}
	*planes = (*planes)[:n]
	return c.ForwardKeep(out.Data().([]E), *planes, in[0], in[1], in[2])
}

func (op *convOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff returns one gradient node per input: ∂x needs the kernel and the
// cotangent, ∂kernel the input and the cotangent, ∂bias the cotangent.
func (op *convOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("ops: Conv2D gradient: %d inputs, want %d", len(inputs), op.Arity())
	}
	out := make(G.Nodes, len(inputs))
	var err error
	// Every gradient node also reads the output: a fused ReLU masks the
	// cotangent with it, and the kernel gradient checks that the kept
	// input planes belong to it.
	if out[0], err = G.ApplyOp(&convGradOp{k: op.k, wrt: wrtInput, batch: op.batch, out: new(outBuf)}, inputs[1], output, grad); err != nil {
		return nil, fmt.Errorf("ops: Conv2D input gradient: %w", err)
	}
	op.keep = true
	if out[1], err = G.ApplyOp(&convGradOp{k: op.k, wrt: wrtKernel, batch: op.batch, fwd: op, out: new(outBuf)}, inputs[0], output, grad); err != nil {
		return nil, fmt.Errorf("ops: Conv2D kernel gradient: %w", err)
	}
	if op.bias {
		if out[2], err = G.ApplyOp(&convGradOp{k: op.k, wrt: wrtBias, batch: op.batch, out: new(outBuf)}, output, grad); err != nil {
			return nil, fmt.Errorf("ops: Conv2D bias gradient: %w", err)
		}
	}
	return out, nil
}

// DoDiff adds the gradients into the inputs' gradients (LispMachine).
func (op *convOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	dy, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: Conv2D: output gradient: %w", err)
	}
	for i, wrt := range []convWRT{wrtInput, wrtKernel, wrtBias}[:len(inputs)] {
		gop := &convGradOp{k: op.k, wrt: wrt, batch: op.batch}
		var g G.Value
		if wrt == wrtInput {
			g, err = gop.Do(inputs[1].Value(), output.Value(), dy)
		} else if wrt == wrtKernel {
			g, err = gop.Do(inputs[0].Value(), output.Value(), dy)
		} else {
			g, err = gop.Do(output.Value(), dy)
		}
		if err != nil {
			return err
		}
		acc, err := inputs[i].Grad()
		if err != nil {
			return fmt.Errorf("ops: Conv2D: gradient of input %d: %w", i, err)
		}
		if err := addValue(acc, g); err != nil {
			return fmt.Errorf("ops: Conv2D: gradient of input %d: %w", i, err)
		}
	}
	return nil
}

// addValue adds the tensor delta into the tensor acc of the same dtype
// and size.
func addValue(acc, delta G.Value) error {
	a, err := dense(acc, "gradient")
	if err != nil {
		return err
	}
	d, err := dense(delta, "cotangent")
	if err != nil {
		return err
	}
	switch as := a.Data().(type) {
	case []float32:
		return addSlices(as, d.Data())
	case []float64:
		return addSlices(as, d.Data())
	}
	return fmt.Errorf("cannot accumulate into %v", a.Dtype())
}

func addSlices[E conv.Float](acc []E, delta any) error {
	d, ok := delta.([]E)
	if !ok || len(d) != len(acc) {
		return fmt.Errorf("gradient of %d values, cotangent %T of another type or size", len(acc), delta)
	}
	for i, v := range d {
		acc[i] += v
	}
	return nil
}

type convWRT int

const (
	wrtInput convWRT = iota
	wrtKernel
	wrtBias
)

// convGradOp computes one gradient of a convolution from the output y and
// its cotangent dy: with respect to the input (inputs kernel, y, dy), the
// kernel (inputs x, y, dy; y also tells whether the forward pass's kept
// input planes are x's) or the bias (inputs y, dy).
type convGradOp struct {
	k     *convKernel
	wrt   convWRT
	batch int
	fwd   *convOp // the forward op, whose kept matrices the kernel gradient reuses
	out   *outBuf
}

func (op *convGradOp) Arity() int {
	if op.wrt == wrtBias {
		return 2
	}
	return 3
}

func (op *convGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4 := G.TensorType{Dims: 4, Of: a}
	if op.wrt == wrtBias {
		return hm.NewFnType(t4, t4, G.TensorType{Dims: 1, Of: a})
	}
	return hm.NewFnType(t4, t4, t4, t4)
}

func (op *convGradOp) shape() tensor.Shape {
	g := op.k.g
	switch op.wrt {
	case wrtInput:
		return tensor.Shape{op.batch, g.InC, g.H, g.W}
	case wrtKernel:
		return tensor.Shape{g.OutC, g.InC, g.Kernel, g.Kernel}
	}
	return tensor.Shape{g.OutC}
}

func (op *convGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape(), nil }
func (op *convGradOp) ReturnsPtr() bool                               { return false }
func (op *convGradOp) CallsExtern() bool                              { return false }
func (op *convGradOp) OverwritesInput() int                           { return -1 }
func (op *convGradOp) WriteHash(h hash.Hash) {
	op.k.hash(h, fmt.Sprintf("conv2d-grad%d/b%d", op.wrt, op.batch))
}
func (op *convGradOp) Hashcode() uint32 { return hashOf(op) }
func (op *convGradOp) String() string   { return fmt.Sprintf("∇%dConv2D", op.wrt) }

func (op *convGradOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo writes the gradient into prealloc when it fits.
func (op *convGradOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("ops: Conv2D gradient: %d inputs, want %d", len(vals), op.Arity())
	}
	out := op.out.output(prealloc, op.k.dt, op.shape())
	var err error
	if op.k.dt == tensor.Float32 {
		err = convBackward(op, op.k.c32, out, vals, func(k *keptPlanes) []float32 { return k.planes32 })
	} else {
		err = convBackward(op, op.k.c64, out, vals, func(k *keptPlanes) []float64 { return k.planes64 })
	}
	if err != nil {
		return nil, fmt.Errorf("ops: Conv2D gradient: %w", err)
	}
	return out, nil
}

func convBackward[E conv.Float](op *convGradOp, c *conv.Conv[E], out *tensor.Dense, vals []G.Value, planes func(*keptPlanes) []E) error {
	in, err := data[E](vals...)
	if err != nil {
		return err
	}
	o := out.Data().([]E)
	var y []E // the output masks the cotangent behind a fused ReLU
	if c.ReLU() {
		y = in[len(in)-2]
	}
	dy := in[len(in)-1]
	switch op.wrt {
	case wrtInput:
		return c.Backward(o, nil, nil, nil, in[0], y, dy)
	case wrtKernel:
		clear(o)
		if op.fwd != nil {
			k := &op.fwd.kept
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.matches(vals[0], vals[1]) {
				return c.BackwardFrom(nil, o, nil, planes(k), nil, y, dy)
			}
		}
		return c.Backward(nil, o, nil, in[0], nil, y, dy)
	}
	clear(o)
	return c.Backward(nil, nil, o, nil, nil, y, dy)
}
