package sparse_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/sparse"
)

func TestNewCSRErrors(t *testing.T) {
	tests := []struct {
		name       string
		rows, cols int
		ptr, col   []int
		val        []float64
		want       string
	}{
		{"short indptr", 2, 2, []int{0, 1}, []int{0}, []float64{1}, "indptr has 2 entries"},
		{"decreasing", 2, 2, []int{0, 2, 1}, []int{0, 1}, []float64{1, 1}, "decreases"},
		{"nonzero start", 1, 2, []int{1, 1}, []int{0}, []float64{1}, "indptr[0]"},
		{"end mismatch", 2, 2, []int{0, 1, 3}, []int{0, 1}, []float64{1, 1}, "indptr[2] = 3"},
		{"values", 2, 2, []int{0, 1, 2}, []int{0, 1}, []float64{1}, "1 values and 2 column"},
		{"column range", 2, 2, []int{0, 1, 2}, []int{0, 2}, []float64{1, 1}, "column index 2"},
		{"nan", 1, 1, []int{0, 1}, []int{0}, []float64{math.NaN()}, "not finite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sparse.NewCSR(tc.rows, tc.cols, tc.ptr, tc.col, tc.val)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCSRSortsAndTransposes(t *testing.T) {
	m, err := sparse.NewCSR(2, 3, []int{0, 3, 4}, []int{2, 0, 2}, []float64{1, 2, 3})
	if err == nil {
		t.Fatal("inconsistent arrays accepted")
	}
	m, err = sparse.NewCSR(2, 3, []int{0, 3, 4}, []int{2, 0, 2, 1}, []float64{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{2, 0, 4, 0, 4, 0}
	for i, v := range m.Dense() {
		if v != want[i] {
			t.Fatalf("dense %v, want %v", m.Dense(), want)
		}
	}
	tr, perm := m.Transpose()
	d := tr.Dense()
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			if d[j*2+i] != want[i*3+j] {
				t.Fatalf("transpose %v of %v", d, want)
			}
		}
	}
	for k, p := range perm {
		if tr.Val[k] != m.Val[p] {
			t.Fatalf("perm %v does not map values", perm)
		}
	}
}

// TestMulDense compares MulDense with the dense product.
func TestMulDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := sparsetest.RandomCSR(t, rng, 7, 5, 0.3)
	x := sparsetest.RandVec(rng, 5*3)
	got := make([]float64, 7*3)
	if err := a.MulDense(got, x, 3); err != nil {
		t.Fatal(err)
	}
	d := a.Dense()
	for i := 0; i < 7; i++ {
		for c := 0; c < 3; c++ {
			s := 0.0
			for j := 0; j < 5; j++ {
				s += d[i*5+j] * x[j*3+c]
			}
			if math.Abs(got[i*3+c]-s) > 1e-14 {
				t.Fatalf("(%d,%d) = %v, want %v", i, c, got[i*3+c], s)
			}
		}
	}
	if err := a.MulDense(got, x[:3], 3); err == nil {
		t.Fatal("bad size accepted")
	}
}

// TestHandBuiltCSR: a hand-built matrix that breaks the invariants is
// rejected by Validate and MulDense, has no transpose, and Dense and Row
// do not index out of range.
func TestHandBuiltCSR(t *testing.T) {
	for i, a := range sparsetest.Invalid() {
		if a.Validate() == nil {
			t.Errorf("matrix %d: Validate accepts it", i)
		}
		if a != nil {
			if err := a.MulDense(make([]float64, 6), make([]float64, 6), 3); err == nil {
				t.Errorf("matrix %d: MulDense accepts it", i)
			}
			if tr, _ := a.Transpose(); tr != nil {
				t.Errorf("matrix %d: Transpose of an invalid matrix", i)
			}
			_ = a.Dense()
			_ = a.Row()
		}
	}
}

// TestCloneEqual: a clone is equal to its matrix and shares no array with
// it; a change of a value or of the shape makes the matrices differ.
func TestCloneEqual(t *testing.T) {
	a := sparsetest.RandomCSR(t, rand.New(rand.NewPCG(5, 6)), 6, 4, 0.3)
	c := a.Clone()
	if !a.Equal(c) || !c.Equal(a) {
		t.Fatal("a clone differs from its matrix")
	}
	c.Val[0]++
	if a.Equal(c) {
		t.Error("a changed value went unnoticed")
	}
	c = a.Clone()
	c.Cols++
	if a.Equal(c) {
		t.Error("a changed shape went unnoticed")
	}
	var none *sparse.CSR
	if none.Clone() != nil || !none.Equal(nil) || a.Equal(nil) || none.Equal(a) {
		t.Error("nil matrices: Clone or Equal wrong")
	}
}
