package layers

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestFloat32Fields checks the float32 paths of the MLP and convolutional
// fields against their float64 paths on the same inputs: Eval and both
// VJP outputs agree to float32 precision (1e-5 relative).
func TestFloat32Fields(t *testing.T) {
	mlp64, mlp32 := mustMLP(t, 5, 7, true), mustMLP(t, 5, 7, true)
	mlp32.SetFloat32(true)
	for _, c := range []struct {
		name     string
		f64, f32 testField
		rows     int
	}{
		{"mlp/time", mlp64, mlp32, 2*mlpChunk + 3},
		{"conv", mustConv(t, 3, 5, 4, 4, ConvOptions{}), mustConv(t, 3, 5, 4, 4, ConvOptions{Float32: true}), 7},
		{"conv/gn/time", mustConv(t, 2, 4, 5, 4, ConvOptions{Groups: 2, TimeInput: true}), mustConv(t, 2, 4, 5, 4, ConvOptions{Groups: 2, TimeInput: true, Float32: true}), 3},
		{"conv/relu", mustConv(t, 2, 4, 5, 3, ConvOptions{Act: ActReLU}), mustConv(t, 2, 4, 5, 3, ConvOptions{Act: ActReLU, Float32: true}), 3},
	} {
		x, theta := randPoint(c.f64, c.rows, 11)
		v := randNormals(12, len(x), 1)
		if d := relDiff(evalField(t, c.f32, 0.3, x, theta), evalField(t, c.f64, 0.3, x, theta)); d > 1e-5 {
			t.Errorf("%s: Eval differs by %.3g", c.name, d)
		}
		xb64, xb32 := make([]float64, len(x)), make([]float64, len(x))
		tb64, tb32 := make([]float64, len(theta)), make([]float64, len(theta))
		if err := c.f64.VJP(xb64, tb64, 0.3, x, theta, v); err != nil {
			t.Fatal(err)
		}
		if err := c.f32.VJP(xb32, tb32, 0.3, x, theta, v); err != nil {
			t.Fatal(err)
		}
		if d := relDiff(xb32, xb64); d > 1e-5 {
			t.Errorf("%s: VJP xbar differs by %.3g", c.name, d)
		}
		if d := relDiff(tb32, tb64); d > 1e-5 {
			t.Errorf("%s: VJP thetabar differs by %.3g", c.name, d)
		}
	}
}

// TestLayerBadInput: Dense and Conv return errors, never panic, on nodes
// of the wrong rank, size or on nil.
func TestLayerBadInput(t *testing.T) {
	g := G.NewGraph()
	d, err := NewDense(g, tensor.Float64, "d", 4, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConv(g, tensor.Float32, "c", 2, 3, 3, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	scalar := G.NewScalar(g, tensor.Float64, G.WithName("s"))
	vec := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("v"))
	img := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 5, 4, 4), G.WithName("img"))
	for name, f := range map[string]func() (*G.Node, error){
		"dense scalar":   func() (*G.Node, error) { return d.Fwd(scalar) },
		"dense nil":      func() (*G.Node, error) { return d.Fwd(nil) },
		"dense features": func() (*G.Node, error) { return d.Fwd(vec) },
		"conv nil":       func() (*G.Node, error) { return c.Fwd(nil) },
		"conv channels":  func() (*G.Node, error) { return c.Fwd(img) },
		"conv vector":    func() (*G.Node, error) { return c.Fwd(vec) },
		"conv relu nil":  func() (*G.Node, error) { return c.FwdReLU(nil) },
		"conv relu chan": func() (*G.Node, error) { return c.FwdReLU(img) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewDense(nil, tensor.Float64, "nil graph", 2, 2, 1); err == nil {
		t.Error("NewDense on a nil graph: no error")
	}
	for _, s := range [][2]int{{MaxWeights + 1, 1}, {1 << 16, 1<<14 + 1}, {1 << 40, 1 << 40}} {
		if _, err := NewDense(g, tensor.Float32, "huge", s[0], s[1], 1); err == nil {
			t.Errorf("NewDense %d×%d: no error", s[0], s[1])
		}
		if _, err := NewConv(g, tensor.Float32, "huge", s[0], s[1], 1, 1, 0, 1); err == nil {
			t.Errorf("NewConv %d×%d: no error", s[0], s[1])
		}
	}
	if _, err := NewConv(g, tensor.Float32, "huge kernel", 1, 1, 1<<15+1, 1, 0, 1); err == nil {
		t.Error("NewConv with a 32769×32769 kernel: no error")
	}
	if _, err := NewConv(g, tensor.Int, "int", 1, 1, 3, 1, 1, 1); err == nil {
		t.Error("NewConv with an int dtype: no error")
	}
}
