package ops

import (
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
	"github.com/gofde/gofde/internal/value"
)

// lossGraph builds x0 (2×3) -> FDE -> Σ x(T)² with λ as a parameter node
// and, optionally, α as a learnable scalar.
type lossGraph struct {
	g              *G.ExprGraph
	x0, lam, alpha *G.Node
	out, cost      *G.Node
	grads          G.Nodes
	wrt            G.Nodes
}

func buildLoss(t *testing.T, dt tensor.Dtype, learnAlpha, symbolic bool, cfg Config) *lossGraph {
	t.Helper()
	l := &lossGraph{g: G.NewGraph()}
	x0v := []float64{1, -0.5, 2, 0.3, 0.7, -1.2}
	if dt == tensor.Float32 {
		f := make([]float32, len(x0v))
		for i, v := range x0v {
			f[i] = float32(v)
		}
		l.x0 = G.NewMatrix(l.g, dt, G.WithShape(2, 3), G.WithName("x0"), G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(f))))
		l.lam = G.NewVector(l.g, dt, G.WithShape(1), G.WithName("lambda"), G.WithValue(tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1.3}))))
	} else {
		l.x0 = G.NewMatrix(l.g, dt, G.WithShape(2, 3), G.WithName("x0"), G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(x0v))))
		l.lam = G.NewVector(l.g, dt, G.WithShape(1), G.WithName("lambda"), G.WithValue(tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1.3}))))
	}
	l.wrt = G.Nodes{l.x0, l.lam}
	if learnAlpha {
		if dt == tensor.Float32 {
			l.alpha = G.NewScalar(l.g, dt, G.WithName("alpha"), G.WithValue(float32(cfg.Solve.Alpha)))
		} else {
			l.alpha = G.NewScalar(l.g, dt, G.WithName("alpha"), G.WithValue(cfg.Solve.Alpha))
		}
		l.wrt = append(l.wrt, l.alpha)
	}
	var err error
	if l.out, err = FDE(l.x0, []*G.Node{l.lam}, l.alpha, cfg); err != nil {
		t.Fatal(err)
	}
	l.cost = G.Must(G.Sum(G.Must(G.Square(l.out))))
	if symbolic {
		if l.grads, err = G.Grad(l.cost, l.wrt...); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func values(t *testing.T, v G.Value) []float64 {
	t.Helper()
	f, err := value.Float64s(v)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// reference computes the loss gradient with fode directly.
func reference(t *testing.T, cfg Config) []float64 {
	lin := cfg.Field
	x0 := []float64{1, -0.5, 2, 0.3, 0.7, -1.2}
	sol, err := fode.Solve(lin, x0, []float64{1.3}, cfg.Solve)
	if err != nil {
		t.Fatal(err)
	}
	n := len(x0)
	ybar := make([]float64, len(sol.Times)*n)
	for i := range sol.Times {
		for j, v := range sol.At(i) {
			ybar[i*n+j] = 2 * v
		}
	}
	g, err := fode.Grad(sol, ybar, fode.GradOptions{Mode: cfg.Grad, GradAlpha: cfg.Solve.Method.Fractional() && cfg.Grad == fode.Adjoint})
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]float64(nil), g.X0...), g.Theta...)
	return append(out, g.Alpha)
}

func TestFDEOpGradients(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	for _, c := range []struct {
		name       string
		dt         tensor.Dtype
		machine    string
		learnAlpha bool
		times      []float64
		method     fode.Method
		alpha      float64
		tol        float64
	}{
		{"tape/f64", tensor.Float64, "tape", false, nil, fode.PECE, 0.5, 1e-12},
		{"tape/f64/alpha", tensor.Float64, "tape", true, nil, fode.PECE, 0.5, 1e-12},
		{"tape/f64/trajectory", tensor.Float64, "tape", true, []float64{0.3, 0.65, 1}, fode.Rectangle, 0.7, 1e-12},
		{"tape/f64/dopri5", tensor.Float64, "tape", false, nil, fode.Dopri5, 1, 1e-12},
		{"lisp/f64", tensor.Float64, "lisp", false, nil, fode.PECE, 0.5, 1e-12},
		{"lisp/f64/alpha", tensor.Float64, "lisp", true, []float64{0.5, 1}, fode.Trapezoid, 0.8, 1e-12},
		{"tape/f32", tensor.Float32, "tape", true, nil, fode.PECE, 0.5, 1e-5},
		{"lisp/f32", tensor.Float32, "lisp", false, nil, fode.L1, 0.6, 1e-5},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Field: lin, Solve: fode.Options{Method: c.method, Alpha: c.alpha, T: 1, Steps: 20, Times: c.times}}
			l := buildLoss(t, c.dt, c.learnAlpha, c.machine == "tape", cfg)
			var vm G.VM
			if c.machine == "tape" {
				vm = G.NewTapeMachine(l.g, G.BindDualValues(l.wrt...))
			} else {
				vm = G.NewLispMachine(l.g)
			}
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			want := reference(t, cfg)
			var got []float64
			for _, n := range l.wrt {
				gv, err := n.Grad()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, values(t, gv)...)
			}
			if !c.learnAlpha {
				want = want[:len(want)-1]
			}
			for i := range got {
				if d := math.Abs(got[i] - want[i]); d > c.tol*math.Max(1, math.Abs(want[i])) {
					t.Errorf("gradient %d: %v, want %v", i, got[i], want[i])
				}
			}
			if s := l.out.Shape(); len(c.times) > 1 && (s[0] != len(c.times) || s.TotalSize() != 6*len(c.times)) {
				t.Errorf("output shape %v", s)
			}
		})
	}
}

// TestFDEOpReuse runs one tape machine several times with new inputs, as
// a training loop does, and before each training run a forward-only
// machine on the loss subgraph (an evaluation: a forward pass with no
// backward pass) with another λ. The training run's gradient must be the
// one of its own λ, and the store must stay within storeDepth. It then
// runs the gradient op with nothing stored, which solves again.
func TestFDEOpReuse(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	cfg := Config{Field: lin, Solve: fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 10}}
	l := buildLoss(t, tensor.Float64, false, true, cfg)
	vm := G.NewTapeMachine(l.g, G.BindDualValues(l.wrt...))
	defer vm.Close()
	eval := G.NewTapeMachine(l.g.SubgraphRoots(l.cost))
	defer eval.Close()
	op := l.out.Op().(*fdeOp)
	x0 := []float64{1, -0.5, 2, 0.3, 0.7, -1.2}
	want := func(lam float64) (float64, float64) {
		sol, _ := fode.Solve(lin, x0, []float64{lam}, cfg.Solve)
		ybar := make([]float64, 6)
		cost := 0.0
		for j, v := range sol.Final() {
			ybar[j] = 2 * v
			cost += v * v
		}
		g, _ := fode.Grad(sol, ybar, fode.GradOptions{})
		return cost, g.Theta[0]
	}
	setLambda := func(lam float64) {
		if err := G.Let(l.lam, tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{lam}))); err != nil {
			t.Fatal(err)
		}
	}
	for it := range 3 {
		evalLam := 2 + 0.5*float64(it)
		setLambda(evalLam)
		if err := eval.RunAll(); err != nil {
			t.Fatal(err)
		}
		eval.Reset()
		if c, _ := want(evalLam); math.Abs(values(t, l.cost.Value())[0]-c) > 1e-12*c {
			t.Errorf("run %d: evaluation cost %v, want %v", it, values(t, l.cost.Value())[0], c)
		}
		lam := 1.0 + 0.25*float64(it)
		setLambda(lam)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		gv := l.grads[1].Value() // the gradient node's own value; the dual value accumulates
		_, wg := want(lam)
		if got := values(t, gv)[0]; math.Abs(got-wg) > 1e-12*math.Abs(wg) {
			t.Errorf("run %d: dL/dlambda %v, want %v", it, got, wg)
		}
		vm.Reset()
		// The evaluation's solutions are kept (the op has a gradient node
		// and cannot tell which machine runs it) but stay bounded.
		if n := op.stored(); n > storeDepth {
			t.Errorf("run %d: %d solutions stored, more than %d", it, n, storeDepth)
		}
	}
	// The gradient op with no stored solution solves again.
	op.store.mu.Lock()
	op.store.entries = nil
	op.store.mu.Unlock()
	lam := 1.5
	setLambda(lam)
	if err := eval.RunAll(); err != nil {
		t.Fatal(err)
	}
	op.store.mu.Lock()
	op.store.entries = nil
	op.store.mu.Unlock()
	gout := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float64, 6)))
	for j, v := range values(t, l.out.Value()) {
		gout.Data().([]float64)[j] = 2 * v
	}
	packed, err := (&fdeGradOp{fwd: op}).Do(l.x0.Value(), l.lam.Value(), l.out.Value(), gout)
	if err != nil {
		t.Fatal(err)
	}
	_, wg := want(lam)
	if got := values(t, packed)[6]; math.Abs(got-wg) > 1e-12*math.Abs(wg) {
		t.Errorf("gradient without a stored solution: dL/dlambda %v, want %v", got, wg)
	}
}

// TestFDEOpBatchChange calls the op's Do directly with x0 values of
// another batch size: the op solves whatever batch it is given. Through a
// graph this does not arise, since Gorgonia fixes a node's shape when the
// graph is built (G.Let refuses another; see layers' TestBlockBatchSizes).
func TestFDEOpBatchChange(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	g := G.NewGraph()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"))
	lam := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("lambda"), G.WithValue(tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1}))))
	op, err := newFDEOp(x0, []*G.Node{lam}, Learn{}, Config{Field: lin, Solve: fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 10}})
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range []int{2, 5} {
		x := tensor.New(tensor.WithShape(rows, 3), tensor.WithBacking(make([]float64, rows*3)))
		out, err := op.Do(x, lam.Value())
		if err != nil {
			t.Fatal(err)
		}
		if !out.Shape().Eq(tensor.Shape{rows, 3}) {
			t.Errorf("batch %d: output shape %v", rows, out.Shape())
		}
	}
}

// TestFDEOpBadValues: input values the op cannot read are errors (with the
// kept buffers handed back), and a later good run still works.
func TestFDEOpBadValues(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	g := G.NewGraph()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"))
	lam := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("lambda"))
	op, err := newFDEOp(x0, []*G.Node{lam}, Learn{}, Config{Field: lin, Solve: fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 4}})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float64, 6)))
	good := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1}))
	for name, vals := range map[string][]G.Value{
		"int parameter":  {x, tensor.New(tensor.WithShape(1), tensor.Of(tensor.Int))},
		"nil parameter":  {x, nil},
		"missing values": {x},
		"int state":      {tensor.New(tensor.WithShape(2, 3), tensor.Of(tensor.Int)), good},
	} {
		if _, err := op.Do(vals...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := op.Do(x, good); err != nil {
		t.Errorf("a good run after the bad ones: %v", err)
	}
}

func TestFDEConstructionErrors(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	g := G.NewGraph()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"))
	x4 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 4), G.WithName("x4"))
	xi := G.NewMatrix(g, tensor.Int, G.WithShape(2, 3), G.WithName("xi"))
	lam := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("lambda"))
	lam2 := G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("lambda2"))
	lam32 := G.NewVector(g, tensor.Float32, G.WithShape(1), G.WithName("lambda32"))
	avec := G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("avec"))
	good := Config{Field: lin, Solve: fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 10}}
	bad := func(f func(*Config)) Config { c := good; f(&c); return c }
	cases := []struct {
		name   string
		x      *G.Node
		params []*G.Node
		alpha  *G.Node
		cfg    Config
		want   string
	}{
		{"shape mismatch", x4, []*G.Node{lam}, nil, good, "does not fit"},
		{"param size", x0, []*G.Node{lam2}, nil, good, "needs 1"},
		{"missing params", x0, nil, nil, good, "hold 0 values"},
		{"dtype", xi, []*G.Node{lam}, nil, good, "dtype"},
		{"param dtype", x0, []*G.Node{lam32}, nil, good, "dtype"},
		{"alpha not scalar", x0, []*G.Node{lam}, avec, good, "scalar"},
		{"alpha out of range", x0, []*G.Node{lam}, nil, bad(func(c *Config) { c.Solve.Alpha = 1.5 }), "alpha"},
		{"no steps", x0, []*G.Node{lam}, nil, bad(func(c *Config) { c.Solve.Steps = 0 }), "steps"},
		{"nil field", x0, []*G.Node{lam}, nil, bad(func(c *Config) { c.Field = nil }), "nil field"},
		{"forward mode", x0, []*G.Node{lam}, nil, bad(func(c *Config) { c.Grad = fode.Forward }), "not available"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FDE(c.x, c.params, c.alpha, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want mention of %q", err, c.want)
			}
		})
	}
}

// TestFDETermsGradients learns the orders and the coefficients of a
// multi-term equation (and each alone) through both machines: the
// packed gradient's parts must equal central differences of the loss
// Σ x(T)² in every order, coefficient, λ and component of x0.
func TestFDETermsGradients(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	x0v := []float64{1, -0.5, 2, 0.3, 0.7, -1.2}
	orders, coeffs := []float64{0.4, 0.9}, []float64{0.8, 1.5}
	lossAt := func(opt fode.Options, x0 []float64, lam float64) float64 {
		sol, err := fode.Solve(lin, x0, []float64{lam}, opt)
		if err != nil {
			t.Fatal(err)
		}
		var c float64
		for _, v := range sol.Final() {
			c += v * v
		}
		return c
	}
	for _, c := range []struct {
		name           string
		machine        string
		method         fode.Method
		learnO, learnC bool
		memory         int
	}{
		{"tape/gl-implicit/both", "tape", fode.GLImplicit, true, true, 0},
		{"lisp/l1/both/memory", "lisp", fode.L1, true, true, 6},
		{"tape/gl/orders", "tape", fode.GL, true, false, 0},
		{"tape/l1/coeffs", "tape", fode.L1, false, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := fode.Options{Method: c.method, T: 1, Steps: 20, ShortMemory: c.memory, Iteration: fode.IterationSettings{Tol: 1e-14}, Orders: orders, Coeffs: coeffs}
			g := G.NewGraph()
			x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"), G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(append([]float64(nil), x0v...)))))
			lam := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("lambda"), G.WithValue(tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1.3}))))
			wrt := G.Nodes{x0, lam}
			var learn Learn
			cfg := Config{Field: lin, Solve: base}
			if c.learnO {
				learn.Orders = G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("orders"), G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking(append([]float64(nil), orders...)))))
				wrt = append(wrt, learn.Orders)
				cfg.Solve.Orders = nil
			}
			if c.learnC {
				learn.Coeffs = G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("coeffs"), G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking(append([]float64(nil), coeffs...)))))
				wrt = append(wrt, learn.Coeffs)
				cfg.Solve.Coeffs = nil
			}
			out, err := FDETerms(x0, []*G.Node{lam}, learn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cost := G.Must(G.Sum(G.Must(G.Square(out))))
			var vm G.VM
			if c.machine == "tape" {
				if _, err := G.Grad(cost, wrt...); err != nil {
					t.Fatal(err)
				}
				vm = G.NewTapeMachine(g, G.BindDualValues(wrt...))
			} else {
				vm = G.NewLispMachine(g)
			}
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, n := range wrt {
				gv, err := n.Grad()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, values(t, gv)...)
			}
			// Central differences of the same loss in every input.
			var want []float64
			const d = 1e-6
			x := append([]float64(nil), x0v...)
			for i := range x {
				x[i] += d
				lp := lossAt(base, x, 1.3)
				x[i] -= 2 * d
				lm := lossAt(base, x, 1.3)
				x[i] += d
				want = append(want, (lp-lm)/(2*d))
			}
			want = append(want, (lossAt(base, x0v, 1.3+d)-lossAt(base, x0v, 1.3-d))/(2*d))
			for _, which := range []int{0, 1} {
				if (which == 0 && !c.learnO) || (which == 1 && !c.learnC) {
					continue
				}
				for i := range 2 {
					hi, lo := base, base
					v := orders
					if which == 1 {
						v = coeffs
					}
					vh, vl := append([]float64(nil), v...), append([]float64(nil), v...)
					vh[i] += d
					vl[i] -= d
					if which == 0 {
						hi.Orders, lo.Orders = vh, vl
					} else {
						hi.Coeffs, lo.Coeffs = vh, vl
					}
					want = append(want, (lossAt(hi, x0v, 1.3)-lossAt(lo, x0v, 1.3))/(2*d))
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d gradient values, want %d", len(got), len(want))
			}
			for i := range got {
				if e := math.Abs(got[i] - want[i]); e > 1e-7*math.Max(1, math.Abs(want[i])) {
					t.Errorf("gradient %d: %v, finite differences %v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestFDETermsErrors(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	g := G.NewGraph()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"))
	lam := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("lambda"))
	o2 := G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("o2"))
	c3 := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("c3"))
	c32 := G.NewVector(g, tensor.Float32, G.WithShape(2), G.WithName("c32"))
	m22 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("m22"))
	a := G.NewScalar(g, tensor.Float64, G.WithName("a"))
	gl := fode.Options{Method: fode.GL, T: 1, Steps: 10}
	for _, c := range []struct {
		name  string
		learn Learn
		opt   fode.Options
		grad  fode.GradMode
		want  string
	}{
		{"lengths", Learn{Orders: o2, Coeffs: c3}, gl, fode.Adjoint, "2 orders but 3 coefficients"},
		{"dtype", Learn{Orders: o2, Coeffs: c32}, gl, fode.Adjoint, "dtype"},
		{"not a vector", Learn{Orders: m22}, gl, fode.Adjoint, "must be a vector"},
		{"with alpha", Learn{Alpha: a, Orders: o2}, gl, fode.Adjoint, "exclude each other"},
		{"continuous", Learn{Orders: o2}, gl, fode.Continuous, "need the adjoint"},
		{"coeffs without orders", Learn{Coeffs: c3}, fode.Options{Method: fode.GL, T: 1, Steps: 10}, fode.Adjoint, "need 3 orders"},
		{"method", Learn{Orders: o2}, fode.Options{Method: fode.PECE, T: 1, Steps: 10}, fode.Adjoint, "does not solve multi-term"},
		{"memory", Learn{Orders: o2}, fode.Options{Method: fode.GL, T: 1, Steps: 10, ShortMemory: -1}, fode.Adjoint, "short memory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := FDETerms(x0, []*G.Node{lam}, c.learn, Config{Field: lin, Solve: c.opt, Grad: c.grad})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want mention of %q", err, c.want)
			}
		})
	}
}
