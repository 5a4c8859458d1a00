package replica_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/replica"
)

// Two replicas of a one-weight model each take half of a minibatch of
// four; the averaged gradient is that of the whole minibatch.
func Example() {
	model := func(xs, ys []float64) (replica.Model, *G.Node) {
		g := G.NewGraph()
		n := len(xs)
		x := G.NewVector(g, tensor.Float64, G.WithShape(n), G.WithValue(tensor.New(tensor.WithBacking(xs))))
		y := G.NewVector(g, tensor.Float64, G.WithShape(n), G.WithValue(tensor.New(tensor.WithBacking(ys))))
		w := G.NewScalar(g, tensor.Float64, G.WithName("w"), G.WithValue(2.0))
		loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(G.Must(G.Mul(x, w)), y))))))
		if _, err := G.Grad(loss, w); err != nil {
			panic(err)
		}
		return replica.Model{Graph: g, Learn: G.Nodes{w}, Loss: loss, Batch: n}, w
	}
	a, w := model([]float64{1, 2}, []float64{1, 2})
	b, _ := model([]float64{3, 4}, []float64{3, 4})
	set, err := replica.New([]replica.Model{a, b})
	if err != nil {
		panic(err)
	}
	defer set.Close()
	if err := set.RunAll(); err != nil {
		panic(err)
	}
	loss, _ := set.Loss()
	g, _ := w.Grad()
	// L(w) = mean((w-1)² x²) over x = 1..4: L(2) = 30/4, dL/dw = 2·30/4.
	fmt.Println(loss, g.Data())
	// Output: 7.5 15
}
