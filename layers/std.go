package layers

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/ops"
)

// Dense is a fully connected layer y = x W + b, with W of shape (in, out),
// built from ops.MatMul and ops.AddBias; the values of y and of the
// gradients are kept by their nodes and overwritten by the graph's next
// run.
type Dense struct {
	W, B *G.Node
}

// MaxWeights bounds the number of weights of one Dense or Conv layer (2^30
// values, 8 GiB as float64), so that sizes taken from a data file or a
// flag cannot ask for more memory than any machine has.
const MaxWeights = 1 << 30

// tooManyWeights reports whether the product of the sizes, each at least
// 1, exceeds MaxWeights (without overflowing).
func tooManyWeights(sizes ...int) bool {
	n := 1
	for _, s := range sizes {
		if s > MaxWeights/n {
			return true
		}
		n *= s
	}
	return false
}

// NewDense creates a Dense layer's nodes in g with Glorot-uniform weights
// and zero bias. Sizes below 1, or in × out above MaxWeights, are errors.
func NewDense(g *G.ExprGraph, dt tensor.Dtype, name string, in, out int, seed uint64) (*Dense, error) {
	if in < 1 || out < 1 {
		return nil, fmt.Errorf("layers: dense %s: sizes %d×%d must be positive", name, in, out)
	}
	if tooManyWeights(in, out) {
		return nil, fmt.Errorf("layers: dense %s: %d×%d weights, more than %d", name, in, out, MaxWeights)
	}
	rng := rand.New(rand.NewPCG(seed, 0x64656e))
	w := make([]float64, in*out)
	lim := math.Sqrt(6 / float64(in+out))
	for i := range w {
		w[i] = lim * (2*rng.Float64() - 1)
	}
	W, err := paramNode(g, dt, name+"_W", tensor.Shape{in, out}, w)
	if err != nil {
		return nil, fmt.Errorf("layers: dense %s: %w", name, err)
	}
	B, err := paramNode(g, dt, name+"_b", tensor.Shape{out}, make([]float64, out))
	if err != nil {
		return nil, fmt.Errorf("layers: dense %s: %w", name, err)
	}
	return &Dense{W: W, B: B}, nil
}

// paramNode returns an input node of g named name holding data in the
// given dtype and shape.
func paramNode(g *G.ExprGraph, dt tensor.Dtype, name string, shape tensor.Shape, data []float64) (*G.Node, error) {
	if g == nil {
		return nil, errors.New("nil graph")
	}
	v, err := value.New(dt, shape, data)
	if err != nil {
		return nil, err
	}
	return G.NewTensor(g, dt, shape.Dims(), G.WithShape(shape...), G.WithName(name), G.WithValue(v)), nil
}

// Fwd returns x W + b for x of shape (batch, in); inputs of higher rank are
// flattened to (batch, in) first.
func (d *Dense) Fwd(x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, errors.New("layers: Dense.Fwd: nil input")
	}
	if x.Dims() < 1 || x.Shape()[0] < 1 || x.Shape().TotalSize()%x.Shape()[0] != 0 {
		return nil, fmt.Errorf("layers: Dense.Fwd: input of shape %v; want (batch, features...) with batch ≥ 1", x.Shape())
	}
	if x.Dims() != 2 {
		s := x.Shape()
		var err error
		if x, err = G.Reshape(x, tensor.Shape{s[0], s.TotalSize() / s[0]}); err != nil {
			return nil, err
		}
	}
	if x.Shape()[1] != d.W.Shape()[0] {
		return nil, fmt.Errorf("layers: Dense.Fwd: input of shape %v, the layer takes %d features", x.Shape(), d.W.Shape()[0])
	}
	y, err := ops.MatMul(x, d.W)
	if err != nil {
		return nil, err
	}
	return addBias(y, d.B)
}

// Learnables returns W and b.
func (d *Dense) Learnables() G.Nodes { return G.Nodes{d.W, d.B} }

// Conv is a 2-D convolution layer with a square kernel, stride and
// padding, plus a per-channel bias, on NCHW inputs: one ops.Conv2D node
// (batched matrix products on padded planes, float32 or float64).
type Conv struct {
	K, B        *G.Node
	kernel      int
	stride, pad int
}

// NewConv creates a Conv layer's nodes in g (He-uniform kernel, zero
// bias): in → out channels, kernel×kernel, with the given stride and
// padding.
func NewConv(g *G.ExprGraph, dt tensor.Dtype, name string, in, out, kernel, stride, pad int, seed uint64) (*Conv, error) {
	if in < 1 || out < 1 || kernel < 1 || stride < 1 || pad < 0 {
		return nil, fmt.Errorf("layers: conv %s: bad sizes in=%d out=%d kernel=%d stride=%d pad=%d", name, in, out, kernel, stride, pad)
	}
	if tooManyWeights(out, in, kernel, kernel) {
		return nil, fmt.Errorf("layers: conv %s: %d×%d×%d×%d weights, more than %d", name, out, in, kernel, kernel, MaxWeights)
	}
	rng := rand.New(rand.NewPCG(seed, 0x636f6e))
	k := make([]float64, out*in*kernel*kernel)
	lim := math.Sqrt(6 / float64(in*kernel*kernel))
	for i := range k {
		k[i] = lim * (2*rng.Float64() - 1)
	}
	K, err := paramNode(g, dt, name+"_K", tensor.Shape{out, in, kernel, kernel}, k)
	if err != nil {
		return nil, fmt.Errorf("layers: conv %s: %w", name, err)
	}
	B, err := paramNode(g, dt, name+"_b", tensor.Shape{out}, make([]float64, out))
	if err != nil {
		return nil, fmt.Errorf("layers: conv %s: %w", name, err)
	}
	return &Conv{K: K, B: B, kernel: kernel, stride: stride, pad: pad}, nil
}

// Fwd returns the convolution of x (batch, in, H, W) plus the bias.
func (c *Conv) Fwd(x *G.Node) (*G.Node, error) {
	if err := c.checkInput(x); err != nil {
		return nil, err
	}
	return ops.Conv2D(x, c.K, c.B, c.stride, c.pad)
}

// FwdReLU returns max(conv(x) + b, 0) as one node (ops.Conv2DReLU): the
// same values and gradients as Fwd followed by a ReLU, without the
// activation's own passes over the output.
func (c *Conv) FwdReLU(x *G.Node) (*G.Node, error) {
	if err := c.checkInput(x); err != nil {
		return nil, err
	}
	return ops.Conv2DReLU(x, c.K, c.B, c.stride, c.pad)
}

func (c *Conv) checkInput(x *G.Node) error {
	if x == nil || x.Dims() != 4 {
		return errors.New("layers: Conv.Fwd: want a 4-D (NCHW) input")
	}
	if x.Shape()[1] != c.K.Shape()[1] {
		return fmt.Errorf("layers: Conv.Fwd: input has %d channels, the layer takes %d", x.Shape()[1], c.K.Shape()[1])
	}
	return nil
}

// Learnables returns the kernel and the bias.
func (c *Conv) Learnables() G.Nodes { return G.Nodes{c.K, c.B} }
