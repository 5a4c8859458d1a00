package ops_test

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/ops"
	"github.com/gofde/gofde/sparse"
)

// checkGrad compares the gradients of L = Σ c ⊙ y(params) computed by
// Gorgonia (TapeMachine and LispMachine) with central differences.
func checkGrad(t *testing.T, build func(g *G.ExprGraph, in G.Nodes) (*G.Node, error), vals [][]float64, shapes []tensor.Shape, tol float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	var cw []float64
	loss := func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
		y, err := build(g, in)
		if err != nil {
			return nil, err
		}
		if cw == nil {
			cw = sparsetest.RandVec(rng, y.Shape().TotalSize())
		}
		c := G.NewTensor(g, tensor.Float64, y.Dims(), G.WithShape(y.Shape()...), G.WithName("c"),
			G.WithValue(tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(append([]float64(nil), cw...)))))
		return G.Sum(G.Must(G.HadamardProd(y, c)))
	}
	eval := func(v [][]float64, grad, lisp bool) (float64, [][]float64) {
		g := G.NewGraph()
		in := make(G.Nodes, len(v))
		for i := range v {
			in[i] = G.NewTensor(g, tensor.Float64, shapes[i].Dims(), G.WithShape(shapes[i]...), G.WithName(string(rune('a'+i))),
				G.WithValue(tensor.New(tensor.WithShape(shapes[i]...), tensor.WithBacking(append([]float64(nil), v[i]...)))))
		}
		l, err := loss(g, in)
		if err != nil {
			t.Fatal(err)
		}
		var m G.VM
		switch {
		case grad && lisp:
			m = G.NewLispMachine(g)
		case grad:
			if _, err := G.Grad(l, in...); err != nil {
				t.Fatal(err)
			}
			m = G.NewTapeMachine(g, G.BindDualValues(in...))
		default:
			m = G.NewTapeMachine(g)
		}
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		var gs [][]float64
		if grad {
			for _, n := range in {
				gv, err := n.Grad()
				if err != nil {
					t.Fatal(err)
				}
				gs = append(gs, append([]float64(nil), gv.Data().([]float64)...))
			}
		}
		return l.Value().Data().(float64), gs
	}
	_, tape := eval(vals, true, false)
	_, lisp := eval(vals, true, true)
	const h = 1e-6
	for i := range vals {
		for j := range vals[i] {
			p := cloneAll(vals)
			p[i][j] += h
			lp, _ := eval(p, false, false)
			p[i][j] -= 2 * h
			lm, _ := eval(p, false, false)
			fd := (lp - lm) / (2 * h)
			if math.Abs(tape[i][j]-fd) > tol*(1+math.Abs(fd)) {
				t.Fatalf("input %d[%d]: tape gradient %v, finite difference %v", i, j, tape[i][j], fd)
			}
			if math.Abs(lisp[i][j]-fd) > tol*(1+math.Abs(fd)) {
				t.Fatalf("input %d[%d]: lisp gradient %v, finite difference %v", i, j, lisp[i][j], fd)
			}
		}
	}
}

func cloneAll(v [][]float64) [][]float64 {
	out := make([][]float64, len(v))
	for i := range v {
		out[i] = append([]float64(nil), v[i]...)
	}
	return out
}

// TestSpMMGradient checks the gradients of A X and A(v) X with respect
// to X and v against central differences.
func TestSpMMGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := sparsetest.RandomCSR(t, rng, 5, 4, 0.4)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"fixed", func(t *testing.T) {
			checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) { return ops.SpMM(a, in[0]) },
				[][]float64{sparsetest.RandVec(rng, 4*3)}, []tensor.Shape{{4, 3}}, 1e-7)
		}},
		{"values", func(t *testing.T) {
			checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) { return ops.SpMMValues(a, in[0], in[1]) },
				[][]float64{sparsetest.RandVec(rng, a.NNZ()), sparsetest.RandVec(rng, 4*3)}, []tensor.Shape{{a.NNZ()}, {4, 3}}, 1e-7)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// TestSpMMShape: a dense node of the wrong shape is an error.
func TestSpMMShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := sparsetest.RandomCSR(t, rng, 7, 5, 0.3)
	g := G.NewGraph()
	xn := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("x"))
	if _, err := ops.SpMM(a, xn); err == nil {
		t.Fatal("shape mismatch accepted")
	}
}

// TestSpMMHandBuiltCSR: SpMM on a CSR with a column out of range indexed
// out of range; it rejects every hand-built invalid matrix, and changing a
// valid matrix after the op is built does not reach the op.
func TestSpMMHandBuiltCSR(t *testing.T) {
	for i, a := range sparsetest.Invalid() {
		g := G.NewGraph()
		x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithInit(G.Zeroes()))
		if _, err := ops.SpMM(a, x); err == nil {
			t.Errorf("matrix %d: SpMM accepts it", i)
		}
	}
	// Changing a valid matrix after the op is built does not reach the op.
	a, err := sparse.NewCSR(2, 2, []int{0, 1, 2}, []int{1, 0}, []float64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 1), G.WithValue(tensor.New(tensor.WithShape(2, 1), tensor.WithBacking([]float64{1, 1}))))
	y, err := ops.SpMM(a, x)
	if err != nil {
		t.Fatal(err)
	}
	a.Col[0] = 99
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if got := y.Value().Data().([]float64); got[0] != 1 || got[1] != 2 {
		t.Errorf("A X = %v, want [1 2]", got)
	}
}
