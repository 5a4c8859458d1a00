package optim_test

import (
	"fmt"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/optim"
)

// BenchmarkStep: one step on a diagonal quadratic with 100 000 parameters
// (the gradient costs one multiply per parameter, so this is the
// optimizer's own overhead), plain and with every option.
func BenchmarkStep(b *testing.B) {
	const n = 100_000
	diag := make([]float64, n)
	for i := range diag {
		diag[i] = 1 + float64(i%100)/10
	}
	grad := func(p, g []float64) (float64, error) {
		for i, x := range p {
			g[i] = diag[i] * x
		}
		return 0, nil
	}
	for _, tab := range optim.Tableaus() {
		for _, extras := range []bool{false, true} {
			opts := []optim.Option{optim.WithLearnRate(1e-3)}
			name := tab.Name
			if extras {
				name += "+rmsprop+momentum+clip"
				opts = append(opts, optim.WithRMSprop(0.99, 1e-8), optim.WithMomentum(0.9), optim.WithClip(100))
			}
			b.Run(name, func(b *testing.B) {
				o, err := optim.New(tab, opts...)
				if err != nil {
					b.Fatal(err)
				}
				theta := make([]float64, n)
				for i := range theta {
					theta[i] = 1
				}
				b.SetBytes(8 * n)
				b.ReportAllocs()
				for b.Loop() {
					if err := o.Step(theta, grad); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(o.Stats().Evals)/float64(o.Stats().Steps), "evals/step")
			})
		}
	}
}

// BenchmarkSolver: one training step of the tiny MLP of the tests through
// a TapeMachine, Gorgonia's VanillaSolver against the Runge-Kutta Solvers
// (the cost is dominated by the s graph runs).
func BenchmarkSolver(b *testing.B) {
	for _, name := range []string{"vanilla", "euler", "heun", "rk4"} {
		b.Run(name, func(b *testing.B) {
			n := newNet(b, tensor.Float64)
			vm := G.NewTapeMachine(n.g, G.BindDualValues(n.learn...))
			defer vm.Close()
			var s G.Solver
			if name == "vanilla" {
				s = G.NewVanillaSolver(G.WithLearnRate(1e-3))
			} else {
				tab, _ := optim.ParseTableau(name)
				var err error
				if s, err = optim.NewSolver(tab, optim.RunVM(vm), optim.WithLearnRate(1e-3)); err != nil {
					b.Fatal(err)
				}
			}
			model := G.NodesToValueGrads(n.learn)
			b.ReportAllocs()
			for b.Loop() {
				if err := vm.RunAll(); err != nil {
					b.Fatal(err)
				}
				if err := s.Step(model); err != nil {
					b.Fatal(fmt.Errorf("%s: %w", name, err))
				}
				vm.Reset()
			}
		})
	}
}
