package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/ops"
)

// shapesOf converts a θ layout into the tensor shapes of parameter nodes.
func shapesOf(blocks []ParamBlock) []tensor.Shape {
	out := make([]tensor.Shape, len(blocks))
	for i, b := range blocks {
		out[i] = tensor.Shape(append([]int(nil), b.Shape...))
	}
	return out
}

// ParamShapes returns the shapes of W1, b1, W2 and b2, as in Layout.
func (m *MLPField) ParamShapes() []tensor.Shape { return shapesOf(m.Layout()) }

// ParamShapes returns the shapes of the parameter tensors, as in Layout.
func (f *ConvField) ParamShapes() []tensor.Shape { return shapesOf(f.Layout()) }

// addBias adds the vector b along axis 1 of x (rank 2 or 4); to a matrix
// with ops.AddBias, which writes into a kept output instead of copying b
// into a new tensor of x's shape on every run.
func addBias(x, b *G.Node) (*G.Node, error) {
	if x.Dims() == 2 && b.Dims() == 1 {
		return ops.AddBias(x, b)
	}
	if x.Dims() == 2 {
		br, err := G.Reshape(b, tensor.Shape{1, b.Shape().TotalSize()})
		if err != nil {
			return nil, err
		}
		return G.BroadcastAdd(x, br, nil, []byte{0})
	}
	br, err := G.Reshape(b, tensor.Shape{1, b.Shape().TotalSize(), 1, 1})
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(x, br, nil, []byte{0, 2, 3})
}

// timeColumn returns a constant node of the given shape filled with t.
func timeColumn(g *G.ExprGraph, dt tensor.Dtype, shape tensor.Shape, t float64) (*G.Node, error) {
	data := make([]float64, shape.TotalSize())
	for i := range data {
		data[i] = t
	}
	// Gorgonia identifies input nodes by name: the data's address makes it
	// unique.
	return paramNode(g, dt, fmt.Sprintf("t=%v#%p", t, &data[0]), shape, data)
}

// Graph builds W2 tanh(W1 [x; t] + b1) + b2 from Gorgonia operations, for
// the unrolled mode.
func (m *MLPField) Graph(t float64, x *G.Node, params G.Nodes) (*G.Node, error) {
	if len(params) != 4 {
		return nil, fmt.Errorf("layers: MLPField.Graph: %d parameter nodes, want 4", len(params))
	}
	shape := x.Shape().Clone()
	rows := shape.TotalSize() / m.dim
	in, err := G.Reshape(x, tensor.Shape{rows, m.dim})
	if err != nil {
		return nil, err
	}
	if m.timeInput {
		tc, err := timeColumn(x.Graph(), x.Dtype(), tensor.Shape{rows, 1}, t)
		if err != nil {
			return nil, err
		}
		if in, err = G.Concat(1, in, tc); err != nil {
			return nil, err
		}
	}
	h, err := G.Mul(in, G.Must(G.Transpose(params[0])))
	if err != nil {
		return nil, err
	}
	if h, err = addBias(h, params[1]); err != nil {
		return nil, err
	}
	if h, err = G.Tanh(h); err != nil {
		return nil, err
	}
	out, err := G.Mul(h, G.Must(G.Transpose(params[2])))
	if err != nil {
		return nil, err
	}
	if out, err = addBias(out, params[3]); err != nil {
		return nil, err
	}
	return G.Reshape(out, shape)
}

// Graph builds conv2(act(conv1([x; t]) + b1)) + b2 from Gorgonia
// operations, for the unrolled mode. Group normalisation has no
// graph form here: a field with Groups > 0 is an error.
func (f *ConvField) Graph(t float64, x *G.Node, params G.Nodes) (*G.Node, error) {
	if f.opt.Groups > 0 {
		return nil, fmt.Errorf("layers: ConvField.Graph: group normalisation is only available in the adjoint modes")
	}
	if len(params) != 4 {
		return nil, fmt.Errorf("layers: ConvField.Graph: %d parameter nodes, want 4", len(params))
	}
	shape := x.Shape().Clone()
	rows := shape.TotalSize() / f.Dim()
	in, err := G.Reshape(x, tensor.Shape{rows, f.c, f.h, f.w})
	if err != nil {
		return nil, err
	}
	if f.opt.TimeInput {
		tc, err := timeColumn(x.Graph(), x.Dtype(), tensor.Shape{rows, 1, f.h, f.w}, t)
		if err != nil {
			return nil, err
		}
		if in, err = G.Concat(1, in, tc); err != nil {
			return nil, err
		}
	}
	k3, pad, one := tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}
	z, err := G.Conv2d(in, params[0], k3, pad, one, one)
	if err != nil {
		return nil, err
	}
	if z, err = addBias(z, params[1]); err != nil {
		return nil, err
	}
	if f.opt.Act == ActReLU {
		z, err = G.Rectify(z)
	} else {
		z, err = G.Tanh(z)
	}
	if err != nil {
		return nil, err
	}
	out, err := G.Conv2d(z, params[2], k3, pad, one, one)
	if err != nil {
		return nil, err
	}
	if out, err = addBias(out, params[3]); err != nil {
		return nil, err
	}
	return G.Reshape(out, shape)
}
