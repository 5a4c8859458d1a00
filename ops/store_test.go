package ops

import (
	"sync/atomic"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// countingField counts the field evaluations, to tell a stored solution
// from a second solve.
type countingField struct {
	*problems.Linear
	evals *atomic.Int64
}

func (f countingField) Eval(dst []float64, t float64, x, theta []float64) error {
	f.evals.Add(1)
	return f.Linear.Eval(dst, t, x, theta)
}

func (op *fdeOp) stored() int {
	op.store.mu.Lock()
	defer op.store.mu.Unlock()
	return len(op.store.entries)
}

func fdeOpOf(t *testing.T, n *G.Node) *fdeOp {
	t.Helper()
	op, ok := n.Op().(*fdeOp)
	if !ok {
		t.Fatalf("node %v holds %T, not the FDE op", n, n.Op())
	}
	return op
}

// TestFDEOpStore checks when the forward pass keeps its solution: never
// in a forward-only graph (tape or LispMachine without backward); with
// G.Grad on a TapeMachine always, and the backward node takes it (one
// solve per run); on a LispMachine from the second run on (the first
// DoDiff solves again).
func TestFDEOpStore(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	evals := new(atomic.Int64)
	field := countingField{lin, evals}
	cfg := Config{Field: field, Solve: fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 10}}
	// The evaluations of one solve and of one gradient, by fode directly.
	sol, err := fode.Solve(field, []float64{1, -0.5, 2, 0.3, 0.7, -1.2}, []float64{1.3}, cfg.Solve)
	if err != nil {
		t.Fatal(err)
	}
	solveEvals := evals.Swap(0)
	if _, err := fode.Grad(sol, make([]float64, 6), fode.GradOptions{}); err != nil {
		t.Fatal(err)
	}
	gradEvals := evals.Swap(0)

	t.Run("forward-only/tape", func(t *testing.T) {
		l := buildLoss(t, tensor.Float64, false, false, cfg)
		vm := G.NewTapeMachine(l.g)
		defer vm.Close()
		for range 3 {
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			vm.Reset()
		}
		if n := fdeOpOf(t, l.out).stored(); n != 0 {
			t.Errorf("forward-only graph: %d solutions stored, want 0", n)
		}
	})
	t.Run("forward-only/lisp", func(t *testing.T) {
		l := buildLoss(t, tensor.Float64, false, false, cfg)
		vm := G.NewLispMachine(l.g, G.ExecuteFwdOnly())
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		if n := fdeOpOf(t, l.out).stored(); n != 0 {
			t.Errorf("forward-only LispMachine: %d solutions stored, want 0", n)
		}
	})
	t.Run("grad/tape", func(t *testing.T) {
		l := buildLoss(t, tensor.Float64, false, true, cfg)
		vm := G.NewTapeMachine(l.g, G.BindDualValues(l.wrt...))
		defer vm.Close()
		for run := range 3 {
			evals.Store(0)
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			vm.Reset()
			if got, want := evals.Load(), solveEvals+gradEvals; got != want {
				t.Errorf("run %d: %d field evaluations, want %d (one solve and its gradient)", run, got, want)
			}
			if n := fdeOpOf(t, l.out).stored(); n != 0 {
				t.Errorf("run %d: %d solutions left in the store, want 0", run, n)
			}
		}
	})
	t.Run("grad/lisp", func(t *testing.T) {
		l := buildLoss(t, tensor.Float64, false, false, cfg)
		for run := range 3 {
			vm := G.NewLispMachine(l.g)
			evals.Store(0)
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			vm.Close()
			want := solveEvals + gradEvals
			if run == 0 {
				want += solveEvals
			}
			if got := evals.Load(); got != want {
				t.Errorf("run %d: %d field evaluations, want %d", run, got, want)
			}
			if n := fdeOpOf(t, l.out).stored(); n != 0 {
				t.Errorf("run %d: %d solutions left in the store, want 0", run, n)
			}
		}
	})
}
