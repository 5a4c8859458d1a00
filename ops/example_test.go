package ops_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
	"github.com/gofde/gofde/ops"
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
