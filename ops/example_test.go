package ops_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
	"github.com/gofde/gofde/graph"
	"github.com/gofde/gofde/ops"
	"github.com/gofde/gofde/sparse"
)

// A fractional relaxation D^½ x = -λ x as one graph node: the gradient of
// the loss reaches x0 and λ through the adjoint solve.
func ExampleFDE() {
	g := G.NewGraph()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(1, 1), G.WithName("x0"), G.WithInit(G.Ones()))
	lambda := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("lambda"), G.WithInit(G.Ones()))
	field, _ := problems.NewLinear(1)
	xT, err := ops.FDE(x0, []*G.Node{lambda}, nil, ops.Config{
		Field: field,
		Solve: fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: 640},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	loss := G.Must(G.Sum(xT))
	if _, err := G.Grad(loss, lambda); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(lambda))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	grad, _ := lambda.Grad()
	fmt.Printf("x(1) = %.5f, dL/dlambda = %.4f\n", loss.Value().Data(), grad.Data().([]float64)[0])
	// Output: x(1) = 0.42759, dL/dlambda = -0.2732
}

// A 3-node path graph: normalise it, multiply it with a feature matrix in
// a Gorgonia graph and get the gradient Âᵀ 1 (column sums) of Σ Â X with respect to X.
func ExampleSpMM() {
	a, err := sparse.FromCOO(3, 3, []int{0, 1, 1, 2}, []int{1, 0, 2, 1}, []float64{1, 1, 1, 1})
	if err != nil {
		panic(err)
	}
	rw, err := graph.NormalizeRW(a) // D^-1 (A + I)
	if err != nil {
		panic(err)
	}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(3, 1), tensor.WithBacking([]float64{3, 0, 6}))))
	y, err := ops.SpMM(rw, x)
	if err != nil {
		panic(err)
	}
	loss := G.Must(G.Sum(y))
	if _, err := G.Grad(loss, x); err != nil {
		panic(err)
	}
	m := G.NewTapeMachine(g, G.BindDualValues(x))
	defer m.Close()
	if err := m.RunAll(); err != nil {
		panic(err)
	}
	dx, _ := x.Grad()
	fmt.Printf("nnz %d, A X = %.2f, dL/dX = %.3f\n", rw.NNZ(), y.Value().Data(), dx.Data())
	// Output:
	// nnz 7, A X = [1.50 3.00 3.00], dL/dX = [0.833 1.333 0.833]
}

// A dense layer's product y = x w with its two gradients: for L = Σ y,
// dL/dx = 1 wᵀ (row sums of w in every row) and dL/dw = xᵀ 1 (column sums
// of x in every column).
func ExampleMatMul() {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 0, 0, 1, 1, 1}))))
	y, err := ops.MatMul(x, w)
	if err != nil {
		fmt.Println(err)
		return
	}
	grads, err := G.Grad(G.Must(G.Sum(y)), x, w)
	if err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("y =", y.Value().Data())
	fmt.Println("dL/dx =", grads[0].Value().Data())
	fmt.Println("dL/dw =", grads[1].Value().Data())
	// Output:
	// y = [4 5 10 11]
	// dL/dx = [1 1 2 1 1 2]
	// dL/dw = [5 5 7 7 9 9]
}
