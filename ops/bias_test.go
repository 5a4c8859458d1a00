package ops_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/ops"
)

// inputNode returns an input node of g holding v in the dtype and shape.
func inputNode(t *testing.T, g *G.ExprGraph, dt tensor.Dtype, name string, shape tensor.Shape, v []float64) *G.Node {
	t.Helper()
	d, err := value.New(dt, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return G.NewTensor(g, dt, shape.Dims(), G.WithShape(shape...), G.WithName(name), G.WithValue(d))
}

func float64sOf(t *testing.T, v G.Value) []float64 {
	t.Helper()
	s, err := value.Float64s(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAddBiasGradient checks the gradients of AddBias alone and inside a
// small graph (where x also reaches the loss by another path and the
// cotangent of the sum is not constant) against central differences, with
// the TapeMachine and the LispMachine.
func TestAddBiasGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	t.Run("alone", func(t *testing.T) {
		checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) { return ops.AddBias(in[0], in[1]) },
			[][]float64{sparsetest.RandVec(rng, 5*3), sparsetest.RandVec(rng, 3)}, []tensor.Shape{{5, 3}, {3}}, 1e-7)
	})
	t.Run("chain", func(t *testing.T) {
		// y = (x + b)² ⊙ m + x, with a fixed mask m.
		mv := sparsetest.RandVec(rng, 4*3)
		checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
			s, err := ops.AddBias(in[0], in[1])
			if err != nil {
				return nil, err
			}
			m := inputNode(t, g, tensor.Float64, "m", tensor.Shape{4, 3}, mv)
			z, err := ops.Mask(G.Must(G.Square(s)), m)
			if err != nil {
				return nil, err
			}
			return G.Add(z, in[0])
		}, [][]float64{sparsetest.RandVec(rng, 4*3), sparsetest.RandVec(rng, 3)}, []tensor.Shape{{4, 3}, {3}}, 1e-7)
	})
}

// biasNet is Σ c ⊙ AddBias(x, b) with its symbolic gradients.
type biasNet struct {
	g            *G.ExprGraph
	x, b, y      *G.Node
	cost, dx, db *G.Node
}

func newBiasNet(t *testing.T, dt tensor.Dtype, n, h int, xv, bv, cv []float64) *biasNet {
	t.Helper()
	g := G.NewGraph()
	bn := &biasNet{g: g}
	bn.x = inputNode(t, g, dt, "x", tensor.Shape{n, h}, xv)
	bn.b = inputNode(t, g, dt, "b", tensor.Shape{h}, bv)
	c := inputNode(t, g, dt, "c", tensor.Shape{n, h}, cv)
	var err error
	if bn.y, err = ops.AddBias(bn.x, bn.b); err != nil {
		t.Fatal(err)
	}
	bn.cost = G.Must(G.Sum(G.Must(G.HadamardProd(bn.y, c))))
	gs, err := G.Grad(bn.cost, bn.x, bn.b)
	if err != nil {
		t.Fatal(err)
	}
	bn.dx, bn.db = gs[0], gs[1]
	return bn
}

// TestAddBiasLarge runs AddBias and its gradient on an input split across
// goroutines (with GOMAXPROCS raised to 8 whatever the machine) and checks
// every value against a direct computation; the bias gradient against
// column sums taken in float64 to 1e-12 relative.
func TestAddBiasLarge(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	const n, h = 8193, 64 // 8 goroutines, uneven row ranges
	rng := rand.New(rand.NewPCG(23, 24))
	xv, bv, cv := sparsetest.RandVec(rng, n*h), sparsetest.RandVec(rng, h), sparsetest.RandVec(rng, n*h)
	bn := newBiasNet(t, tensor.Float64, n, h, xv, bv, cv)
	vm := G.NewTapeMachine(bn.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y, dx, db := float64sOf(t, bn.y.Value()), float64sOf(t, bn.dx.Value()), float64sOf(t, bn.db.Value())
	want := make([]float64, h)
	for i := range n {
		for j := range h {
			k := i*h + j
			if y[k] != xv[k]+bv[j] || dx[k] != cv[k] {
				t.Fatalf("at (%d, %d): y %v, dx %v; want %v, %v", i, j, y[k], dx[k], xv[k]+bv[j], cv[k])
			}
			want[j] += cv[k]
		}
	}
	for j := range h {
		if math.Abs(db[j]-want[j]) > 1e-12*(1+math.Abs(want[j])) {
			t.Errorf("db[%d] = %v, want %v", j, db[j], want[j])
		}
	}
}

// TestAddBiasGradIsCotangent: the gradient node of x is the cotangent
// node itself, not a copy.
func TestAddBiasGradIsCotangent(t *testing.T) {
	g := G.NewGraph()
	x := inputNode(t, g, tensor.Float64, "x", tensor.Shape{3, 2}, make([]float64, 6))
	b := inputNode(t, g, tensor.Float64, "b", tensor.Shape{2}, make([]float64, 2))
	y, err := ops.AddBias(x, b)
	if err != nil {
		t.Fatal(err)
	}
	w := inputNode(t, g, tensor.Float64, "w", tensor.Shape{3, 2}, []float64{1, 2, 3, 4, 5, 6})
	z := G.Must(G.HadamardProd(G.Must(G.Tanh(y)), w))
	cost := G.Must(G.Sum(z))
	gs, err := G.Grad(cost, x, b)
	if err != nil {
		t.Fatal(err)
	}
	if gs[0] != y.Deriv() {
		t.Errorf("dx is node %v, the cotangent of y is %v", gs[0], y.Deriv())
	}
}

// TestAddBiasFloat32 checks that float32 values, gradients included, are
// the float64 ones rounded: the inputs are float32 numbers, a sum or
// product of two of them rounded once more is the float32 result, and the
// bias gradient is summed in float64 in both dtypes.
func TestAddBiasFloat32(t *testing.T) {
	const n, h = 300, 7
	rng := rand.New(rand.NewPCG(25, 26))
	r := func(k int) []float64 {
		v := sparsetest.RandVec(rng, k)
		for i := range v {
			v[i] = float64(float32(v[i]))
		}
		return v
	}
	xv, bv, cv := r(n*h), r(h), r(n*h)
	var res [2][3][]float64
	for i, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		bn := newBiasNet(t, dt, n, h, xv, bv, cv)
		vm := G.NewTapeMachine(bn.g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		res[i] = [3][]float64{float64sOf(t, bn.y.Value()), float64sOf(t, bn.dx.Value()), float64sOf(t, bn.db.Value())}
		vm.Close()
	}
	for k, name := range []string{"y", "dx", "db"} {
		for i, v := range res[0][k] {
			if got := res[1][k][i]; got != float64(float32(v)) {
				t.Fatalf("%s[%d]: float32 %v, float64 %v", name, i, got, v)
			}
		}
	}
}

// TestAddBiasReuse runs one TapeMachine twice, with new input values in
// between: the second run writes into the first run's output and bias
// gradient tensors and follows the new values.
func TestAddBiasReuse(t *testing.T) {
	const n, h = 6, 4
	rng := rand.New(rand.NewPCG(27, 28))
	xv, bv, cv := sparsetest.RandVec(rng, n*h), sparsetest.RandVec(rng, h), sparsetest.RandVec(rng, n*h)
	bn := newBiasNet(t, tensor.Float32, n, h, xv, bv, cv)
	vm := G.NewTapeMachine(bn.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y0, db0 := bn.y.Value().(*tensor.Dense), bn.db.Value().(*tensor.Dense)
	bs := bn.b.Value().Data().([]float32)
	for j := range bs {
		bs[j] += 1
	}
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y1, db1 := bn.y.Value().(*tensor.Dense), bn.db.Value().(*tensor.Dense)
	if y0 != y1 || &y0.Data().([]float32)[0] != &y1.Data().([]float32)[0] {
		t.Error("the second run's output is a new tensor")
	}
	if db0 != db1 {
		t.Error("the second run's bias gradient is a new tensor")
	}
	x := bn.x.Value().Data().([]float32)
	for k, v := range y1.Data().([]float32) {
		if want := x[k] + bs[k%h]; v != want {
			t.Fatalf("second run: y[%d] = %v, want %v", k, v, want)
		}
	}
}

// TestAddBiasErrors: bad nodes are errors when the graph is built, bad
// values when the op runs, never panics.
func TestAddBiasErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("x"))
	x32 := G.NewMatrix(g, tensor.Float32, G.WithShape(4, 3), G.WithName("x32"))
	xi := G.NewMatrix(g, tensor.Int, G.WithShape(4, 3), G.WithName("xi"))
	bi := G.NewVector(g, tensor.Int, G.WithShape(3), G.WithName("bi"))
	v := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("v"))
	v4 := G.NewVector(g, tensor.Float64, G.WithShape(4), G.WithName("v4"))
	row := G.NewMatrix(g, tensor.Float64, G.WithShape(1, 3), G.WithName("row"))
	x3 := G.NewTensor(g, tensor.Float64, 3, G.WithShape(2, 4, 3), G.WithName("x3"))
	buildErrors(t, map[string]func() (*G.Node, error){
		"nil x":    func() (*G.Node, error) { return ops.AddBias(nil, v) },
		"nil b":    func() (*G.Node, error) { return ops.AddBias(x, nil) },
		"vector x": func() (*G.Node, error) { return ops.AddBias(v, v) },
		"3-D x":    func() (*G.Node, error) { return ops.AddBias(x3, v) },
		"length":   func() (*G.Node, error) { return ops.AddBias(x, v4) },
		"row bias": func() (*G.Node, error) { return ops.AddBias(x, row) },
		"dtype":    func() (*G.Node, error) { return ops.AddBias(x32, v) },
		"int":      func() (*G.Node, error) { return ops.AddBias(xi, bi) },
	})

	// Values that do not match the nodes: the op's Do reports them.
	y, err := ops.AddBias(x, v)
	if err != nil {
		t.Fatal(err)
	}
	good := tensor.New(tensor.WithShape(4, 3), tensor.Of(tensor.Float64))
	doErrors(t, y.Op().Do, map[string][]G.Value{
		"arity":        {good},
		"x shape":      {tensor.New(tensor.WithShape(3, 4), tensor.Of(tensor.Float64)), tensor.New(tensor.WithShape(3), tensor.Of(tensor.Float64))},
		"b shape":      {good, tensor.New(tensor.WithShape(4), tensor.Of(tensor.Float64))},
		"x dtype":      {tensor.New(tensor.WithShape(4, 3), tensor.Of(tensor.Float32)), tensor.New(tensor.WithShape(3), tensor.Of(tensor.Float64))},
		"scalar":       {G.NewF64(1), tensor.New(tensor.WithShape(3), tensor.Of(tensor.Float64))},
		"transposed":   {transposed(t), tensor.New(tensor.WithShape(3), tensor.Of(tensor.Float64))},
		"nil value":    {nil, tensor.New(tensor.WithShape(3), tensor.Of(tensor.Float64))},
		"three inputs": {good, tensor.New(tensor.WithShape(3), tensor.Of(tensor.Float64)), good},
	})
}

// doErrors checks that do fails on every input list of cases.
func doErrors(t *testing.T, do func(...G.Value) (G.Value, error), cases map[string][]G.Value) {
	t.Helper()
	for name, vals := range cases {
		if _, err := do(vals...); err == nil {
			t.Errorf("Do with %s: no error", name)
		}
	}
}

// buildErrors checks that every constructor call of cases fails with an
// error that names the package.
func buildErrors(t *testing.T, cases map[string]func() (*G.Node, error)) {
	t.Helper()
	for name, f := range cases {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "ops: ") {
			t.Errorf("%s: error %q lacks the ops: prefix", name, err)
		}
	}
}

// transposed returns a 4 × 3 view of a 3 × 4 tensor, not contiguous.
func transposed(t *testing.T) *tensor.Dense {
	t.Helper()
	d := tensor.New(tensor.WithShape(3, 4), tensor.WithBacking(make([]float64, 12)))
	if err := d.T(); err != nil {
		t.Fatal(err)
	}
	return d
}

// A bias added to every row of a 2 × 3 matrix; the bias gradient of the
// sum is the number of rows in every component, the input gradient is the
// cotangent (all ones).
func ExampleAddBias() {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))))
	b := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{10, 20, 30}))))
	y, err := ops.AddBias(x, b)
	if err != nil {
		fmt.Println(err)
		return
	}
	loss := G.Must(G.Sum(y))
	if _, err := G.Grad(loss, x, b); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(x, b))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	dx, _ := x.Grad()
	db, _ := b.Grad()
	fmt.Printf("y = %v, dL/dx = %v, dL/db = %v\n", y.Value().Data(), dx.Data(), db.Data())
	// Output: y = [11 22 33 14 25 36], dL/dx = [1 1 1 1 1 1], dL/db = [2 2 2]
}
