package layers

import (
	"fmt"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/value"
)

// model is a small network around one FDE block, built identically (same
// seeds) for every mode.
type model struct {
	g     *G.ExprGraph
	x     *G.Node
	cost  *G.Node
	learn G.Nodes
	grads G.Nodes
	block *FDEBlock
	out   *G.Node // the block's output (set by some builders)
}

func denseModel(t *testing.T, mode Mode, method fode.Method, alpha float64) *model {
	t.Helper()
	g := G.NewGraph()
	xv := make([]float64, 3*5)
	for i := range xv {
		xv[i] = math.Sin(float64(i) + 0.3)
	}
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 5), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(3, 5), tensor.WithBacking(xv))))
	d1, err := NewDense(g, tensor.Float64, "d1", 5, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	field, err := NewMLPField(4, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	block, err := NewFDEBlock(g, "fde", field, BlockConfig{Solve: fode.Options{Method: method, Alpha: alpha, T: 1, Steps: 8}, Grad: mode, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := NewDense(g, tensor.Float64, "d2", 4, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	h := G.Must(d1.Fwd(x))
	h = G.Must(block.Fwd(h))
	y := G.Must(d2.Fwd(h))
	m := &model{g: g, x: x, block: block, cost: G.Must(G.Sum(G.Must(G.Square(y))))}
	m.learn = append(append(append(G.Nodes{x}, d1.Learnables()...), block.Learnables()...), d2.Learnables()...)
	return m
}

func convModel(t *testing.T, mode Mode, method fode.Method, alpha float64) *model {
	t.Helper()
	g := G.NewGraph()
	xv := make([]float64, 2*1*6*6)
	for i := range xv {
		xv[i] = math.Cos(0.7 * float64(i))
	}
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 1, 6, 6), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 1, 6, 6), tensor.WithBacking(xv))))
	c1, err := NewConv(g, tensor.Float64, "c1", 1, 3, 3, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	field, err := NewConvField(3, 6, 6, 3, ConvOptions{TimeInput: true})
	if err != nil {
		t.Fatal(err)
	}
	block, err := NewFDEBlock(g, "fde", field, BlockConfig{Solve: fode.Options{Method: method, Alpha: alpha, T: 1, Steps: 6}, Grad: mode, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDense(g, tensor.Float64, "d", 27, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	h := G.Must(c1.Fwd(x))
	h = G.Must(block.Fwd(h))
	h = G.Must(G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	y := G.Must(d.Fwd(h))
	m := &model{g: g, x: x, block: block, cost: G.Must(G.Sum(G.Must(G.Square(y))))}
	m.learn = append(append(append(G.Nodes{x}, c1.Learnables()...), block.Learnables()...), d.Learnables()...)
	return m
}

// gradients runs the model once and returns the cost and all gradients,
// flattened in the order of m.learn.
func (m *model) gradients(t *testing.T) (float64, []float64) {
	t.Helper()
	var err error
	if m.grads == nil {
		if m.grads, err = G.Grad(m.cost, m.learn...); err != nil {
			t.Fatal(err)
		}
	}
	vm := G.NewTapeMachine(m.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, gn := range m.grads {
		switch d := gn.Value().Data().(type) {
		case []float64:
			out = append(out, d...)
		case float64:
			out = append(out, d)
		}
	}
	return m.cost.Value().Data().(float64), out
}

// costAt reruns the graph and returns the cost.
func (m *model) costAt(t *testing.T) float64 {
	vm := G.NewTapeMachine(m.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return m.cost.Value().Data().(float64)
}

// fdCheck compares some gradient entries of every learnable with central
// differences of the cost.
func (m *model) fdCheck(t *testing.T, grads []float64, perNode int) {
	t.Helper()
	off := 0
	for _, n := range m.learn {
		data := n.Value().Data().([]float64)
		stride := max(1, len(data)/perNode)
		for i := 0; i < len(data); i += stride {
			old := data[i]
			eps := 1e-6 * math.Max(1, math.Abs(old))
			data[i] = old + eps
			cp := m.costAt(t)
			data[i] = old - eps
			cm := m.costAt(t)
			data[i] = old
			fd := (cp - cm) / (2 * eps)
			if d := math.Abs(grads[off+i] - fd); d > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s[%d]: gradient %.10g, finite differences %.10g", n.Name(), i, grads[off+i], fd)
			}
		}
		off += len(data)
	}
}

// TestBlockGradients checks the block's adjoint gradients, through whole
// models, against the unrolled Gorgonia baseline and finite differences.
func TestBlockGradients(t *testing.T) {
	builders := map[string]func(*testing.T, Mode, fode.Method, float64) *model{"dense": denseModel, "conv": convModel}
	for _, name := range []string{"dense", "conv"} {
		for _, c := range []struct {
			method fode.Method
			alpha  float64
		}{{fode.Rectangle, 0.5}, {fode.PECE, 0.5}, {fode.Rectangle, 1}, {fode.Euler, 1}} {
			t.Run(fmt.Sprintf("%s/%v/alpha=%v", name, c.method, c.alpha), func(t *testing.T) {
				adj := builders[name](t, Adjoint, c.method, c.alpha)
				la, ga := adj.gradients(t)
				unr := builders[name](t, Unrolled, c.method, c.alpha)
				lu, gu := unr.gradients(t)
				if math.Abs(la-lu) > 1e-12*math.Abs(lu) {
					t.Errorf("loss: adjoint model %v, unrolled %v", la, lu)
				}
				if e := relDiff(ga, gu); e > 1e-9 {
					t.Errorf("adjoint vs unrolled gradients: relative difference %.3g", e)
				}
				adj.fdCheck(t, ga, 6)
			})
		}
	}
}

// TestBlockTraining runs ten Adam steps on a fixed regression problem and
// checks that the loss goes down.
func TestBlockTraining(t *testing.T) {
	m := denseModel(t, Adjoint, fode.PECE, 0.7)
	params := m.learn[1:]
	if _, err := G.Grad(m.cost, params...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(m.g, G.BindDualValues(params...))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(0.05))
	var losses []float64
	for range 10 {
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		losses = append(losses, m.cost.Value().Data().(float64))
		if err := solver.Step(G.NodesToValueGrads(params)); err != nil {
			t.Fatal(err)
		}
		vm.Reset()
	}
	if !(losses[9] < 0.5*losses[0]) {
		t.Errorf("loss did not halve in ten Adam steps: %v", losses)
	}
}

// TestBlockLearnAlpha checks that α as a learnable node gets the adjoint's
// dL/dα, equal to finite differences in α.
func TestBlockLearnAlpha(t *testing.T) {
	build := func(alpha float64) *model {
		g := G.NewGraph()
		x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, -1, 0.5, 0.2, 0.3, -0.7}))))
		field, _ := NewMLPField(3, 5, false)
		block, err := NewFDEBlock(g, "fde", field, BlockConfig{Solve: fode.Options{Method: fode.Trapezoid, Alpha: alpha, T: 1, Steps: 10}, LearnAlpha: true, Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		y := G.Must(block.Fwd(x))
		return &model{g: g, x: x, block: block, cost: G.Must(G.Sum(G.Must(G.Square(y)))), learn: G.Nodes{block.Alpha()}}
	}
	_, g := build(0.6).gradients(t)
	const d = 1e-6
	fd := (build(0.6+d).costAt(t) - build(0.6-d).costAt(t)) / (2 * d)
	if math.Abs(g[0]-fd) > 1e-6*math.Abs(fd) {
		t.Errorf("dL/dalpha %v, finite differences %v", g[0], fd)
	}
}

// TestBlockLearnTerms learns the orders and coefficients of a two-term
// block (with and without a short memory) in a model with dense layers:
// every gradient, theirs included, against central differences of the
// cost.
func TestBlockLearnTerms(t *testing.T) {
	for _, c := range []struct {
		method fode.Method
		memory int
	}{{fode.GLImplicit, 0}, {fode.L1, 4}, {fode.GL, 0}} {
		t.Run(fmt.Sprintf("%v/memory=%d", c.method, c.memory), func(t *testing.T) {
			g := G.NewGraph()
			x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, -1, 0.5, 0.2, 0.3, -0.7}))))
			field, err := NewMLPField(3, 5, true)
			if err != nil {
				t.Fatal(err)
			}
			solve := fode.Options{Method: c.method, Orders: []float64{0.5, 0.9}, Coeffs: []float64{1, 0.6}, T: 1, Steps: 10, ShortMemory: c.memory, Iteration: fode.IterationSettings{Tol: 1e-14}}
			block, err := NewFDEBlock(g, "fde", field, BlockConfig{Solve: solve, LearnOrders: true, LearnCoeffs: true, Seed: 4})
			if err != nil {
				t.Fatal(err)
			}
			if block.Orders() == nil || block.Coeffs() == nil || len(block.Learnables()) != len(field.ParamShapes())+2 {
				t.Fatalf("orders %v, coeffs %v, %d learnables", block.Orders(), block.Coeffs(), len(block.Learnables()))
			}
			d, err := NewDense(g, tensor.Float64, "d", 3, 2, 5)
			if err != nil {
				t.Fatal(err)
			}
			y := G.Must(d.Fwd(G.Must(block.Fwd(x))))
			m := &model{g: g, x: x, block: block, cost: G.Must(G.Sum(G.Must(G.Square(y))))}
			m.learn = append(append(G.Nodes{x}, block.Learnables()...), d.Learnables()...)
			_, grads := m.gradients(t)
			m.fdCheck(t, grads, 4)
		})
	}
}

// TestBlockFloat32 runs the same model (same seed, same inputs) with
// float32 and float64 nodes and compares the outputs and the gradients of
// every learnable to 1e-5 relative: the adjoint block with float64 field
// arithmetic and with float32 field arithmetic (SetFloat32), and the
// unrolled block (Gorgonia's float32 operations).
func TestBlockFloat32(t *testing.T) {
	run := func(t *testing.T, dt tensor.Dtype, mode Mode, fieldF32 bool) (y, grads []float64) {
		t.Helper()
		g := G.NewGraph()
		xv := make([]float64, 4*3)
		for i := range xv {
			xv[i] = math.Cos(0.8*float64(i) + 0.1)
		}
		xt, err := value.New(dt, tensor.Shape{4, 3}, xv)
		if err != nil {
			t.Fatal(err)
		}
		x := G.NewMatrix(g, dt, G.WithShape(4, 3), G.WithName("x"), G.WithValue(xt))
		field, err := NewMLPField(3, 5, true)
		if err != nil {
			t.Fatal(err)
		}
		field.SetFloat32(fieldF32)
		block, err := NewFDEBlock(g, "fde", field, BlockConfig{Solve: fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 10}, Grad: mode, Dtype: dt, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		out, err := block.Fwd(x)
		if err != nil {
			t.Fatal(err)
		}
		if out.Dtype() != dt {
			t.Errorf("output dtype %v, want %v", out.Dtype(), dt)
		}
		cost := G.Must(G.Sum(G.Must(G.Square(out))))
		wrt := append(G.Nodes{x}, block.Learnables()...)
		gn, err := G.Grad(cost, wrt...)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		if y, err = value.Float64s(out.Value()); err != nil {
			t.Fatal(err)
		}
		for _, n := range gn {
			v, err := value.Float64s(n.Value())
			if err != nil {
				t.Fatal(err)
			}
			grads = append(grads, v...)
		}
		return y, grads
	}
	for _, c := range []struct {
		name     string
		mode     Mode
		fieldF32 bool
	}{{"adjoint", Adjoint, false}, {"adjoint/float32-field", Adjoint, true}, {"unrolled", Unrolled, false}} {
		t.Run(c.name, func(t *testing.T) {
			y64, g64 := run(t, tensor.Float64, c.mode, false)
			y32, g32 := run(t, tensor.Float32, c.mode, c.fieldF32)
			if e := relDiff(y32, y64); e > 1e-5 {
				t.Errorf("outputs: float32 vs float64 relative difference %.3g", e)
			}
			if e := relDiff(g32, g64); e > 1e-5 {
				t.Errorf("gradients: float32 vs float64 relative difference %.3g", e)
			}
		})
	}
}

func TestBlockErrors(t *testing.T) {
	g := G.NewGraph()
	mlp, _ := NewMLPField(4, 5, false)
	gn, _ := NewConvField(2, 4, 4, 2, ConvOptions{Groups: 1})
	good := BlockConfig{Solve: fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 5}}
	for _, c := range []struct {
		name  string
		field ParamField
		cfg   BlockConfig
		want  string
	}{
		{"bad alpha", mlp, BlockConfig{Solve: fode.Options{Method: fode.Rectangle, Alpha: 2, T: 1, Steps: 5}}, "alpha"},
		{"unrolled implicit", mlp, BlockConfig{Solve: fode.Options{Method: fode.Trapezoid, Alpha: 0.5, T: 1, Steps: 5}, Grad: Unrolled}, "supports rect"},
		{"unrolled learn alpha", mlp, BlockConfig{Solve: good.Solve, Grad: Unrolled, LearnAlpha: true}, "adjoint mode"},
		{"unrolled learn orders", mlp, BlockConfig{Solve: good.Solve, Grad: Unrolled, LearnOrders: true}, "adjoint mode"},
		{"unrolled short memory", mlp, BlockConfig{Solve: fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 10, ShortMemory: 3}, Grad: Unrolled}, "no short memory"},
		{"learn orders without orders", mlp, BlockConfig{Solve: good.Solve, LearnOrders: true}, "initial orders"},
		{"learn coeffs continuous", mlp, BlockConfig{Solve: fode.Options{Method: fode.GL, Orders: []float64{0.5}, T: 1, Steps: 10}, Grad: Continuous, LearnCoeffs: true}, "adjoint mode"},
		{"bad orders", mlp, BlockConfig{Solve: fode.Options{Method: fode.GL, Orders: []float64{0.5, 2}, T: 1, Steps: 10}, LearnOrders: true}, "outside (0, 1]"},
		{"dtype", mlp, BlockConfig{Solve: good.Solve, Dtype: tensor.Int}, "dtype"},
		{"mode", mlp, BlockConfig{Solve: good.Solve, Grad: Mode(9)}, "mode"},
	} {
		if _, err := NewFDEBlock(g, c.name, c.field, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want mention of %q", c.name, err, c.want)
		}
	}
	b, err := NewFDEBlock(g, "ok", mlp, good)
	if err != nil {
		t.Fatal(err)
	}
	x5 := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 5), G.WithName("x5"))
	if _, err := b.Fwd(x5); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("shape mismatch: %v", err)
	}
	bg, err := NewFDEBlock(g, "gn", gn, BlockConfig{Solve: good.Solve, Grad: Unrolled})
	if err != nil {
		t.Fatal(err)
	}
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 2, 4, 4), G.WithName("xi"))
	if _, err := bg.Fwd(x); err == nil || !strings.Contains(err.Error(), "group normalisation") {
		t.Errorf("group norm unrolled: %v", err)
	}
}
