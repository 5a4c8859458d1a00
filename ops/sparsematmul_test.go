package ops_test

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/ops"
	"github.com/gofde/gofde/sparse"
)

// TestSparseMatMulGradient checks dL/dW of (X ⊙ M) W against central
// differences (float64, TapeMachine and LispMachine), with and without a
// mask.
func TestSparseMatMulGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	x := sparsetest.RandomCSR(t, rng, 9, 6, 0.3)
	mask := sparsetest.RandVec(rng, x.NNZ())
	for _, masked := range []bool{false, true} {
		checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
			var m *G.Node
			if masked {
				m = G.NewVector(g, tensor.Float64, G.WithShape(x.NNZ()), G.WithName("mask"),
					G.WithValue(tensor.New(tensor.WithShape(x.NNZ()), tensor.WithBacking(append([]float64(nil), mask...)))))
			}
			return ops.SparseMatMul(x, in[0], m)
		}, [][]float64{sparsetest.RandVec(rng, 6*4)}, []tensor.Shape{{6, 4}}, 1e-7)
	}
}

// TestSparseMatMulFloat32: the float32 op's output and weight gradient
// equal the dense float64 products (X ⊙ M) W and (X ⊙ M)ᵀ C for the loss
// Σ C ⊙ Y, to float32 precision, on a matrix large enough for all cores.
func TestSparseMatMulFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const h = 16
	x := sparsetest.RandomCSR(t, rng, 1500, 100, 0.05)
	mask := make([]float32, x.NNZ())
	if err := ops.FillDropout(mask, 0.5, rng.Float64); err != nil {
		t.Fatal(err)
	}
	xm := x.Clone()
	for k := range xm.Val {
		xm.Val[k] *= float64(mask[k])
	}
	w, c := sparsetest.RandVec(rng, x.Cols*h), sparsetest.RandVec(rng, x.Rows*h)
	g := G.NewGraph()
	wn := G.NewMatrix(g, tensor.Float32, G.WithShape(x.Cols, h), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(x.Cols, h), tensor.WithBacking(sparsetest.To32(w)))))
	mn := G.NewVector(g, tensor.Float32, G.WithShape(x.NNZ()), G.WithName("mask"),
		G.WithValue(tensor.New(tensor.WithShape(x.NNZ()), tensor.WithBacking(mask))))
	cn := G.NewMatrix(g, tensor.Float32, G.WithShape(x.Rows, h), G.WithName("c"),
		G.WithValue(tensor.New(tensor.WithShape(x.Rows, h), tensor.WithBacking(sparsetest.To32(c)))))
	y, err := ops.SparseMatMul(x, wn, mn)
	if err != nil {
		t.Fatal(err)
	}
	l := G.Must(G.Sum(G.Must(G.HadamardProd(y, cn))))
	if _, err := G.Grad(l, wn); err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g, G.BindDualValues(wn))
	defer m.Close()
	for run := 0; run < 2; run++ { // the second run reuses the output values
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		wantY := sparsetest.NaiveProduct(xm, w, h)
		tr, _ := xm.Transpose()
		wantG := sparsetest.NaiveProduct(tr, c, h)
		gotY := y.Value().Data().([]float32)
		gv, err := wn.Grad()
		if err != nil {
			t.Fatal(err)
		}
		gotG := gv.Data().([]float32)
		for i := range wantY {
			if math.Abs(float64(gotY[i])-wantY[i]) > 1e-5*(1+math.Abs(wantY[i])) {
				t.Fatalf("run %d: Y[%d] = %v, want %v", run, i, gotY[i], wantY[i])
			}
		}
		for i := range wantG {
			if math.Abs(float64(gotG[i])-wantG[i]) > 1e-4*(1+math.Abs(wantG[i])) {
				t.Fatalf("run %d: dW[%d] = %v, want %v", run, i, gotG[i], wantG[i])
			}
		}
		m.Reset()
		// The machine adds into bound gradients (an optimizer step
		// zeroes them); zero them as a step would.
		clear(gotG)
	}
}

func TestSparseMatMulErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x := sparsetest.RandomCSR(t, rng, 5, 4, 0.3)
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("w"))
	bad := []struct {
		name string
		x    *sparse.CSR
		w, m *G.Node
	}{
		{"nil matrix", nil, w, nil},
		{"nil weights", x, nil, nil},
		{"invalid matrix", &sparse.CSR{Rows: 1, Cols: 1, Ptr: []int{0, 2}, Col: []int{0}, Val: []float64{1}}, w, nil},
		{"wrong weight rows", x, G.NewMatrix(g, tensor.Float64, G.WithShape(5, 3), G.WithName("w5")), nil},
		{"integer weights", x, G.NewMatrix(g, tensor.Int, G.WithShape(4, 3), G.WithName("wi")), nil},
		{"short mask", x, w, G.NewVector(g, tensor.Float64, G.WithShape(x.NNZ()-1), G.WithName("m1"))},
		{"mask dtype", x, w, G.NewVector(g, tensor.Float32, G.WithShape(x.NNZ()), G.WithName("m2"))},
	}
	for _, tc := range bad {
		if _, err := ops.SparseMatMul(tc.x, tc.w, tc.m); err == nil {
			t.Errorf("%s accepted", tc.name)
		}
	}
	if err := ops.FillDropout(make([]float64, 3), 1, rng.Float64); err == nil {
		t.Error("dropout rate 1 accepted")
	}
	if err := ops.FillDropout(make([]float64, 3), math.NaN(), rng.Float64); err == nil {
		t.Error("dropout rate NaN accepted")
	}
	if err := ops.FillDropout(make([]float32, 3), 0.5, nil); err == nil {
		t.Error("nil random source accepted")
	}
	m := make([]float64, 10000)
	if err := ops.FillDropout(m, 0.3, rng.Float64); err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, v := range m {
		switch v {
		case 0:
		case 1 / 0.7:
			kept++
		default:
			t.Fatalf("mask value %v", v)
		}
	}
	if math.Abs(float64(kept)/1e4-0.7) > 0.03 {
		t.Errorf("kept %d of 10000 at rate 0.3", kept)
	}
}
