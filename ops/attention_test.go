package ops_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/graph"
	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/ops"
	"github.com/gofde/gofde/sparse"
)

// TestEdgeAttentionGradient checks the gradients of the edge attention
// with respect to the keys and queries (row and symmetric softmax, with
// and without a mask) against central differences.
func TestEdgeAttentionGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"attention", func(t *testing.T) {
			sq := sparsetest.RandomCSR(t, rng, 6, 6, 0.4)
			checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) { return ops.EdgeAttention(sq, in[0], in[1]) },
				[][]float64{sparsetest.RandVec(rng, 6*2), sparsetest.RandVec(rng, 6*2)}, []tensor.Shape{{6, 2}, {6, 2}}, 1e-7)
		}},
		{"attention sym", func(t *testing.T) {
			sym, err := graph.Symmetrize(sparsetest.RandomCSR(t, rng, 6, 6, 0.4))
			if err != nil {
				t.Fatal(err)
			}
			sq, err := graph.NormalizeSym(sym) // the pattern A + I
			if err != nil {
				t.Fatal(err)
			}
			checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
				return ops.EdgeAttentionWith(sq, in[0], in[1], ops.AttentionOptions{Norm: ops.SymSoftmax})
			}, [][]float64{sparsetest.RandVec(rng, 6*3), sparsetest.RandVec(rng, 6*3)}, []tensor.Shape{{6, 3}, {6, 3}}, 1e-7)
		}},
		{"attention masked", func(t *testing.T) {
			sym, err := graph.Symmetrize(sparsetest.RandomCSR(t, rng, 6, 6, 0.5))
			if err != nil {
				t.Fatal(err)
			}
			sq, err := graph.NormalizeSym(sym)
			if err != nil {
				t.Fatal(err)
			}
			m := make([]float64, sq.NNZ())
			for e := range m {
				m[e] = []float64{0, 1, 0.5, 2}[e%4]
			}
			for i := 0; i < sq.Rows; i++ { // keep every row alive
				m[sq.Ptr[i]] = 1
			}
			for _, norm := range []ops.AttentionNorm{ops.RowSoftmax, ops.SymSoftmax} {
				checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
					mask := G.NewVector(g, tensor.Float64, G.WithShape(len(m)), G.WithName("mask"),
						G.WithValue(tensor.New(tensor.WithShape(len(m)), tensor.WithBacking(append([]float64(nil), m...)))))
					return ops.EdgeAttentionWith(sq, in[0], in[1], ops.AttentionOptions{Norm: norm, Mask: mask})
				}, [][]float64{sparsetest.RandVec(rng, 6*3), sparsetest.RandVec(rng, 6*3)}, []tensor.Shape{{6, 3}, {6, 3}}, 1e-7)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// TestAttentionMask: a masked entry gets weight 0 and the rest of its row
// is renormalised; a mask that removes a whole row, a negative or NaN
// multiplier and a mask of the wrong size are errors.
func TestAttentionMask(t *testing.T) {
	// Pattern of A + I for the path 0 - 1 - 2.
	pat, err := sparse.NewCSR(3, 3, []int{0, 2, 5, 7}, []int{0, 1, 0, 1, 2, 1, 2}, []float64{1, 1, 1, 1, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	run := func(mask []float64, n int) ([]float64, error) {
		g := G.NewGraph()
		k := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("k"), G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float64{1, 0, 0.5, 1, -1, 2}))))
		mk := G.NewVector(g, tensor.Float64, G.WithShape(n), G.WithName("m"), G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(mask))))
		w, err := ops.EdgeAttentionWith(pat, k, k, ops.AttentionOptions{Mask: mk})
		if err != nil {
			return nil, err
		}
		m := G.NewTapeMachine(g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			return nil, err
		}
		return w.Value().Data().([]float64), nil
	}
	w, err := run([]float64{1, 1, 0, 1, 1, 1, 1}, 7) // drop entry (1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w[2] != 0 || math.Abs(w[3]+w[4]-1) > 1e-15 || math.Abs(w[0]+w[1]-1) > 1e-15 {
		t.Errorf("weights %v: want w[2] = 0 and rows summing to one", w)
	}
	for name, mask := range map[string][]float64{
		"whole row": {1, 1, 0, 0, 0, 1, 1}, "negative": {1, 1, -1, 1, 1, 1, 1}, "NaN": {1, 1, math.NaN(), 1, 1, 1, 1},
	} {
		if _, err := run(mask, 7); err == nil {
			t.Errorf("%s: mask %v accepted", name, mask)
		}
	}
	if _, err := run(make([]float64, 5), 5); err == nil || !strings.Contains(err.Error(), "mask") {
		t.Errorf("mask of the wrong size: error %v", err)
	}
}

// TestAttentionNorm: equal scores give the random-walk matrix (RowSoftmax)
// and NormalizeSym's matrix (SymSoftmax); the symmetric weights are
// symmetric for any scores; an asymmetric pattern and an unknown
// normalisation are errors.
func TestAttentionNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sym, err := graph.Symmetrize(sparsetest.RandomCSR(t, rng, 7, 7, 0.4))
	if err != nil {
		t.Fatal(err)
	}
	ahat, err := graph.NormalizeSym(sym)
	if err != nil {
		t.Fatal(err)
	}
	arw, err := graph.NormalizeRW(sym)
	if err != nil {
		t.Fatal(err)
	}
	weights := func(norm ops.AttentionNorm, kv, qv []float64) []float64 {
		t.Helper()
		g := G.NewGraph()
		k := G.NewMatrix(g, tensor.Float64, G.WithShape(7, 2), G.WithName("k"), G.WithValue(tensor.New(tensor.WithShape(7, 2), tensor.WithBacking(kv))))
		q := G.NewMatrix(g, tensor.Float64, G.WithShape(7, 2), G.WithName("q"), G.WithValue(tensor.New(tensor.WithShape(7, 2), tensor.WithBacking(qv))))
		w, err := ops.EdgeAttentionWith(ahat, k, q, ops.AttentionOptions{Norm: norm})
		if err != nil {
			t.Fatal(err)
		}
		m := G.NewTapeMachine(g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), w.Value().Data().([]float64)...)
	}
	zero := make([]float64, 14)
	for name, tc := range map[string]struct {
		norm ops.AttentionNorm
		want *sparse.CSR
	}{"row": {ops.RowSoftmax, arw}, "sym": {ops.SymSoftmax, ahat}} {
		w := weights(tc.norm, zero, zero)
		for e, v := range w {
			if math.Abs(v-tc.want.Val[e]) > 1e-15 {
				t.Fatalf("%s: equal scores give w[%d] = %v, want %v", name, e, v, tc.want.Val[e])
			}
		}
	}
	w := weights(ops.SymSoftmax, sparsetest.RandVec(rng, 14), sparsetest.RandVec(rng, 14))
	tr, perm := ahat.Transpose()
	for e := range tr.Val {
		if w[e] != w[perm[e]] {
			t.Fatalf("symmetric weights differ: w[%d] = %v, mirror %v", e, w[e], w[perm[e]])
		}
	}
	g := G.NewGraph()
	k := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 2), G.WithName("k"), G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking(make([]float64, 6)))))
	asym, err := sparse.NewCSR(3, 3, []int{0, 2, 3, 4}, []int{0, 1, 1, 2}, []float64{1, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops.EdgeAttentionWith(asym, k, k, ops.AttentionOptions{Norm: ops.SymSoftmax}); err == nil || !strings.Contains(err.Error(), "symmetric") {
		t.Errorf("asymmetric pattern: error %v", err)
	}
	if _, err := ops.EdgeAttentionWith(asym, k, k, ops.AttentionOptions{Norm: ops.RowSoftmax}); err != nil {
		t.Errorf("asymmetric pattern with the row softmax: %v", err)
	}
	if _, err := ops.EdgeAttentionWith(asym, k, k, ops.AttentionOptions{Norm: ops.AttentionNorm(9)}); err == nil {
		t.Error("unknown normalisation accepted")
	}
	for _, s := range []string{"row", "sym"} {
		if n, err := ops.ParseAttentionNorm(s); err != nil || n.String() != s {
			t.Errorf("ParseAttentionNorm(%q) = %v, %v", s, n, err)
		}
	}
	if _, err := ops.ParseAttentionNorm("softmax"); err == nil {
		t.Error("ParseAttentionNorm accepted an unknown name")
	}
}
