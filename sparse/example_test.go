package sparse_test

import (
	"fmt"

	"github.com/gofde/gofde/sparse"
)

// A 2 × 3 matrix from coordinate triplets (the two entries at (0, 2) are
// summed), its transpose, and its product with a 3 × 1 dense matrix.
func ExampleFromCOO() {
	a, err := sparse.FromCOO(2, 3, []int{0, 1, 0, 0}, []int{2, 1, 0, 2}, []float64{1, 4, 2, 3})
	if err != nil {
		panic(err)
	}
	fmt.Println("nnz", a.NNZ(), "dense", a.Dense())
	t, perm := a.Transpose()
	fmt.Println("transpose", t.Dense(), "perm", perm)
	y := make([]float64, 2)
	if err := a.MulDense(y, []float64{1, 10, 100}, 1); err != nil {
		panic(err)
	}
	fmt.Println("A x", y)
	// Output:
	// nnz 3 dense [2 0 4 0 4 0]
	// transpose [2 0 0 4 4 0] perm [0 2 1]
	// A x [402 40]
}
