package optim_test

import (
	"errors"
	"fmt"
	"github.com/gofde/gofde/fode"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gofde/gofde/optim"
)

// quadratic is L(θ) = ½ θᵀAθ with A symmetric positive definite.
type quadratic struct {
	a *mat.SymDense
	n int
}

// newQuadratic returns the quadratic with the given upper triangle.
func newQuadratic(n int, upper []float64) quadratic {
	a := mat.NewSymDense(n, nil)
	k := 0
	for i := range n {
		for j := i; j < n; j++ {
			a.SetSym(i, j, upper[k])
			k++
		}
	}
	return quadratic{a: a, n: n}
}

// testQuadratic has eigenvalues in about [0.4, 3.1].
func testQuadratic() quadratic {
	return newQuadratic(3, []float64{
		2, 0.5, -0.3,
		1, 0.2,
		1.5,
	})
}

// grad is the Func of q: ∇L = Aθ.
func (q quadratic) grad(p, g []float64) (float64, error) {
	gv := mat.NewVecDense(q.n, g)
	gv.MulVec(q.a, mat.NewVecDense(q.n, p))
	return 0.5 * mat.Dot(mat.NewVecDense(q.n, p), gv), nil
}

// flow returns exp(-A t) θ0 from the eigendecomposition A = V Λ Vᵀ.
func (q quadratic) flow(t float64, theta0 []float64) []float64 {
	var eig mat.EigenSym
	if !eig.Factorize(q.a, true) {
		panic("eigendecomposition failed")
	}
	var v mat.Dense
	eig.VectorsTo(&v)
	lam := eig.Values(nil)
	var c mat.VecDense
	c.MulVec(v.T(), mat.NewVecDense(q.n, theta0))
	for i, l := range lam {
		c.SetVec(i, c.AtVec(i)*math.Exp(-l*t))
	}
	var out mat.VecDense
	out.MulVec(&v, &c)
	return out.RawVector().Data
}

func dist(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s)
}

// flowError runs N steps of h = T/N from θ0 and returns |θ_N - θ(T)|.
func flowError(t *testing.T, q quadratic, tab optim.Tableau, T float64, N int, theta0 []float64) float64 {
	t.Helper()
	o, err := optim.New(tab, optim.WithLearnRate(T/float64(N)))
	if err != nil {
		t.Fatal(err)
	}
	theta := append([]float64(nil), theta0...)
	for range N {
		if err := o.Step(theta, q.grad); err != nil {
			t.Fatal(err)
		}
	}
	if got := o.Stats().Evals; got != N*o.StagesPerStep() {
		t.Errorf("%s: %d evaluations for %d steps of %d stages", tab.Name, got, N, o.StagesPerStep())
	}
	return dist(theta, q.flow(T, theta0))
}

// TestFlowOrders measures the global order of every method on the gradient
// flow of a quadratic: the error at T = 1 after N, 2N, 4N steps must fall
// by about 2^p per halving of h.
func TestFlowOrders(t *testing.T) {
	q := testQuadratic()
	theta0 := []float64{1, -0.5, 0.8}
	const T = 1.0
	for _, c := range []struct {
		tab optim.Tableau
		N   int
	}{
		{optim.Euler(), 64},
		{optim.Heun(), 32},
		{optim.RK3(), 16},
		{optim.RK4(), 16},
		{optim.BogackiShampine(), 16},
	} {
		t.Run(c.tab.Name, func(t *testing.T) {
			var errs [3]float64
			for i := range errs {
				errs[i] = flowError(t, q, c.tab, T, c.N<<i, theta0)
			}
			p1, p2 := math.Log2(errs[0]/errs[1]), math.Log2(errs[1]/errs[2])
			t.Logf("%s: h = 1/%d, 1/%d, 1/%d: errors %.3g %.3g %.3g, orders %.3f %.3f",
				c.tab.Name, c.N, 2*c.N, 4*c.N, errs[0], errs[1], errs[2], p1, p2)
			want := float64(c.tab.Order)
			for _, p := range []float64{p1, p2} {
				if math.Abs(p-want) > 0.1 {
					t.Errorf("%s: observed order %.3f, want %v", c.tab.Name, p, want)
				}
			}
		})
	}
}

// TestFlowOrdersNonlinear repeats the measurement on the non-quadratic
// L = ½ θᵀAθ + ¼ Σ θ_i⁴ (where three-stage methods of order 3 no longer
// coincide), against RK4 with 8192 steps.
func TestFlowOrdersNonlinear(t *testing.T) {
	q := testQuadratic()
	f := func(p, g []float64) (float64, error) {
		l, _ := q.grad(p, g)
		for i, x := range p {
			g[i] += x * x * x
			l += x * x * x * x / 4
		}
		return l, nil
	}
	theta0 := []float64{1.5, -1, 0.8}
	solve := func(tab optim.Tableau, N int) []float64 {
		o, err := optim.New(tab, optim.WithLearnRate(1/float64(N)))
		if err != nil {
			t.Fatal(err)
		}
		theta := append([]float64(nil), theta0...)
		for range N {
			if err := o.Step(theta, f); err != nil {
				t.Fatal(err)
			}
		}
		return theta
	}
	ref := solve(optim.RK4(), 8192)
	for _, c := range []struct {
		tab optim.Tableau
		N   int
	}{
		{optim.Euler(), 256},
		{optim.Heun(), 128},
		{optim.RK3(), 64},
		{optim.RK4(), 64},
		{optim.BogackiShampine(), 64},
	} {
		var errs [3]float64
		for i := range errs {
			errs[i] = dist(solve(c.tab, c.N<<i), ref)
		}
		p1, p2 := math.Log2(errs[0]/errs[1]), math.Log2(errs[1]/errs[2])
		t.Logf("%s: h = 1/%d, 1/%d, 1/%d: errors %.3g %.3g %.3g, orders %.3f %.3f",
			c.tab.Name, c.N, 2*c.N, 4*c.N, errs[0], errs[1], errs[2], p1, p2)
		for _, p := range []float64{p1, p2} {
			if math.Abs(p-float64(c.tab.Order)) > 0.15 {
				t.Errorf("%s: observed order %.3f, want %d", c.tab.Name, p, c.tab.Order)
			}
		}
	}
}

// TestEulerIsGradientDescent: Euler with no options is θ ← θ - h ∇L(θ),
// bit for bit.
func TestEulerIsGradientDescent(t *testing.T) {
	q := testQuadratic()
	const h = 0.137
	o, err := optim.New(optim.Euler(), optim.WithLearnRate(h))
	if err != nil {
		t.Fatal(err)
	}
	theta := []float64{1, -0.5, 0.8}
	want := append([]float64(nil), theta...)
	g := make([]float64, 3)
	for step := range 25 {
		if err := o.Step(theta, q.grad); err != nil {
			t.Fatal(err)
		}
		q.grad(want, g)
		for i := range want {
			want[i] = want[i] - h*g[i]
		}
		for i := range want {
			if theta[i] != want[i] {
				t.Fatalf("step %d: θ[%d] = %v, gradient descent gives %v", step, i, theta[i], want[i])
			}
		}
	}
}

func TestTableaus(t *testing.T) {
	want := map[string]int{"euler": 1, "heun": 2, "rk3": 3, "rk4": 4, "bs32": 4}
	for _, tab := range optim.Tableaus() {
		if err := tab.Validate(); err != nil {
			t.Errorf("%s: %v", tab.Name, err)
		}
		if tab.Stages() != want[tab.Name] {
			t.Errorf("%s: %d stages, want %d", tab.Name, tab.Stages(), want[tab.Name])
		}
		got, err := optim.ParseTableau(tab.Name)
		if err != nil || got.Name != tab.Name {
			t.Errorf("ParseTableau(%q) = %v, %v", tab.Name, got.Name, err)
		}
	}
	if _, err := optim.ParseTableau("rk45"); err == nil {
		t.Error("ParseTableau(rk45): no error")
	}
	// A tableau padded to a square matrix is accepted.
	sq := optim.Tableau{Name: "heun-square", A: [][]float64{{0, 0}, {1, 0}}, B: []float64{0.5, 0.5}, Order: 2}
	if err := sq.Validate(); err != nil {
		t.Errorf("square Heun: %v", err)
	}

	bad := func(edit func(*optim.Tableau)) optim.Tableau {
		tab := optim.RK4()
		edit(&tab)
		return tab
	}
	for _, c := range []struct {
		name string
		tab  optim.Tableau
		msg  string
	}{
		{"no stages", optim.Tableau{Name: "x", Order: 1}, "no stages"},
		{"rows", bad(func(t *optim.Tableau) { t.A = t.A[:3] }), "3 rows"},
		{"implicit", bad(func(t *optim.Tableau) { t.A[1] = []float64{0.5, 0.1} }), "explicit"},
		{"long row", bad(func(t *optim.Tableau) { t.A[1] = []float64{0.5, 0, 0, 0, 0} }), "more than"},
		{"NaN in A", bad(func(t *optim.Tableau) { t.A[2][1] = math.NaN() }), "NaN"},
		{"NaN in B", bad(func(t *optim.Tableau) { t.B[0] = math.NaN() }), "NaN"},
		{"order 0", bad(func(t *optim.Tableau) { t.Order = 0 }), "want ≥ 1"},
		{"weights", bad(func(t *optim.Tableau) { t.B[0] = 0.2 }), "Σ b ="},
		{"order too high", bad(func(t *optim.Tableau) { t.Order = 5; t.A[3][2] = 0.9; t.A[3][1] = 0.1 }), "order 5"},
		{"order 4 fails", bad(func(t *optim.Tableau) { t.A[3] = []float64{0.5, 0, 0.5} }), "does not have order 4"},
		{"embedded order", bad(func(t *optim.Tableau) { t.EmbeddedOrder = 3 }), "without BHat"},
		{"BHat length", func() optim.Tableau { b := optim.BogackiShampine(); b.BHat = b.BHat[:3]; return b }(), "BHat has 3"},
		{"BHat order", func() optim.Tableau { b := optim.BogackiShampine(); b.EmbeddedOrder = 3; return b }(), "BHat does not have order 3"},
	} {
		err := c.tab.Validate()
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.msg)
		}
		if _, err2 := optim.New(c.tab); err2 == nil {
			t.Errorf("%s: New accepted an invalid tableau", c.name)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		tab  optim.Tableau
		opts []optim.Option
		msg  string
	}{
		{"lr 0", optim.RK4(), []optim.Option{optim.WithLearnRate(0)}, "learn rate"},
		{"lr NaN", optim.RK4(), []optim.Option{optim.WithLearnRate(math.NaN())}, "learn rate"},
		{"lr Inf", optim.RK4(), []optim.Option{optim.WithLearnRate(math.Inf(1))}, "learn rate"},
		{"rho 1", optim.RK4(), []optim.Option{optim.WithRMSprop(1, 1e-8)}, "ρ"},
		{"eps 0", optim.RK4(), []optim.Option{optim.WithRMSprop(0.9, 0)}, "ε"},
		{"adagrad eps", optim.RK4(), []optim.Option{optim.WithAdaGrad(-1)}, "ε"},
		{"beta 1", optim.RK4(), []optim.Option{optim.WithMomentum(1)}, "β"},
		{"beta <0", optim.RK4(), []optim.Option{optim.WithMomentum(-0.1)}, "β"},
		{"clip", optim.RK4(), []optim.Option{optim.WithClip(0)}, "clip"},
		{"no pair", optim.RK4(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1e-3})}, "embedded pair"},
		{"tol", optim.BogackiShampine(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded})}, "Tol"},
		{"target", optim.RK4(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Lipschitz, Target: -1})}, "Target"},
		{"safety", optim.BogackiShampine(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1, Safety: 2})}, "Safety"},
		{"facs", optim.BogackiShampine(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1, FacMin: 2})}, "factor"},
		{"bounds", optim.BogackiShampine(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1, HMin: 1, HMax: 0.5})}, "step bounds"},
		{"rejects", optim.BogackiShampine(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1, MaxRejects: -1})}, "MaxRejects"},
		{"control", optim.RK4(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: 7})}, "step control"},
	} {
		_, err := optim.New(c.tab, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.msg)
		}
	}
}

// failAt returns a Func that evaluates q and spoils the call number stage
// (1-based) with bad: a NaN or Inf component, or an error.
func failAt(q quadratic, stage int, bad string, calls *int) optim.Func {
	return func(p, g []float64) (float64, error) {
		*calls++
		l, _ := q.grad(p, g)
		if *calls == stage {
			switch bad {
			case "NaN":
				g[1] = math.NaN()
			case "Inf":
				g[2] = math.Inf(-1)
			default:
				return 0, errors.New("out of memory")
			}
		}
		return l, nil
	}
}

// TestNonFiniteGradient: a NaN or Inf gradient (or a failing Func) in any
// stage stops the step with an error naming the stage; θ and the state
// (preconditioner, momentum, step size) are unchanged.
func TestNonFiniteGradient(t *testing.T) {
	q := testQuadratic()
	opts := []optim.Option{optim.WithLearnRate(0.1), optim.WithRMSprop(0.9, 1e-8), optim.WithMomentum(0.9)}
	for _, bad := range []string{"NaN", "Inf", "error"} {
		for stage := 1; stage <= 4; stage++ {
			t.Run(fmt.Sprintf("%s/stage%d", bad, stage), func(t *testing.T) {
				o, _ := optim.New(optim.RK4(), opts...)
				ref, _ := optim.New(optim.RK4(), opts...)
				theta := []float64{1, -0.5, 0.8}
				thetaRef := []float64{1, -0.5, 0.8}
				// One good step, so that there is state to protect.
				if err := o.Step(theta, q.grad); err != nil {
					t.Fatal(err)
				}
				ref.Step(thetaRef, q.grad)
				before := append([]float64(nil), theta...)
				calls := 0
				err := o.Step(theta, failAt(q, stage, bad, &calls))
				if err == nil {
					t.Fatal("no error")
				}
				var se *optim.StageError
				if !errors.As(err, &se) || se.Stage != stage || se.Stages != 4 || se.Step != 2 {
					t.Fatalf("error %v (%#v), want a StageError of stage %d of step 2", err, se, stage)
				}
				if want := fmt.Sprintf("stage %d of 4", stage); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
				if got := errors.Is(err, optim.ErrNotFinite); got != (bad != "error") {
					t.Errorf("errors.Is(err, ErrNotFinite) = %v for %s", got, bad)
				}
				if calls != stage {
					t.Errorf("%d gradient calls after a failure at stage %d", calls, stage)
				}
				for i := range theta {
					if math.Float64bits(theta[i]) != math.Float64bits(before[i]) {
						t.Fatalf("θ changed on error: %v, was %v", theta, before)
					}
				}
				if s := o.Stats(); s.Steps != 1 || s.Evals != 4+stage {
					t.Errorf("stats after the failure: %+v", s)
				}
				// The state is untouched: the next steps equal the reference's.
				for range 3 {
					o.Step(theta, q.grad)
					ref.Step(thetaRef, q.grad)
				}
				for i := range theta {
					if theta[i] != thetaRef[i] {
						t.Fatalf("after the failed step θ = %v, reference %v", theta, thetaRef)
					}
				}
			})
		}
	}
}

func TestBadInput(t *testing.T) {
	q := testQuadratic()
	o, _ := optim.New(optim.RK4(), optim.WithLearnRate(0.1))
	if err := o.Step(nil, q.grad); err == nil {
		t.Error("no error for empty θ")
	}
	if err := o.Step([]float64{1, 2, 3}, nil); err == nil {
		t.Error("no error for nil Func")
	}
	theta := []float64{1, math.NaN(), 3}
	if err := o.Step(theta, q.grad); !errors.Is(err, optim.ErrNotFinite) || !strings.Contains(err.Error(), "parameter component 1") {
		t.Errorf("NaN parameter: %v", err)
	}
	if err := o.Step([]float64{1, 2, 3}, q.grad); err != nil {
		t.Fatal(err)
	}
	if err := o.Step([]float64{1, 2}, func(p, g []float64) (float64, error) { return 0, nil }); err == nil || !strings.Contains(err.Error(), "Reset") {
		t.Errorf("size change: %v", err)
	}
	if err := o.StepGrad([]float64{1, 2, 3}, []float64{1}, q.grad); err == nil {
		t.Error("StepGrad: no error for a short gradient")
	}
	if err := o.StepGrad([]float64{1, 2, 3}, []float64{1, 2, 3}, nil); err == nil {
		t.Error("StepGrad: RK4 without a Func")
	}
	o.Reset()
	if s := o.Stats(); s.Steps != 0 || s.Evals != 0 || s.NextH != 0.1 {
		t.Errorf("stats after Reset: %+v", s)
	}
	if err := o.Step([]float64{1, 2}, func(p, g []float64) (float64, error) { return 0, nil }); err != nil {
		t.Errorf("after Reset: %v", err)
	}
	if err := o.SetLearnRate(-1); err == nil {
		t.Error("SetLearnRate(-1): no error")
	}

	// An update that overflows is reported as the update's failure.
	huge, _ := optim.New(optim.Euler(), optim.WithLearnRate(1e300))
	theta = []float64{1e300, 1, 1}
	err := huge.Step(theta, q.grad)
	var se *optim.StageError
	if !errors.As(err, &se) || se.Stage != 0 || !errors.Is(err, optim.ErrNotFinite) || !strings.Contains(err.Error(), "update") {
		t.Errorf("overflowing update: %v", err)
	}
	if theta[0] != 1e300 {
		t.Errorf("θ changed by a failed update: %v", theta)
	}
}

// TestStepGrad: StepGrad with the first gradient given equals Step.
func TestStepGrad(t *testing.T) {
	q := testQuadratic()
	for _, tab := range optim.Tableaus() {
		a, _ := optim.New(tab, optim.WithLearnRate(0.2), optim.WithRMSprop(0.9, 1e-8), optim.WithMomentum(0.5))
		b, _ := optim.New(tab, optim.WithLearnRate(0.2), optim.WithRMSprop(0.9, 1e-8), optim.WithMomentum(0.5))
		x := []float64{1, -0.5, 0.8}
		y := []float64{1, -0.5, 0.8}
		g := make([]float64, 3)
		for range 5 {
			if err := a.Step(x, q.grad); err != nil {
				t.Fatal(err)
			}
			q.grad(y, g)
			if err := b.StepGrad(y, g, q.grad); err != nil {
				t.Fatal(err)
			}
		}
		for i := range x {
			if x[i] != y[i] {
				t.Errorf("%s: Step %v, StepGrad %v", tab.Name, x, y)
				break
			}
		}
		if a.Stats().Evals != b.Stats().Evals || !math.IsNaN(b.Stats().Loss) || math.IsNaN(a.Stats().Loss) {
			t.Errorf("%s: stats %+v and %+v", tab.Name, a.Stats(), b.Stats())
		}
	}
}

// TestMomentum: Euler with momentum is the heavy ball m ← βm + g,
// θ ← θ - h m.
func TestMomentum(t *testing.T) {
	q := testQuadratic()
	const h, beta = 0.05, 0.9
	o, _ := optim.New(optim.Euler(), optim.WithLearnRate(h), optim.WithMomentum(beta))
	theta := []float64{1, -0.5, 0.8}
	want := append([]float64(nil), theta...)
	m := make([]float64, 3)
	g := make([]float64, 3)
	for range 30 {
		o.Step(theta, q.grad)
		q.grad(want, g)
		for i := range m {
			m[i] = beta*m[i] + g[i]
			want[i] -= h * m[i]
		}
	}
	if d := dist(theta, want); d > 1e-14 {
		t.Errorf("momentum: |θ - heavy ball| = %g", d)
	}
}

// TestPreconditionedStage: one RK4 step with RMSprop is RK4 on the flow
// θ' = -P A θ with P = 1/(√v + ε) frozen from the first gradient.
func TestPreconditionedStage(t *testing.T) {
	q := testQuadratic()
	const h, rho, eps = 0.3, 0.9, 1e-3
	for _, c := range []struct {
		name string
		opt  optim.Option
		v    func(g float64) float64
	}{
		{"rmsprop", optim.WithRMSprop(rho, eps), func(g float64) float64 { return g * g }}, // (1-ρ)g² / (1-ρ¹)
		{"adagrad", optim.WithAdaGrad(eps), func(g float64) float64 { return g * g }},
	} {
		o, _ := optim.New(optim.RK4(), optim.WithLearnRate(h), c.opt)
		theta := []float64{1, -0.5, 0.8}
		th0 := append([]float64(nil), theta...)
		if err := o.Step(theta, q.grad); err != nil {
			t.Fatal(err)
		}
		g := make([]float64, 3)
		q.grad(th0, g)
		P := make([]float64, 3)
		for i := range P {
			P[i] = 1 / (math.Sqrt(c.v(g[i])) + eps)
		}
		F := func(x []float64) []float64 {
			out := make([]float64, 3)
			q.grad(x, out)
			for i := range out {
				out[i] *= -P[i]
			}
			return out
		}
		axpy := func(a float64, k []float64) []float64 {
			out := make([]float64, 3)
			for i := range out {
				out[i] = th0[i] + a*k[i]
			}
			return out
		}
		k1 := F(th0)
		k2 := F(axpy(h/2, k1))
		k3 := F(axpy(h/2, k2))
		k4 := F(axpy(h, k3))
		want := make([]float64, 3)
		for i := range want {
			want[i] = th0[i] + h*(k1[i]+2*k2[i]+2*k3[i]+k4[i])/6
		}
		if d := dist(theta, want); d > 1e-14 {
			t.Errorf("%s: |θ - RK4 on the preconditioned flow| = %g", c.name, d)
		}
	}
}

// TestClip: the gradient is clipped to norm c, keeping its direction.
func TestClip(t *testing.T) {
	const c, h = 0.5, 0.1
	o, _ := optim.New(optim.Euler(), optim.WithLearnRate(h), optim.WithClip(c))
	theta := []float64{0, 0}
	lin := func(p, g []float64) (float64, error) { g[0], g[1] = 3, 4; return 0, nil } // ‖g‖ = 5
	o.Step(theta, lin)
	if math.Abs(theta[0]+h*c*0.6) > 1e-15 || math.Abs(theta[1]+h*c*0.8) > 1e-15 {
		t.Errorf("clipped step θ = %v, want %v", theta, []float64{-h * c * 0.6, -h * c * 0.8})
	}
	if o.Stats().GradNorm != 5 {
		t.Errorf("GradNorm %v, want 5 (before clipping)", o.Stats().GradNorm)
	}
	// Small gradients pass unchanged.
	theta = []float64{0, 0}
	small := func(p, g []float64) (float64, error) { g[0], g[1] = 0.03, 0.04; return 0, nil }
	o.Step(theta, small)
	if theta[0] != -h*0.03 || theta[1] != -h*0.04 {
		t.Errorf("unclipped step θ = %v", theta)
	}
}

// TestEmbedded: the Bogacki-Shampine controller keeps the local error near
// Tol, rejects too large steps with Reject, accepts every step without it,
// stays within [HMin, HMax], and tighter tolerances follow the flow closer.
func TestEmbedded(t *testing.T) {
	q := testQuadratic()
	theta0 := []float64{1, -0.5, 0.8}
	run := func(a optim.Adaptive, h0, T float64) ([]float64, optim.Stats, float64) {
		o, err := optim.New(optim.BogackiShampine(), optim.WithLearnRate(h0), optim.WithAdaptive(a))
		if err != nil {
			t.Fatal(err)
		}
		theta := append([]float64(nil), theta0...)
		time := 0.0
		maxErr := 0.0
		for time < T {
			if err := o.Step(theta, q.grad); err != nil {
				t.Fatal(err)
			}
			s := o.Stats()
			time += s.H
			maxErr = max(maxErr, s.Err)
			if s.H < a.HMin || s.H > a.HMax || s.NextH < a.HMin || s.NextH > a.HMax {
				t.Fatalf("step size %v / next %v outside [%v, %v]", s.H, s.NextH, a.HMin, a.HMax)
			}
		}
		return theta, o.Stats(), dist(theta, q.flow(time, theta0))
	}
	var prev float64
	for i, tol := range []float64{1e-4, 1e-6, 1e-8} {
		a := optim.Adaptive{Control: optim.Embedded, Tol: tol, Reject: true, HMin: 1e-6, HMax: 10}
		_, s, globalErr := run(a, 1, 3)
		t.Logf("tol %g: %d steps, %d rejected, %d evaluations, global error %.3g", tol, s.Steps, s.Rejected, s.Evals, globalErr)
		if s.Rejected == 0 {
			t.Errorf("tol %g: h0 = 1 was never rejected", tol)
		}
		if s.Evals != 4*s.Steps+3*s.Rejected {
			t.Errorf("tol %g: %d evaluations for %d steps and %d rejections", tol, s.Evals, s.Steps, s.Rejected)
		}
		if i > 0 && !(globalErr < prev/5) {
			t.Errorf("tol %g: global error %g, not much below %g at the looser tolerance", tol, globalErr, prev)
		}
		prev = globalErr
	}
	// With Reject every step's error is at most Tol (until HMin).
	a := optim.Adaptive{Control: optim.Embedded, Tol: 1e-5, Reject: true, HMin: 1e-6, HMax: 10}
	o, _ := optim.New(optim.BogackiShampine(), optim.WithLearnRate(1), optim.WithAdaptive(a))
	theta := append([]float64(nil), theta0...)
	for range 20 {
		o.Step(theta, q.grad)
		if e := o.Stats().Err; e > a.Tol {
			t.Errorf("accepted a step with error %g > Tol %g", e, a.Tol)
		}
	}
	// Accept-always: no rejections, h still adapts.
	a.Reject = false
	_, s, _ := run(a, 1, 3)
	if s.Rejected != 0 || s.Evals != 4*s.Steps {
		t.Errorf("accept-always: %+v", s)
	}
	// The bounds hold the step size.
	a = optim.Adaptive{Control: optim.Embedded, Tol: 1e-12, HMin: 0.05, HMax: 0.2, Reject: true}
	_, s, _ = run(a, 1, 1)
	if s.H != 0.05 {
		t.Errorf("tiny tolerance: h = %v, want HMin 0.05", s.H)
	}
	a = optim.Adaptive{Control: optim.Embedded, Tol: 1, HMin: 0.05, HMax: 0.2}
	_, s, _ = run(a, 0.1, 1)
	if s.H != 0.2 {
		t.Errorf("loose tolerance: h = %v, want HMax 0.2", s.H)
	}
}

// TestLipschitz: the Lipschitz rule rescues a step size that diverges,
// speeds up one that is too small, and keeps RK4 stable on a stiff
// quadratic.
func TestLipschitz(t *testing.T) {
	scalar := func(p, g []float64) (float64, error) { g[0] = p[0]; return p[0] * p[0] / 2, nil } // λ = 1
	run := func(h float64, adaptive bool, steps int) (float64, float64) {
		opts := []optim.Option{optim.WithLearnRate(h)}
		if adaptive {
			opts = append(opts, optim.WithAdaptive(optim.Adaptive{Control: optim.Lipschitz, HMin: 1e-3, HMax: 10}))
		}
		o, err := optim.New(optim.Euler(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		theta := []float64{1}
		for range steps {
			if err := o.Step(theta, scalar); err != nil {
				t.Fatal(err)
			}
			if theta[0] == 0 {
				break
			}
		}
		return math.Abs(theta[0]), o.LearnRate()
	}
	fixed, _ := run(2.5, false, 60)
	adapt, h := run(2.5, true, 60)
	t.Logf("λ = 1, h0 = 2.5: |θ| fixed %.3g, adaptive %.3g (h → %.3f)", fixed, adapt, h)
	if fixed < 1e6 || adapt > 1e-12 || h != 1 {
		t.Errorf("h0 = 2.5 (unstable): |θ| fixed %g, adaptive %g, h %v (want 1)", fixed, adapt, h)
	}
	fixed, _ = run(0.01, false, 30)
	adapt, h = run(0.01, true, 30)
	t.Logf("λ = 1, h0 = 0.01: |θ| fixed %.3g, adaptive %.3g (h → %.3f)", fixed, adapt, h)
	if !(adapt < 1e-3*fixed) {
		t.Errorf("h0 = 0.01: |θ| fixed %g, adaptive %g", fixed, adapt)
	}

	// RK4 on diag(1, 100) from h = 0.05 (h λ_max = 5, unstable).
	q := newQuadratic(2, []float64{1, 0, 100})
	for _, adaptive := range []bool{false, true} {
		opts := []optim.Option{optim.WithLearnRate(0.05)}
		if adaptive {
			opts = append(opts, optim.WithAdaptive(optim.Adaptive{Control: optim.Lipschitz, Target: 2}))
		}
		o, _ := optim.New(optim.RK4(), opts...)
		theta := []float64{1, 1}
		for range 100 {
			if err := o.Step(theta, q.grad); err != nil {
				break
			}
		}
		n := math.Hypot(theta[0], theta[1])
		t.Logf("RK4, diag(1, 100), adaptive %v: |θ| = %.3g after %d steps, h = %.4f", adaptive, n, o.Stats().Steps, o.LearnRate())
		if adaptive && !(n < 0.1) {
			t.Errorf("RK4 with the Lipschitz rule: |θ| = %g, h = %v", n, o.LearnRate())
		}
		if !adaptive && n < 1e6 {
			t.Errorf("RK4 with h λ = 5 did not diverge: |θ| = %g", n)
		}
	}
}

func TestStagesPerStep(t *testing.T) {
	for _, c := range []struct {
		tab  optim.Tableau
		opts []optim.Option
		want int
	}{
		{optim.Euler(), nil, 1},
		{optim.Heun(), nil, 2},
		{optim.RK3(), nil, 3},
		{optim.RK4(), nil, 4},
		{optim.BogackiShampine(), nil, 3},
		{optim.BogackiShampine(), []optim.Option{optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1e-3})}, 4},
	} {
		o, err := optim.New(c.tab, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.StagesPerStep(); got != c.want {
			t.Errorf("%s: %d stages a step, want %d", c.tab.Name, got, c.want)
		}
	}
}

// TestTableauIsCopied: changing the caller's tableau after New does not
// change the optimizer.
func TestTableauIsCopied(t *testing.T) {
	tab := optim.RK4()
	o, _ := optim.New(tab)
	tab.B[0] = 99
	tab.A[1][0] = 99
	if got := o.Tableau(); got.B[0] != 1.0/6 || got.A[1][0] != 0.5 {
		t.Errorf("optimizer's tableau changed with the caller's: %+v", got)
	}
}

func TestSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	q := newQuadratic(2, []float64{1, 0, 2})
	g := func(p, g []float64) (float64, error) { g[0], g[1] = p[0], 2*p[1]; return 0, nil }
	_ = q
	o, _ := optim.New(optim.BogackiShampine(), optim.WithLearnRate(0.1), optim.WithRMSprop(0.99, 1e-8),
		optim.WithMomentum(0.9), optim.WithClip(1), optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1e-3, Reject: true}))
	theta := []float64{1, 1}
	o.Step(theta, g)
	if n := testing.AllocsPerRun(100, func() { o.Step(theta, g) }); n != 0 {
		t.Errorf("%v allocations per step", n)
	}
}

// TestOneErrNotFinite checks that the solver and the optimizers share one
// sentinel, so that one errors.Is check covers a whole training step.
func TestOneErrNotFinite(t *testing.T) {
	if optim.ErrNotFinite != fode.ErrNotFinite {
		t.Error("optim.ErrNotFinite and fode.ErrNotFinite differ")
	}
}
