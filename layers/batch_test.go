package layers

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
)

// TestBlockBatchSizes establishes what "another batch size" means for an
// FDE block in Gorgonia. A node's shape is fixed when the graph is built:
// G.Let refuses an input of another batch size. What works is building
// for each batch size its own input node and calling Fwd on it, either in
// the same graph (the solves share the block's parameter nodes and their
// gradients add up) or in a new graph whose block is given the same
// parameter values with G.Let. Both give the same outputs and gradients.
func TestBlockBatchSizes(t *testing.T) {
	for _, mode := range []Mode{Adjoint, Unrolled} {
		t.Run(mode.String(), func(t *testing.T) { testBatchSizes(t, mode) })
	}
}

func testBatchSizes(t *testing.T, mode Mode) {
	cfg := BlockConfig{Solve: fode.Options{Method: fode.PECE, Alpha: 0.6, T: 1, Steps: 8}, Grad: mode, Seed: 3}
	xv := func(rows int) *tensor.Dense {
		d := make([]float64, rows*3)
		for i := range d {
			d[i] = math.Sin(0.9*float64(i%6) + 0.2) // rows repeat with period 2
		}
		return tensor.New(tensor.WithShape(rows, 3), tensor.WithBacking(d))
	}
	// build returns a graph with one block and an input node per batch
	// size, the cost Σ_b Σ y_b², its outputs and gradient nodes.
	build := func(from *FDEBlock, rows ...int) (*G.ExprGraph, *FDEBlock, []*G.Node, G.Nodes, G.Nodes) {
		g := G.NewGraph()
		field, err := NewMLPField(3, 5, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewFDEBlock(g, "fde", field, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if from != nil {
			// Another graph: give its parameter nodes the trained values.
			for i, p := range b.Learnables() {
				if err := G.Let(p, from.Learnables()[i].Value().(tensor.Tensor).Clone()); err != nil {
					t.Fatal(err)
				}
			}
		}
		var xs, ys G.Nodes
		var cost *G.Node
		for _, r := range rows {
			x := G.NewMatrix(g, tensor.Float64, G.WithShape(r, 3), G.WithValue(xv(r)))
			y, err := b.Fwd(x)
			if err != nil {
				t.Fatalf("Fwd on a batch of %d: %v", r, err)
			}
			c := G.Must(G.Sum(G.Must(G.Square(y))))
			if cost != nil {
				c = G.Must(G.Add(cost, c))
			}
			cost = c
			xs, ys = append(xs, x), append(ys, y)
		}
		grads, err := G.Grad(cost, b.Learnables()...)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return g, b, ys, grads, xs
	}
	flat := func(ns G.Nodes) []float64 {
		var out []float64
		for _, n := range ns {
			out = append(out, n.Value().Data().([]float64)...)
		}
		return out
	}
	_, b, ys, both, xs := build(nil, 2, 5)
	// The same graph: the rows the batches share have the same states.
	y2, y5 := flat(ys[:1]), flat(ys[1:])
	if e := relDiff(y5[:len(y2)], y2); e > 1e-14 {
		t.Errorf("batch 5 vs batch 2 in one graph: shared rows differ by %.3g", e)
	}
	// A new graph per batch size with the same parameter values.
	_, _, ys2, g2, _ := build(b, 2)
	_, _, ys5, g5, _ := build(b, 5)
	if e := relDiff(flat(ys2), y2); e > 1e-14 {
		t.Errorf("batch 2 in a new graph: outputs differ by %.3g", e)
	}
	if e := relDiff(flat(ys5), y5); e > 1e-14 {
		t.Errorf("batch 5 in a new graph: outputs differ by %.3g", e)
	}
	sum := flat(g2)
	for i, v := range flat(g5) {
		sum[i] += v
	}
	if e := relDiff(flat(both), sum); e > 1e-12 {
		t.Errorf("gradients of one graph with both batch sizes vs two graphs: relative difference %.3g", e)
	}
	// What does not work: a value of another batch size for an input node.
	if err := G.Let(xs[0], xv(5)); err == nil {
		t.Error("G.Let accepted a batch of 5 for a node built for 2; the README's advice assumes it refuses")
	}
}
