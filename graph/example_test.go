package graph_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/graph"
)

// A 3-node path graph: normalise it, multiply it with a feature matrix in
// a Gorgonia graph and get the gradient Âᵀ 1 (column sums) of Σ Â X with respect to X.
func ExampleSpMM() {
	a, err := graph.FromCOO(3, 3, []int{0, 1, 1, 2}, []int{1, 0, 2, 1}, []float64{1, 1, 1, 1})
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
	y, err := graph.SpMM(rw, x)
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
