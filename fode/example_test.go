package fode_test

import (
	"fmt"
	"log"
	"math"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// Solve the relaxation equation D^½ x = -x, x(0) = 1, whose solution is
// the Mittag-Leffler function x(t) = E_½(-t^½), at two output times.
func ExampleSolve() {
	f, err := problems.NewLinear(1) // f(x; λ) = -λ x
	if err != nil {
		log.Fatal(err)
	}
	theta := []float64{1} // λ
	sol, err := fode.Solve(f, []float64{1}, theta, fode.Options{
		Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 640, Times: []float64{0.5, 1},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, t := range sol.Times {
		exact := fode.MittagLeffler(0.5, 1, -math.Sqrt(t))
		fmt.Printf("x(%.1f) = %.4f   exact %.4f\n", t, sol.At(i)[0], exact)
	}
	// Output:
	// x(0.5) = 0.5232   exact 0.5232
	// x(1.0) = 0.4276   exact 0.4276
}

// Differentiate L = x(1) for D^½ x = -λ x, x(0) = 1, with the discrete
// adjoint of the scheme: dL/dλ tends to -0.2732120 as h → 0.
func ExampleGrad() {
	f, err := problems.NewLinear(1)
	if err != nil {
		log.Fatal(err)
	}
	sol, err := fode.Solve(f, []float64{1}, []float64{1}, fode.Options{Method: fode.FLMM, Alpha: 0.5, T: 1, Steps: 640})
	if err != nil {
		log.Fatal(err)
	}
	ybar := []float64{1} // dL/dx(1)
	g, err := fode.Grad(sol, ybar, fode.GradOptions{Mode: fode.Adjoint, GradAlpha: true})
	if err != nil {
		log.Fatal(err)
	}
	// The exact dL/dα = ∂E_α(-1)/∂α, by central differences of the closed form.
	const e = 1e-5
	exactAlpha := (fode.MittagLeffler(0.5+e, 1, -1) - fode.MittagLeffler(0.5-e, 1, -1)) / (2 * e)
	fmt.Printf("dL/dx0 = %.4f\ndL/dλ  = %.6f\ndL/dα  = %.4f   exact %.4f\n", g.X0[0], g.Theta[0], g.Alpha, exactAlpha)
	// Output:
	// dL/dx0 = 0.4276
	// dL/dλ  = -0.273212
	// dL/dα  = -0.1441   exact -0.1441
}

// Solve the two-term relaxation equation x' + ½ D^½ x = -x, x(0) = 1,
// with implicit Grünwald-Letnikov steps, and differentiate L = x(1) by the
// orders and coefficients with the exact adjoint. The distributed-order
// equation ∫_0^1 D^a x da = -x runs the same way from a quadrature.
func ExampleSolve_multiTerm() {
	f, err := problems.NewLinear(1) // f(x; λ) = -λ x
	if err != nil {
		log.Fatal(err)
	}
	opt := fode.Options{
		Method: fode.GLImplicit, T: 1, Steps: 1000,
		Orders: []float64{1, 0.5}, Coeffs: []float64{1, 0.5},
	}
	sol, err := fode.Solve(f, []float64{1}, []float64{1}, opt)
	if err != nil {
		log.Fatal(err)
	}
	g, err := fode.Grad(sol, []float64{1}, fode.GradOptions{GradAlpha: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("x(1) = %.4f\n", sol.Final()[0])
	fmt.Printf("dL/dorders = [%.4f %.4f]\ndL/dcoeffs = [%.4f %.4f]\n", g.Orders[0], g.Orders[1], g.Coeffs[0], g.Coeffs[1])

	opt.Orders, opt.Coeffs, err = fode.Quadrature(4, func(a float64) float64 { return 1 })
	if err != nil {
		log.Fatal(err)
	}
	sol, err = fode.Solve(f, []float64{1}, []float64{1}, opt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("distributed order: x(1) = %.4f\n", sol.Final()[0])
	// Output:
	// x(1) = 0.5047
	// dL/dorders = [-0.0644 0.0308]
	// dL/dcoeffs = [0.2180 0.2153]
	// distributed order: x(1) = 0.4104
}

// The settings that one method alone reads are grouped: Adaptive is the
// error control of Dopri5, Iteration the fixed-point iteration of the
// implicit schemes (GLImplicit, L1, Trapezoid, FLMM), PECE the corrector
// count of PECE. Zero values take the documented defaults.
func ExampleOptions() {
	f, err := problems.NewLinear(1) // f(x; λ) = -λ x
	if err != nil {
		log.Fatal(err)
	}
	x0, theta := []float64{1}, []float64{1}
	sol, err := fode.Solve(f, x0, theta, fode.Options{
		Method: fode.Dopri5, Alpha: 1, T: 1,
		Adaptive: fode.AdaptiveSettings{RTol: 1e-10, ATol: 1e-12},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("dopri5: x(1) = %.9f   exact %.9f\n", sol.Final()[0], math.Exp(-1))
	sol, err = fode.Solve(f, x0, theta, fode.Options{
		Method: fode.Trapezoid, Alpha: 0.5, T: 1, Steps: 640,
		Iteration: fode.IterationSettings{Tol: 1e-14, MaxIter: 50},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("trap:   x(1) = %.4f   exact %.4f\n", sol.Final()[0], fode.MittagLeffler(0.5, 1, -1))
	// Output:
	// dopri5: x(1) = 0.367879441   exact 0.367879441
	// trap:   x(1) = 0.4276   exact 0.4276
}

// Options.Grid gives the grid a fixed-step solve will use, and Locate
// where an output time falls on it: between grid points 2 and 3, a
// fifth of the way, for t = 0.55 on a grid of step 0.25.
func ExampleLocate() {
	grid, err := fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, StepSize: 0.25}.Grid()
	if err != nil {
		fmt.Println(err)
		return
	}
	j, w := fode.Locate(grid, 0.55)
	fmt.Printf("%v %d %.3f\n", grid, j, w)
	// Output: [0 0.25 0.5 0.75 1] 2 0.200
}
