package optim_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/optim"
)

// net is a tiny Gorgonia MLP, loss = mean((s · tanh(X W1) W2 - Y)²), with
// the learnables W1 (3×4), W2 (4×1) and the scalar s (or without s).
type net struct {
	g     *G.ExprGraph
	loss  *G.Node
	learn G.Nodes
}

func fill(n int, f func(i int) float64, dt tensor.Dtype) any {
	if dt == tensor.Float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(f(i))
		}
		return v
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

// netConfig: noScalar leaves s out.
type netConfig struct{ noScalar bool }

func newNet(t testing.TB, dt tensor.Dtype, cfg ...netConfig) *net {
	t.Helper()
	var c netConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	g := G.NewGraph()
	mat := func(name string, r, c int, f func(i int) float64) *G.Node {
		return G.NewMatrix(g, dt, G.WithShape(r, c), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(fill(r*c, f, dt)))))
	}
	x := mat("X", 8, 3, func(i int) float64 { return math.Sin(float64(i) + 0.3) })
	y := mat("Y", 8, 1, func(i int) float64 { return math.Cos(2 * float64(i)) })
	w1 := mat("W1", 3, 4, func(i int) float64 { return 0.5 * math.Sin(1.7*float64(i)+1) })
	w2 := mat("W2", 4, 1, func(i int) float64 { return 0.5 * math.Cos(1.3*float64(i)) })
	var sv G.Value = G.NewF64(1.2)
	if dt == tensor.Float32 {
		sv = G.NewF32(1.2)
	}
	out := G.Must(G.Mul(G.Must(G.Tanh(G.Must(G.Mul(x, w1)))), w2))
	learn := G.Nodes{w1, w2}
	if !c.noScalar {
		s := G.NewScalar(g, dt, G.WithName("s"), G.WithValue(sv))
		out = G.Must(G.Mul(s, out))
		learn = append(learn, s)
	}
	loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(out, y))))))
	if _, err := G.Grad(loss, learn...); err != nil {
		t.Fatal(err)
	}
	return &net{g: g, loss: loss, learn: learn}
}

// params returns the learnables' values as float64.
func (n *net) params() []float64 {
	var out []float64
	for _, nd := range n.learn {
		switch v := nd.Value().(type) {
		case *G.F64:
			out = append(out, float64(*v))
		case *G.F32:
			out = append(out, float64(*v))
		case *tensor.Dense:
			switch d := v.Data().(type) {
			case []float64:
				out = append(out, d...)
			case []float32:
				for _, x := range d {
					out = append(out, float64(x))
				}
			}
		}
	}
	return out
}

// newVM returns a TapeMachine, with the learnables bound to dual values
// for "tape-dv".
func newVM(n *net, machine string) G.VM {
	if machine == "tape-dv" {
		return G.NewTapeMachine(n.g, G.BindDualValues(n.learn...))
	}
	return G.NewTapeMachine(n.g)
}

// train runs steps of the usual Gorgonia loop (RunAll, Step, Reset).
func train(t testing.TB, n *net, vm G.VM, s G.Solver, steps int) {
	t.Helper()
	for i := range steps {
		if err := vm.RunAll(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if err := s.Step(G.NodesToValueGrads(n.learn)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		vm.Reset()
	}
}

// TestEulerMatchesVanillaSolver: the Euler Solver without options is
// Gorgonia's VanillaSolver, bit for bit on float64 graphs (and to float32
// rounding on float32 graphs), on TapeMachines with and without dual
// values. (Gorgonia v0.9.18's LispMachine is left out: after a solver
// zeroes the gradients, as VanillaSolver does, its next runs return zero
// gradients, so no solver trains with it.)
func TestEulerMatchesVanillaSolver(t *testing.T) {
	const lr, steps = 0.1, 25
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, machine := range []string{"tape", "tape-dv"} {
			for _, rerun := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/%s/rerun=%v", dt, machine, rerun), func(t *testing.T) {
					a, b := newNet(t, dt), newNet(t, dt)
					vmA, vmB := newVM(a, machine), newVM(b, machine)
					defer vmA.Close()
					defer vmB.Close()
					var grad optim.GradFunc
					if rerun {
						grad = optim.RunVM(vmB)
					}
					rk, err := optim.NewSolver(optim.Euler(), grad, optim.WithLearnRate(lr))
					if err != nil {
						t.Fatal(err)
					}
					p0 := a.params()
					train(t, a, vmA, G.NewVanillaSolver(G.WithLearnRate(lr)), steps)
					train(t, b, vmB, rk, steps)
					pa, pb := a.params(), b.params()
					if dist(pa, p0) < 0.01 {
						t.Fatalf("the parameters hardly moved: %v → %v", p0, pa)
					}
					tol := 0.0
					if dt == tensor.Float32 {
						tol = 1e-5
					}
					for i := range pa {
						if math.Abs(pa[i]-pb[i]) > tol*(1+math.Abs(pa[i])) {
							t.Fatalf("parameter %d: VanillaSolver %v, Euler %v (diff %g)", i, pa[i], pb[i], pa[i]-pb[i])
						}
					}
					if s := rk.Stats(); s.Steps != steps || s.Evals != steps {
						t.Errorf("stats %+v", s)
					}
				})
			}
		}
	}
}

// TestMomentumMatchesGorgonia: Euler with momentum equals Gorgonia's
// Momentum solver (cw ← β cw - η g, w ← w + cw) to round-off. (Without
// the scalar s: Gorgonia v0.9.18's Momentum drops the velocity of scalar
// nodes, so it is plain SGD on them.)
func TestMomentumMatchesGorgonia(t *testing.T) {
	const lr, beta, steps = 0.05, 0.9, 30
	a, b := newNet(t, tensor.Float64, netConfig{noScalar: true}), newNet(t, tensor.Float64, netConfig{noScalar: true})
	vmA, vmB := newVM(a, "tape-dv"), newVM(b, "tape-dv")
	defer vmA.Close()
	defer vmB.Close()
	rk, err := optim.NewSolver(optim.Euler(), nil, optim.WithLearnRate(lr), optim.WithMomentum(beta))
	if err != nil {
		t.Fatal(err)
	}
	train(t, a, vmA, G.NewMomentum(G.WithLearnRate(lr), G.WithMomentum(beta)), steps)
	train(t, b, vmB, rk, steps)
	if d := dist(a.params(), b.params()); d > 1e-12 {
		t.Errorf("|Momentum - Euler with momentum| = %g", d)
	}
}

// linreg is least squares L = mean((X w - y)²) as a graph, with the
// gradient 2/m Xᵀ(X w - y) as a Func for the core optimizer.
type linreg struct {
	g    *G.ExprGraph
	w    *G.Node
	x, y []float64
}

const lrRows, lrCols = 10, 3

func newLinreg(t testing.TB) *linreg {
	t.Helper()
	l := &linreg{g: G.NewGraph()}
	l.x = fill(lrRows*lrCols, func(i int) float64 { return math.Sin(0.7*float64(i) + 0.2) }, tensor.Float64).([]float64)
	l.y = fill(lrRows, func(i int) float64 { return math.Cos(1.1 * float64(i)) }, tensor.Float64).([]float64)
	x := G.NewMatrix(l.g, tensor.Float64, G.WithShape(lrRows, lrCols), G.WithName("X"),
		G.WithValue(tensor.New(tensor.WithShape(lrRows, lrCols), tensor.WithBacking(append([]float64(nil), l.x...)))))
	y := G.NewMatrix(l.g, tensor.Float64, G.WithShape(lrRows, 1), G.WithName("y"),
		G.WithValue(tensor.New(tensor.WithShape(lrRows, 1), tensor.WithBacking(append([]float64(nil), l.y...)))))
	l.w = G.NewMatrix(l.g, tensor.Float64, G.WithShape(lrCols, 1), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(lrCols, 1), tensor.WithBacking([]float64{0.3, -0.2, 0.1}))))
	loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(x, l.w)), y))))))
	if _, err := G.Grad(loss, l.w); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *linreg) grad(w, g []float64) (float64, error) {
	var loss float64
	clear(g)
	for r := range lrRows {
		res := -l.y[r]
		for c := range lrCols {
			res += l.x[r*lrCols+c] * w[c]
		}
		loss += res * res / lrRows
		for c := range lrCols {
			g[c] += 2 * res * l.x[r*lrCols+c] / lrRows
		}
	}
	return loss, nil
}

// TestSolverMatchesCore: on every method and with every option, the
// Solver on a graph takes the same steps as the Optimizer on the analytic
// gradient: the stage parameters reach the graph and the stage gradients
// come back, on TapeMachines with and without dual values.
func TestSolverMatchesCore(t *testing.T) {
	for _, machine := range []string{"tape", "tape-dv"} {
		t.Run(machine, func(t *testing.T) { solverMatchesCore(t, machine) })
	}
}

func solverMatchesCore(t *testing.T, machine string) {
	opts := []optim.Option{optim.WithLearnRate(0.2), optim.WithRMSprop(0.9, 1e-8), optim.WithMomentum(0.5), optim.WithClip(2)}
	for _, c := range []struct {
		tab  optim.Tableau
		more []optim.Option
	}{
		{optim.Euler(), nil},
		{optim.Heun(), nil},
		{optim.RK3(), nil},
		{optim.RK4(), nil},
		{optim.RK4(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Lipschitz})}},
		{optim.BogackiShampine(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1e-4, Reject: true})}},
	} {
		t.Run(c.tab.Name, func(t *testing.T) {
			l := newLinreg(t)
			var vm G.VM
			if machine == "tape-dv" {
				vm = G.NewTapeMachine(l.g, G.BindDualValues(l.w))
			} else {
				vm = G.NewTapeMachine(l.g)
			}
			defer vm.Close()
			runs := 0
			run := optim.RunVM(vm)
			s, err := optim.NewSolver(c.tab, func() error { runs++; return run() }, append(opts, c.more...)...)
			if err != nil {
				t.Fatal(err)
			}
			core, _ := optim.New(c.tab, append(opts, c.more...)...)
			w := []float64{0.3, -0.2, 0.1}
			const steps = 15
			for range steps {
				if err := vm.RunAll(); err != nil {
					t.Fatal(err)
				}
				if err := s.Step(G.NodesToValueGrads(G.Nodes{l.w})); err != nil {
					t.Fatal(err)
				}
				vm.Reset()
				if err := core.Step(w, l.grad); err != nil {
					t.Fatal(err)
				}
			}
			got := l.w.Value().Data().([]float64)
			if d := dist(got, w); d > 1e-12 {
				t.Errorf("graph %v, core %v (|diff| %g)", got, w, d)
			}
			ss, cs := s.Stats(), core.Stats()
			if ss.Evals != cs.Evals || ss.Rejected != cs.Rejected || runs != ss.Evals-steps {
				t.Errorf("solver %+v (%d runs), core %+v", ss, runs, cs)
			}
		})
	}
}

// TestSolverNonFinite: a NaN or Inf gradient at any stage, or a failing
// re-run, stops the step with an error naming the stage and leaves the
// nodes' values unchanged, bit for bit.
func TestSolverNonFinite(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, bad := range []string{"NaN", "Inf", "error"} {
			for stage := 1; stage <= 4; stage++ {
				t.Run(fmt.Sprintf("%v/%s/stage%d", dt, bad, stage), func(t *testing.T) {
					n := newNet(t, dt)
					vm := newVM(n, "tape-dv")
					defer vm.Close()
					armed := false
					calls := 1 // the caller's run is stage 1
					spoil := func() error {
						if !armed || calls != stage {
							return nil
						}
						if bad == "error" {
							return errors.New("device lost")
						}
						gv, _ := n.learn[1].Grad()
						v := math.NaN()
						if bad == "Inf" {
							v = math.Inf(1)
						}
						switch d := gv.Data().(type) {
						case []float64:
							d[2] = v
						case []float32:
							d[2] = float32(v)
						}
						return nil
					}
					run := optim.RunVM(vm)
					s, err := optim.NewSolver(optim.RK4(), func() error {
						calls++
						if err := run(); err != nil {
							return err
						}
						return spoil()
					}, optim.WithLearnRate(0.01), optim.WithMomentum(0.9), optim.WithRMSprop(0.99, 1e-8))
					if err != nil {
						t.Fatal(err)
					}
					train(t, n, vm, s, 2)
					before := n.params()
					if err := vm.RunAll(); err != nil {
						t.Fatal(err)
					}
					if stage == 1 && bad == "error" {
						t.Skip("stage 1 is the caller's run")
					}
					armed, calls = true, 1
					if err := spoil(); err != nil {
						t.Fatal(err)
					}
					err = s.Step(G.NodesToValueGrads(n.learn))
					var se *optim.StageError
					if !errors.As(err, &se) || se.Stage != stage || se.Step != 3 {
						t.Fatalf("error %v, want a StageError of stage %d of step 3", err, stage)
					}
					if want := fmt.Sprintf("rk4 step 3, stage %d of 4", stage); !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
					if errors.Is(err, optim.ErrNotFinite) != (bad != "error") {
						t.Errorf("errors.Is(ErrNotFinite) wrong for %s: %v", bad, err)
					}
					after := n.params()
					for i := range before {
						if math.Float64bits(before[i]) != math.Float64bits(after[i]) {
							t.Fatalf("parameter %d changed on error: %v → %v", i, before[i], after[i])
						}
					}
					vm.Reset()
				})
			}
		}
	}
}

// TestSolverNaNFromGraph: a stage that leaves the domain of the loss
// (√w at w < 0) gives NaN gradients there; the step fails at that stage.
func TestSolverNaNFromGraph(t *testing.T) {
	g := G.NewGraph()
	w := G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 4}))))
	loss := G.Must(G.Sum(G.Must(G.Sqrt(w))))
	if _, err := G.Grad(loss, w); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(w))
	defer vm.Close()
	// Stage 2 evaluates at w - 5 k1 = (1 - 2.5, 4 - 1.25).
	s, err := optim.NewSolver(optim.RK4(), optim.RunVM(vm), optim.WithLearnRate(10))
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	err = s.Step(G.NodesToValueGrads(G.Nodes{w}))
	if !errors.Is(err, optim.ErrNotFinite) || !strings.Contains(err.Error(), "stage 2 of 4") {
		t.Fatalf("error %v, want a non-finite gradient at stage 2", err)
	}
	t.Log(err)
	if got := w.Value().Data().([]float64); got[0] != 1 || got[1] != 4 {
		t.Errorf("w = %v after the failed step, want [1 4]", got)
	}
}

// TestSolverFloat32: RK4 on a float32 graph follows the float64 graph.
func TestSolverFloat32(t *testing.T) {
	var ps [][]float64
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		n := newNet(t, dt)
		vm := newVM(n, "tape")
		s, err := optim.NewSolver(optim.RK4(), optim.RunVM(vm), optim.WithLearnRate(0.2))
		if err != nil {
			t.Fatal(err)
		}
		train(t, n, vm, s, 20)
		vm.Close()
		ps = append(ps, n.params())
	}
	if d := dist(ps[0], ps[1]); d > 1e-4 {
		t.Errorf("float32 and float64 RK4 differ by %g", d)
	}
}

func TestSolverErrors(t *testing.T) {
	if _, err := optim.NewSolver(optim.RK4(), nil); err == nil {
		t.Error("RK4 without a GradFunc: no error")
	}
	if _, err := optim.NewSolver(optim.RK4(), nil, optim.WithLearnRate(-1)); err == nil {
		t.Error("bad option: no error")
	}
	n := newNet(t, tensor.Float64)
	s, _ := optim.NewSolver(optim.Euler(), nil)
	// No gradients before the graph has run through a machine.
	g := G.NewGraph()
	nograd := G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("nograd"), G.WithInit(G.Zeroes()))
	if err := s.Step(G.NodesToValueGrads(G.Nodes{nograd})); err == nil || !strings.Contains(err.Error(), "nograd") {
		t.Errorf("node without gradient: %v", err)
	}
	if err := s.Step([]G.ValueGrad{nil}); err == nil {
		t.Error("nil node: no error")
	}
	iv := G.NewVector(g, tensor.Int, G.WithShape(2), G.WithName("ints"), G.WithInit(G.Zeroes()))
	if err := s.Step(G.NodesToValueGrads(G.Nodes{iv})); err == nil || !strings.Contains(err.Error(), "ints") {
		t.Errorf("int node: %v", err)
	}
	_ = n
}
