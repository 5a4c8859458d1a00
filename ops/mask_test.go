package ops_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/ops"
)

// TestMaskGradient checks the gradient of Mask with respect to x against
// central differences, on a matrix and on a 3-D tensor, with the
// TapeMachine and the LispMachine; the mask is a constant of the graph.
func TestMaskGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, shape := range []tensor.Shape{{5, 3}, {2, 3, 4}} {
		mv := sparsetest.RandVec(rng, shape.TotalSize())
		mv[1] = 0 // a dropped entry
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
				m := inputNode(t, g, tensor.Float64, "m", shape, mv)
				// The cotangent reaching Mask depends on x: (x ⊙ m)².
				y, err := ops.Mask(in[0], m)
				if err != nil {
					return nil, err
				}
				return G.Square(y)
			}, [][]float64{sparsetest.RandVec(rng, shape.TotalSize())}, []tensor.Shape{shape}, 1e-7)
		})
	}
}

// TestMaskNoGradient: the mask gets no gradient; asking for one is an
// error of G.Grad, not a panic.
func TestMaskNoGradient(t *testing.T) {
	g := G.NewGraph()
	x := inputNode(t, g, tensor.Float64, "x", tensor.Shape{2, 2}, []float64{1, 2, 3, 4})
	m := inputNode(t, g, tensor.Float64, "m", tensor.Shape{2, 2}, []float64{0, 2, 2, 0})
	y, err := ops.Mask(x, m)
	if err != nil {
		t.Fatal(err)
	}
	cost := G.Must(G.Sum(y))
	if _, err := G.Grad(cost, m); err == nil {
		t.Error("gradient with respect to the mask: no error")
	}
}

// maskNet is Σ c ⊙ Mask(x, m) with the gradient of x.
type maskNet struct {
	g          *G.ExprGraph
	x, m, y    *G.Node
	cost, dx   *G.Node
	xv, mv, cv []float64
}

func newMaskNet(t *testing.T, dt tensor.Dtype, shape tensor.Shape, xv, mv, cv []float64) *maskNet {
	t.Helper()
	g := G.NewGraph()
	n := &maskNet{g: g, xv: xv, mv: mv, cv: cv}
	n.x = inputNode(t, g, dt, "x", shape, xv)
	n.m = inputNode(t, g, dt, "m", shape, mv)
	c := inputNode(t, g, dt, "c", shape, cv)
	var err error
	if n.y, err = ops.Mask(n.x, n.m); err != nil {
		t.Fatal(err)
	}
	n.cost = G.Must(G.Sum(G.Must(G.HadamardProd(n.y, c))))
	gs, err := G.Grad(n.cost, n.x)
	if err != nil {
		t.Fatal(err)
	}
	n.dx = gs[0]
	return n
}

// TestMaskLarge runs Mask and its gradient on a tensor split across
// goroutines (GOMAXPROCS raised to 8) and checks every value exactly.
func TestMaskLarge(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	shape := tensor.Shape{8193, 64}
	rng := rand.New(rand.NewPCG(33, 34))
	size := shape.TotalSize()
	mv := make([]float64, size)
	for i := range mv {
		if rng.Float64() < 0.5 {
			mv[i] = 2
		}
	}
	n := newMaskNet(t, tensor.Float64, shape, sparsetest.RandVec(rng, size), mv, sparsetest.RandVec(rng, size))
	vm := G.NewTapeMachine(n.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y, dx := float64sOf(t, n.y.Value()), float64sOf(t, n.dx.Value())
	for k := range size {
		if y[k] != n.xv[k]*mv[k] || dx[k] != n.cv[k]*mv[k] {
			t.Fatalf("at %d: y %v, dx %v; want %v, %v", k, y[k], dx[k], n.xv[k]*mv[k], n.cv[k]*mv[k])
		}
	}
}

// TestMaskFloat32 checks that the float32 value and gradient are the
// float64 ones rounded (a product of two float32 numbers rounded to
// float64 and then float32 is the float32 product).
func TestMaskFloat32(t *testing.T) {
	shape := tensor.Shape{40, 9}
	rng := rand.New(rand.NewPCG(35, 36))
	r := func() []float64 {
		v := sparsetest.RandVec(rng, shape.TotalSize())
		for i := range v {
			v[i] = float64(float32(v[i]))
		}
		return v
	}
	xv, mv, cv := r(), r(), r()
	var res [2][2][]float64
	for i, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		n := newMaskNet(t, dt, shape, xv, mv, cv)
		vm := G.NewTapeMachine(n.g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		res[i] = [2][]float64{float64sOf(t, n.y.Value()), float64sOf(t, n.dx.Value())}
		vm.Close()
	}
	for k, name := range []string{"y", "dx"} {
		for i, v := range res[0][k] {
			if got := res[1][k][i]; got != float64(float32(v)) {
				t.Fatalf("%s[%d]: float32 %v, float64 %v", name, i, got, v)
			}
		}
	}
}

// TestMaskReuse runs one TapeMachine twice with a new mask in between (as
// dropout does): the second run writes into the first run's output and
// gradient tensors and follows the new mask.
func TestMaskReuse(t *testing.T) {
	shape := tensor.Shape{5, 4}
	rng := rand.New(rand.NewPCG(37, 38))
	size := shape.TotalSize()
	n := newMaskNet(t, tensor.Float32, shape, sparsetest.RandVec(rng, size), make([]float64, size), sparsetest.RandVec(rng, size))
	vm := G.NewTapeMachine(n.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y0, dx0 := n.y.Value().(*tensor.Dense), n.dx.Value().(*tensor.Dense)
	m := n.m.Value().Data().([]float32)
	for i := range m {
		m[i] = float32(i % 3)
	}
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y1, dx1 := n.y.Value().(*tensor.Dense), n.dx.Value().(*tensor.Dense)
	if y0 != y1 || &y0.Data().([]float32)[0] != &y1.Data().([]float32)[0] {
		t.Error("the second run's output is a new tensor")
	}
	if dx0 != dx1 {
		t.Error("the second run's gradient is a new tensor")
	}
	x := n.x.Value().Data().([]float32)
	for k, v := range y1.Data().([]float32) {
		if want := x[k] * m[k]; v != want {
			t.Fatalf("second run: y[%d] = %v, want %v", k, v, want)
		}
	}
	for k, v := range dx1.Data().([]float32) {
		if want := float32(n.cv[k]) * m[k]; v != want {
			t.Fatalf("second run: dx[%d] = %v, want %v", k, v, want)
		}
	}
}

// TestMaskErrors: bad nodes are errors when the graph is built, bad values
// when the op runs, never panics.
func TestMaskErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("x"))
	x32 := G.NewMatrix(g, tensor.Float32, G.WithShape(4, 3), G.WithName("x32"))
	xi := G.NewMatrix(g, tensor.Int, G.WithShape(4, 3), G.WithName("xi"))
	xt := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 4), G.WithName("xt"))
	s := G.NewScalar(g, tensor.Float64, G.WithName("s"))
	buildErrors(t, map[string]func() (*G.Node, error){
		"nil x":  func() (*G.Node, error) { return ops.Mask(nil, x) },
		"nil m":  func() (*G.Node, error) { return ops.Mask(x, nil) },
		"shape":  func() (*G.Node, error) { return ops.Mask(x, xt) },
		"dtype":  func() (*G.Node, error) { return ops.Mask(x, x32) },
		"int":    func() (*G.Node, error) { return ops.Mask(xi, xi) },
		"scalar": func() (*G.Node, error) { return ops.Mask(s, s) },
	})

	y, err := ops.Mask(x, x)
	if err != nil {
		t.Fatal(err)
	}
	good := tensor.New(tensor.WithShape(4, 3), tensor.Of(tensor.Float64))
	doErrors(t, y.Op().Do, map[string][]G.Value{
		"arity":      {good},
		"shape":      {good, tensor.New(tensor.WithShape(3, 4), tensor.Of(tensor.Float64))},
		"dtype":      {good, tensor.New(tensor.WithShape(4, 3), tensor.Of(tensor.Float32))},
		"scalar":     {good, G.NewF64(1)},
		"transposed": {transposed(t), good},
		"nil value":  {good, nil},
	})
}
