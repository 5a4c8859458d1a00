package spmm_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/internal/spmm"
)

// TestKernels compares the blocked, parallel products (float64 and
// float32, overwriting and adding, transposed) with a dense product, on
// matrices small enough for one block and large enough for all cores, and
// widths that are and are not multiples of eight.
func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, sz := range []struct{ rows, cols int }{{1, 1}, {7, 5}, {400, 300}} {
		a := sparsetest.RandomCSR(t, rng, sz.rows, sz.cols, 0.05)
		for _, d := range []int{1, 3, 8, 13, 40, 64, 71} {
			if a.NNZ()*d >= spmm.ParallelWork && runtime.GOMAXPROCS(0) == 1 {
				t.Log("one core: the parallel path is not exercised")
			}
			x := sparsetest.RandVec(rng, a.Cols*d)
			want := sparsetest.NaiveProduct(a, x, d)
			base := sparsetest.RandVec(rng, a.Rows*d)

			got := append([]float64(nil), base...)
			spmm.Product(got, a.Ptr, a.Col, a.Val, x, d, false)
			got2 := append([]float64(nil), base...)
			spmm.Product(got2, a.Ptr, a.Col, a.Val, x, d, true)
			got32 := sparsetest.To32(base)
			spmm.Product(got32, a.Ptr, a.Col, sparsetest.To32(a.Val), sparsetest.To32(x), d, false)
			add32 := sparsetest.To32(base)
			spmm.Product(add32, a.Ptr, a.Col, sparsetest.To32(a.Val), sparsetest.To32(x), d, true)
			for i := range want {
				if math.Abs(float64(add32[i])-base[i]-want[i]) > 1e-5*(1+math.Abs(want[i])+math.Abs(base[i])) {
					t.Fatalf("%d×%d, d = %d: float32 added entry %d = %v, want %v", sz.rows, sz.cols, d, i, float64(add32[i])-base[i], want[i])
				}
				if math.Abs(got[i]-want[i]) > 1e-12 || math.Abs(got2[i]-base[i]-want[i]) > 1e-12 {
					t.Fatalf("%d×%d, d = %d: entry %d = %v (added: %v), want %v", sz.rows, sz.cols, d, i, got[i], got2[i]-base[i], want[i])
				}
				if math.Abs(float64(got32[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("%d×%d, d = %d: float32 entry %d = %v, want %v", sz.rows, sz.cols, d, i, got32[i], want[i])
				}
			}

			// Aᵀ g by scattering, against the product with the transpose.
			g := sparsetest.RandVec(rng, a.Rows*d)
			tr, _ := a.Transpose()
			wantT := sparsetest.NaiveProduct(tr, g, d)
			gotT := sparsetest.RandVec(rng, a.Cols*d) // overwritten
			spmm.TransProduct(gotT, a.Ptr, a.Col, a.Val, g, d)
			gotT32 := make([]float32, a.Cols*d)
			spmm.TransProduct(gotT32, a.Ptr, a.Col, sparsetest.To32(a.Val), sparsetest.To32(g), d)
			for i := range wantT {
				if math.Abs(gotT[i]-wantT[i]) > 1e-12 || math.Abs(float64(gotT32[i])-wantT[i]) > 1e-5*(1+math.Abs(wantT[i])) {
					t.Fatalf("%d×%d, d = %d: transposed entry %d = %v (float32 %v), want %v", sz.rows, sz.cols, d, i, gotT[i], gotT32[i], wantT[i])
				}
			}
		}
	}
}

// TestDiffuse32 compares the float32 product A x - x, with its result in
// float64 and in float32, with the float64 one on a square matrix small enough for one block and one large enough for
// all cores, and widths the vector kernel does and does not take.
func TestDiffuse32(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, n := range []int{6, 500} {
		a := sparsetest.RandomCSR(t, rng, n, n, 0.02)
		for _, d := range []int{1, 8, 13, 64, 1030} {
			x := sparsetest.RandVec(rng, n*d)
			want := sparsetest.NaiveProduct(a, x, d)
			got := make([]float64, n*d)
			spmm.Diffuse32(got, a.Ptr, a.Col, sparsetest.To32(a.Val), x, make([]float32, len(x)), d)
			got32 := make([]float32, n*d)
			spmm.DiffuseTo32(got32, a.Ptr, a.Col, sparsetest.To32(a.Val), x, make([]float32, len(x)), d)
			for i := range want {
				w := want[i] - x[i]
				if math.Abs(got[i]-w) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("n = %d, d = %d: entry %d = %v, want %v", n, d, i, got[i], w)
				}
				if math.Abs(float64(got32[i])-w) > 1e-5*(1+math.Abs(want[i])+math.Abs(x[i])) {
					t.Fatalf("n = %d, d = %d: float32 entry %d = %v, want %v", n, d, i, got32[i], w)
				}
			}
		}
	}
}

// TestEdgeDots compares the edge dot products with their definition
// ⟨G_i, X_j⟩ for the entry (i, j).
func TestEdgeDots(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	a := sparsetest.RandomCSR(t, rng, 9, 7, 0.3)
	const d = 5
	g, x := sparsetest.RandVec(rng, a.Rows*d), sparsetest.RandVec(rng, a.Cols*d)
	e := make([]float64, a.NNZ())
	spmm.EdgeDots(e, a.Ptr, a.Col, g, x, d)
	for k, i := range a.Row() {
		want := 0.0
		for c := range d {
			want += g[i*d+c] * x[a.Col[k]*d+c]
		}
		if math.Abs(e[k]-want) > 1e-14 {
			t.Fatalf("entry %d: %v, want %v", k, e[k], want)
		}
	}
}
