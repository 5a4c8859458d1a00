package optim_test

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/optim"
)

// RK4 on the quadratic L = ½(θ₁² + 4θ₂²) follows the gradient flow
// θ(t) = (e^{-t} θ₁(0), e^{-4t} θ₂(0)): after 10 steps of h = 0.1 it is
// within 3e-5 of θ(1).
func ExampleOptimizer() {
	grad := func(p, g []float64) (float64, error) {
		g[0], g[1] = p[0], 4*p[1]
		return 0.5 * (p[0]*p[0] + 4*p[1]*p[1]), nil
	}
	o, err := optim.New(optim.RK4(), optim.WithLearnRate(0.1))
	if err != nil {
		fmt.Println(err)
		return
	}
	theta := []float64{1, 1}
	for range 10 {
		if err := o.Step(theta, grad); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("θ(1) ≈ (%.6f, %.6f), exact (%.6f, %.6f)\n", theta[0], theta[1], math.Exp(-1), math.Exp(-4))
	fmt.Println("gradient evaluations:", o.Stats().Evals)
	// Output:
	// θ(1) ≈ (0.367880, 0.018337), exact (0.367879, 0.018316)
	// gradient evaluations: 40
}

// The embedded Bogacki-Shampine pair chooses its own step sizes; it
// rejects the too large first step.
func ExampleAdaptive() {
	grad := func(p, g []float64) (float64, error) {
		g[0], g[1] = p[0], 4*p[1]
		return 0, nil
	}
	o, _ := optim.New(optim.BogackiShampine(), optim.WithLearnRate(1),
		optim.WithAdaptive(optim.Adaptive{Control: optim.Embedded, Tol: 1e-4, Reject: true}))
	theta := []float64{1, 1}
	for range 5 {
		o.Step(theta, grad)
		s := o.Stats()
		fmt.Printf("h = %.4f, error estimate %.1e\n", s.H, s.Err)
	}
	fmt.Println("rejected:", o.Stats().Rejected)
	// Output:
	// h = 0.0478, error estimate 8.3e-05
	// h = 0.0457, error estimate 6.1e-05
	// h = 0.0486, error estimate 6.0e-05
	// h = 0.0519, error estimate 5.9e-05
	// h = 0.0556, error estimate 5.8e-05
	// rejected: 3
}

// A Solver replaces a Gorgonia solver in the usual training loop; the
// GradFunc re-runs the machine for the stages after the first.
func ExampleSolver() {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 2), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(4, 2), tensor.WithBacking([]float64{1, 0, 0, 1, 1, 1, 1, -1}))))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 1), G.WithName("y"),
		G.WithValue(tensor.New(tensor.WithShape(4, 1), tensor.WithBacking([]float64{2, -1, 1, 3}))))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 1), G.WithName("w"), G.WithInit(G.Zeroes()))
	loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(x, w)), y))))))
	if _, err := G.Grad(loss, w); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(w))
	defer vm.Close()

	solver, err := optim.NewSolver(optim.RK4(), optim.RunVM(vm), optim.WithLearnRate(0.5))
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 20 {
		if err := vm.RunAll(); err != nil {
			fmt.Println(err)
			return
		}
		if err := solver.Step(G.NodesToValueGrads(G.Nodes{w})); err != nil {
			fmt.Println(err)
			return
		}
		vm.Reset()
	}
	fmt.Printf("w = %.4f, %d gradient evaluations\n", w.Value().Data(), solver.Stats().Evals)
	// Output: w = [2.0000 -1.0000], 80 gradient evaluations
}
