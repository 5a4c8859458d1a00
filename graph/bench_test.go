package graph

import (
	"math/rand/v2"
	"os"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/layers"
	"github.com/gofde/gofde/sparse"
)

// coraAdj returns Cora's normalised adjacency, or that of the graph in
// the .npz file $GOFDE_BENCH_NPZ when it is set.
func coraAdj(b *testing.B) *sparse.CSR {
	path := os.Getenv("GOFDE_BENCH_NPZ")
	if path == "" {
		path = coraPath(b)
	}
	ds, err := LoadNPZ(path)
	if err != nil {
		b.Fatal(err)
	}
	sym, err := Symmetrize(ds.Adj)
	if err != nil {
		b.Fatal(err)
	}
	a, err := NormalizeSym(sym)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkSpMM: Â X on Cora (2708 nodes, 13264 entries) with 64 features.
func BenchmarkSpMM(b *testing.B) {
	a := coraAdj(b)
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := sparsetest.RandVec(rng, a.Cols*64), make([]float64, a.Rows*64)
	b.ResetTimer()
	for range b.N {
		if err := a.MulDense(y, x, 64); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGraphFDE: one forward+backward of a linear graph FDE block on
// Cora, 64 features, α = 0.85, T = 10, 10 rectangle steps.
func BenchmarkGraphFDE(b *testing.B) {
	a := coraAdj(b)
	f, err := NewLinearDiffusion(a, 64)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(a.Rows, 64), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(a.Rows, 64), tensor.WithBacking(sparsetest.RandVec(rng, a.Rows*64)))))
	blk, err := layers.NewFDEBlock(g, "fde", f, layers.BlockConfig{Solve: fode.Options{Alpha: 0.85, T: 10, Steps: 10}})
	if err != nil {
		b.Fatal(err)
	}
	y, err := blk.Fwd(x)
	if err != nil {
		b.Fatal(err)
	}
	l := G.Must(G.Sum(G.Must(G.Square(y))))
	if _, err := G.Grad(l, x); err != nil {
		b.Fatal(err)
	}
	m := G.NewTapeMachine(g, G.BindDualValues(x))
	defer m.Close()
	b.ResetTimer()
	for range b.N {
		if err := m.RunAll(); err != nil {
			b.Fatal(err)
		}
		m.Reset()
	}
}

// BenchmarkLinearDiffusionFloat32: one evaluation of Â X - X and one VJP
// on Cora (or $GOFDE_BENCH_NPZ's graph) with 64 features, the product in
// float32 (the graph example's default), with the result in float64 and
// rounded to float32 (EvalFloat32, VJPFloat32).
func BenchmarkLinearDiffusionFloat32(b *testing.B) {
	a := coraAdj(b)
	f, err := NewLinearDiffusion(a, 64)
	if err != nil {
		b.Fatal(err)
	}
	f.SetFloat32(true)
	rng := rand.New(rand.NewPCG(3, 3))
	x, y, y32 := sparsetest.RandVec(rng, f.Dim()), make([]float64, f.Dim()), make([]float32, f.Dim())
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"Eval", func() error { return f.Eval(y, 0, x, nil) }},
		{"EvalFloat32", func() error { return f.EvalFloat32(y32, 0, x, nil) }},
		{"VJP", func() error { return f.VJP(y, nil, 0, x, nil, x) }},
		{"VJPFloat32", func() error { return f.VJPFloat32(y32, nil, 0, x, nil, x) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(a.NNZ() * 64 * 4))
			for range b.N {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
