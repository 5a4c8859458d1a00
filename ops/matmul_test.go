package ops

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// matMulNet is cost = Σ (x w) ⊙ c for x (n×k), w (k×m) and fixed c, built
// with MatMul or with Gorgonia's Mul.
type matMulNet struct {
	g          *G.ExprGraph
	x, w, y    *G.Node
	cost       *G.Node
	dx, dw     *G.Node
	xv, wv, cv []float64
}

func newMatMulNet(t *testing.T, dt tensor.Dtype, n, k, m int, ours, lisp bool) *matMulNet {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(k*m)))
	r := func(l int) []float64 {
		v := make([]float64, l)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	a := &matMulNet{g: G.NewGraph(), xv: r(n * k), wv: r(k * m), cv: r(n * m)}
	a.x = G.NewMatrix(a.g, dt, G.WithShape(n, k), G.WithName("x"), G.WithValue(mustTensor(t, dt, tensor.Shape{n, k}, a.xv)))
	a.w = G.NewMatrix(a.g, dt, G.WithShape(k, m), G.WithName("w"), G.WithValue(mustTensor(t, dt, tensor.Shape{k, m}, a.wv)))
	c := G.NewMatrix(a.g, dt, G.WithShape(n, m), G.WithName("c"), G.WithValue(mustTensor(t, dt, tensor.Shape{n, m}, a.cv)))
	var err error
	if ours {
		if a.y, err = MatMul(a.x, a.w); err != nil {
			t.Fatal(err)
		}
	} else {
		a.y = G.Must(G.Mul(a.x, a.w))
	}
	a.cost = G.Must(G.Sum(G.Must(G.HadamardProd(a.y, c))))
	if !lisp {
		gs, err := G.Grad(a.cost, a.x, a.w)
		if err != nil {
			t.Fatal(err)
		}
		a.dx, a.dw = gs[0], gs[1]
	}
	return a
}

// run returns y, dL/dx and dL/dw after runs runs of one machine.
func (a *matMulNet) run(t *testing.T, lisp bool, runs int) (y, dx, dw []float64) {
	t.Helper()
	var vm G.VM
	if lisp {
		vm = G.NewLispMachine(a.g)
	} else {
		vm = G.NewTapeMachine(a.g)
	}
	defer vm.Close()
	for range runs {
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		if !lisp {
			vm.Reset()
		}
	}
	grad := func(node, g *G.Node) []float64 {
		if lisp {
			v, err := node.Grad()
			if err != nil {
				t.Fatal(err)
			}
			return values(t, v)
		}
		return values(t, g.Value())
	}
	return append([]float64(nil), values(t, a.y.Value())...), grad(a.x, a.dx), grad(a.w, a.dw)
}

// TestMatMulMatchGorgonia checks the product and both gradients against
// Gorgonia's Mul, in float64 to round-off and in float32 to its precision,
// with the TapeMachine (over two runs, so the kept outputs are reused) and
// the LispMachine, on a small product and on one large enough to split its
// rows over goroutines.
func TestMatMulMatchGorgonia(t *testing.T) {
	for _, s := range [][3]int{{5, 7, 3}, {3000, 48, 64}} {
		n, k, m := s[0], s[1], s[2]
		if n*k*m >= 2*matMulChunk && runtime.GOMAXPROCS(0) < 2 {
			t.Logf("%d×%d×%d: one core, the split is not exercised", n, k, m)
		}
		want := make([][]float64, 3)
		want[0], want[1], want[2] = newMatMulNet(t, tensor.Float64, n, k, m, false, false).run(t, false, 1)
		for _, tc := range []struct {
			dt   tensor.Dtype
			lisp bool
			tol  float64
		}{{tensor.Float64, false, 1e-12}, {tensor.Float64, true, 1e-12}, {tensor.Float32, false, 1e-5}, {tensor.Float32, true, 1e-5}} {
			got := make([][]float64, 3)
			runs := 2 // the kept outputs are reused
			if tc.lisp {
				runs = 1 // a LispMachine adds into the gradients at every run
			}
			got[0], got[1], got[2] = newMatMulNet(t, tc.dt, n, k, m, true, tc.lisp).run(t, tc.lisp, runs)
			for i, name := range []string{"y", "dx", "dw"} {
				if j, ok := near(got[i], want[i], tc.tol*math.Sqrt(float64(k+n))); !ok {
					t.Errorf("%d×%d×%d %v lisp=%v: %s[%d] = %v, Gorgonia's %v", n, k, m, tc.dt, tc.lisp, name, j, got[i][max(j, 0)], want[i][max(j, 0)])
				}
			}
		}
	}
}

// TestMatMulFiniteDifferences checks entries of dL/dx and dL/dw against
// central differences of the cost in float64.
func TestMatMulFiniteDifferences(t *testing.T) {
	a := newMatMulNet(t, tensor.Float64, 4, 6, 3, true, false)
	_, dx, dw := a.run(t, false, 1)
	cost := func() float64 {
		b := newMatMulNet(t, tensor.Float64, 4, 6, 3, true, true)
		copy(b.x.Value().Data().([]float64), a.xv)
		copy(b.w.Value().Data().([]float64), a.wv)
		vm := G.NewTapeMachine(b.g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return b.cost.Value().Data().(float64)
	}
	const h = 1e-6
	check := func(name string, v []float64, i int, got float64) {
		v[i] += h
		up := cost()
		v[i] -= 2 * h
		down := cost()
		v[i] += h
		if fd := (up - down) / (2 * h); math.Abs(fd-got) > 1e-7*(1+math.Abs(fd)) {
			t.Errorf("%s[%d] = %v, finite difference %v", name, i, got, fd)
		}
	}
	for _, i := range []int{0, 7, 23} {
		check("dx", a.xv, i, dx[i])
	}
	for _, i := range []int{0, 10, 17} {
		check("dw", a.wv, i, dw[i])
	}
}

// TestMatMulBadInput: shapes that do not chain, wrong ranks, mixed dtypes
// and nil nodes are errors, and so are values of the wrong shape at run
// time.
func TestMatMulBadInput(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x"))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 4), G.WithName("w"))
	w2 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 4), G.WithName("w2"))
	w32 := G.NewMatrix(g, tensor.Float32, G.WithShape(3, 4), G.WithName("w32"))
	v := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("v"))
	xi := G.NewMatrix(g, tensor.Int, G.WithShape(2, 3), G.WithName("xi"))
	wi := G.NewMatrix(g, tensor.Int, G.WithShape(3, 4), G.WithName("wi"))
	for name, c := range map[string][2]*G.Node{
		"nil x": {nil, w}, "nil w": {x, nil}, "no chain": {x, w2}, "vector": {v, w},
		"mixed dtypes": {x, w32}, "int": {xi, wi},
	} {
		if _, err := MatMul(c[0], c[1]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	y, err := MatMul(x, w)
	if err != nil {
		t.Fatal(err)
	}
	op := y.Op().(*matMulOp)
	good := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float64, 6)))
	for name, vals := range map[string][]G.Value{
		"one value":   {good},
		"wrong shape": {good, tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(make([]float64, 12)))},
		"float32":     {good, tensor.New(tensor.WithShape(3, 4), tensor.Of(tensor.Float32))},
	} {
		if _, err := op.Do(vals...); err == nil {
			t.Errorf("Do with %s: no error", name)
		}
	}
}
