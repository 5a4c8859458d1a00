// Package sparsetest holds the test helpers shared by the tests of the
// sparse matrix packages (sparse, internal/spmm, ops and graph): random
// CSR matrices and vectors, a dense reference product and hand-built
// invalid matrices. Only tests import it.
package sparsetest

import (
	"math/rand/v2"
	"testing"

	"github.com/gofde/gofde/sparse"
)

// RandomCSR returns a rows × cols matrix with about density·rows·cols
// entries and values in [-1, 1); every row i holds the entry (i, i mod
// cols).
func RandomCSR(t testing.TB, rng *rand.Rand, rows, cols int, density float64) *sparse.CSR {
	t.Helper()
	var r, c []int
	var v []float64
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if rng.Float64() < density || j == i%cols {
				r, c, v = append(r, i), append(c, j), append(v, 2*rng.Float64()-1)
			}
		}
	}
	m, err := sparse.FromCOO(rows, cols, r, c, v)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// RandVec returns n values drawn uniformly from [-1, 1).
func RandVec(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = 2*rng.Float64() - 1
	}
	return x
}

// NaiveProduct returns A X (A r × c, X c × d, row-major) from A's dense
// form.
func NaiveProduct(a *sparse.CSR, x []float64, d int) []float64 {
	dense := a.Dense()
	y := make([]float64, a.Rows*d)
	for i := 0; i < a.Rows; i++ {
		for j := 0; j < a.Cols; j++ {
			if v := dense[i*a.Cols+j]; v != 0 {
				for c := 0; c < d; c++ {
					y[i*d+c] += v * x[j*d+c]
				}
			}
		}
	}
	return y
}

// To32 returns x rounded to float32.
func To32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// Invalid returns hand-built matrices that break CSR's invariants, and
// nil: a column out of range, decreasing row pointers, too few row
// pointers, too few values, unsorted columns and a negative shape.
func Invalid() []*sparse.CSR {
	return []*sparse.CSR{
		nil,
		{Rows: 2, Cols: 2, Ptr: []int{0, 1, 2}, Col: []int{0, 5}, Val: []float64{1, 1}},
		{Rows: 2, Cols: 2, Ptr: []int{0, 3, 2}, Col: []int{0, 1}, Val: []float64{1, 1}},
		{Rows: 2, Cols: 2, Ptr: []int{0, 1}, Col: []int{0}, Val: []float64{1}},
		{Rows: 2, Cols: 2, Ptr: []int{0, 1, 2}, Col: []int{0, 1}, Val: []float64{1}},
		{Rows: 1, Cols: 2, Ptr: []int{0, 2}, Col: []int{1, 0}, Val: []float64{1, 1}},
		{Rows: -1, Cols: 2},
	}
}
