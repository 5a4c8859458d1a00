package sparse

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/gofde/gofde/internal/spmm"
)

// CSR is a sparse matrix in compressed sparse row form: the entries of row
// i are Val[k] at column Col[k] for Ptr[i] ≤ k < Ptr[i+1]. Within a row the
// columns are strictly increasing (NewCSR sorts them and sums duplicates).
//
// A CSR is immutable once built: the functions of this package return new
// matrices and never modify their arguments.
type CSR struct {
	Rows, Cols int
	Ptr        []int
	Col        []int
	Val        []float64
}

// NewCSR validates the arrays of a CSR matrix of shape rows × cols and
// returns the matrix, with the columns of each row sorted and duplicate
// entries summed. It reports inconsistent arrays (len(ptr) ≠ rows+1,
// non-monotone ptr, ptr[rows] ≠ len(col), len(val) ≠ len(col), a column
// out of range, a non-finite value) as errors. The arrays are copied.
func NewCSR(rows, cols int, ptr, col []int, val []float64) (*CSR, error) {
	if rows < 0 || cols < 0 {
		return nil, fmt.Errorf("sparse: CSR shape %d×%d must not be negative", rows, cols)
	}
	if len(ptr) != rows+1 {
		return nil, fmt.Errorf("sparse: CSR indptr has %d entries, want rows+1 = %d", len(ptr), rows+1)
	}
	if ptr[0] != 0 {
		return nil, fmt.Errorf("sparse: CSR indptr[0] = %d, want 0", ptr[0])
	}
	for i := 0; i < rows; i++ {
		if ptr[i+1] < ptr[i] {
			return nil, fmt.Errorf("sparse: CSR indptr decreases at row %d (%d > %d)", i, ptr[i], ptr[i+1])
		}
	}
	if ptr[rows] != len(col) {
		return nil, fmt.Errorf("sparse: CSR indptr[%d] = %d, but there are %d column indices", rows, ptr[rows], len(col))
	}
	if len(val) != len(col) {
		return nil, fmt.Errorf("sparse: CSR has %d values and %d column indices", len(val), len(col))
	}
	type entry struct {
		c int
		v float64
	}
	m := &CSR{Rows: rows, Cols: cols, Ptr: make([]int, rows+1), Col: make([]int, 0, len(col)), Val: make([]float64, 0, len(val))}
	var buf []entry
	for i := 0; i < rows; i++ {
		buf = buf[:0]
		for k := ptr[i]; k < ptr[i+1]; k++ {
			if col[k] < 0 || col[k] >= cols {
				return nil, fmt.Errorf("sparse: CSR column index %d at row %d outside [0, %d)", col[k], i, cols)
			}
			if math.IsNaN(val[k]) || math.IsInf(val[k], 0) {
				return nil, fmt.Errorf("sparse: CSR value %v at (%d, %d) is not finite", val[k], i, col[k])
			}
			buf = append(buf, entry{col[k], val[k]})
		}
		sort.SliceStable(buf, func(a, b int) bool { return buf[a].c < buf[b].c })
		for j, e := range buf {
			if j > 0 && e.c == buf[j-1].c {
				m.Val[len(m.Val)-1] += e.v
				continue
			}
			m.Col = append(m.Col, e.c)
			m.Val = append(m.Val, e.v)
		}
		m.Ptr[i+1] = len(m.Col)
	}
	return m, nil
}

// FromCOO builds a rows × cols CSR matrix from coordinate triplets
// (row[k], col[k], val[k]); duplicates are summed.
func FromCOO(rows, cols int, row, col []int, val []float64) (*CSR, error) {
	if len(row) != len(col) || len(val) != len(col) {
		return nil, fmt.Errorf("sparse: COO arrays of lengths %d, %d, %d differ", len(row), len(col), len(val))
	}
	if rows < 0 {
		return nil, fmt.Errorf("sparse: COO shape %d×%d must not be negative", rows, cols)
	}
	ptr := make([]int, rows+1)
	for _, r := range row {
		if r < 0 || r >= rows {
			return nil, fmt.Errorf("sparse: COO row index %d outside [0, %d)", r, rows)
		}
		ptr[r+1]++
	}
	for i := 0; i < rows; i++ {
		ptr[i+1] += ptr[i]
	}
	next := append([]int(nil), ptr[:rows]...)
	c := make([]int, len(col))
	v := make([]float64, len(val))
	for k, r := range row {
		c[next[r]] = col[k]
		v[next[r]] = val[k]
		next[r]++
	}
	return NewCSR(rows, cols, ptr, c, v)
}

// Validate reports whether a is a consistent CSR matrix: non-negative
// shape, len(Ptr) = Rows+1, Ptr[0] = 0, Ptr non-decreasing, Ptr[Rows] =
// len(Col) = len(Val), every column index in [0, Cols) and strictly
// increasing within its row. The matrices built by this package always
// are; the methods that compute with a matrix, and the functions of
// packages ops and graph that take one, call Validate on it (a CSR built
// by hand is never trusted), and the ops and the graph fields keep a
// private copy, so changing the arrays afterwards does not affect them.
// It costs O(Rows + NNZ). The values may be any float64.
func (a *CSR) Validate() error {
	if a == nil {
		return errors.New("sparse: nil CSR matrix")
	}
	if a.Rows < 0 || a.Cols < 0 {
		return fmt.Errorf("sparse: CSR shape %d×%d must not be negative", a.Rows, a.Cols)
	}
	if len(a.Ptr) != a.Rows+1 {
		return fmt.Errorf("sparse: CSR of %d rows has %d row pointers, want %d", a.Rows, len(a.Ptr), a.Rows+1)
	}
	if a.Ptr[0] != 0 {
		return fmt.Errorf("sparse: CSR Ptr[0] = %d, want 0", a.Ptr[0])
	}
	if a.Ptr[a.Rows] != len(a.Col) || len(a.Val) != len(a.Col) {
		return fmt.Errorf("sparse: CSR Ptr[%d] = %d with %d column indices and %d values; all three must agree", a.Rows, a.Ptr[a.Rows], len(a.Col), len(a.Val))
	}
	for i := 0; i < a.Rows; i++ {
		lo, hi := a.Ptr[i], a.Ptr[i+1]
		if hi < lo || hi > len(a.Col) {
			return fmt.Errorf("sparse: CSR row pointers decrease or overrun at row %d (%d, %d)", i, lo, hi)
		}
		prev := -1
		for k := lo; k < hi; k++ {
			c := a.Col[k]
			if c < 0 || c >= a.Cols {
				return fmt.Errorf("sparse: CSR column index %d at row %d outside [0, %d)", c, i, a.Cols)
			}
			if c <= prev {
				return fmt.Errorf("sparse: CSR columns of row %d not strictly increasing (%d after %d)", i, c, prev)
			}
			prev = c
		}
	}
	return nil
}

// Clone returns a deep copy of a (nil for nil).
func (a *CSR) Clone() *CSR {
	if a == nil {
		return nil
	}
	return &CSR{Rows: a.Rows, Cols: a.Cols, Ptr: append([]int(nil), a.Ptr...),
		Col: append([]int(nil), a.Col...), Val: append([]float64(nil), a.Val...)}
}

// Equal reports whether a and b hold the same matrix in the same form:
// the same shape and the same Ptr, Col and Val arrays (so the same
// entries in the same storage order). Two nil matrices are equal.
func (a *CSR) Equal(b *CSR) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Rows == b.Rows && a.Cols == b.Cols && slices.Equal(a.Ptr, b.Ptr) &&
		slices.Equal(a.Col, b.Col) && slices.Equal(a.Val, b.Val)
}

// NNZ returns the number of stored entries.
func (a *CSR) NNZ() int { return len(a.Col) }

// Row returns the row index of every stored entry, in storage order, or
// nil if a is not valid (see Validate).
func (a *CSR) Row() []int {
	if a.Validate() != nil {
		return nil
	}
	r := make([]int, a.NNZ())
	for i := 0; i < a.Rows; i++ {
		for k := a.Ptr[i]; k < a.Ptr[i+1]; k++ {
			r[k] = i
		}
	}
	return r
}

// Dense returns the matrix as a row-major rows × cols slice, or nil if a
// is not valid (see Validate) or has more than 2^31 entries in all.
func (a *CSR) Dense() []float64 {
	if a.Validate() != nil || (a.Cols > 0 && a.Rows > (1<<31)/a.Cols) {
		return nil
	}
	d := make([]float64, a.Rows*a.Cols)
	for i := 0; i < a.Rows; i++ {
		for k := a.Ptr[i]; k < a.Ptr[i+1]; k++ {
			d[i*a.Cols+a.Col[k]] = a.Val[k]
		}
	}
	return d
}

// WithValues returns a matrix with a's sparsity pattern and the values
// val (len NNZ), sharing a's index arrays.
func (a *CSR) WithValues(val []float64) (*CSR, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if len(val) != a.NNZ() {
		return nil, fmt.Errorf("sparse: %d values for a pattern with %d entries", len(val), a.NNZ())
	}
	return &CSR{Rows: a.Rows, Cols: a.Cols, Ptr: a.Ptr, Col: a.Col, Val: val}, nil
}

// Transpose returns Aᵀ and the permutation perm with Aᵀ.Val[k] =
// A.Val[perm[k]], which maps values on A's pattern to values on Aᵀ's.
// Both are nil if a is not valid (see Validate).
func (a *CSR) Transpose() (t *CSR, perm []int) {
	if a.Validate() != nil {
		return nil, nil
	}
	t = &CSR{Rows: a.Cols, Cols: a.Rows, Ptr: make([]int, a.Cols+1), Col: make([]int, a.NNZ()), Val: make([]float64, a.NNZ())}
	perm = make([]int, a.NNZ())
	for _, c := range a.Col {
		t.Ptr[c+1]++
	}
	for j := 0; j < a.Cols; j++ {
		t.Ptr[j+1] += t.Ptr[j]
	}
	next := append([]int(nil), t.Ptr[:a.Cols]...)
	for i := 0; i < a.Rows; i++ { // increasing i keeps Aᵀ's rows sorted
		for k := a.Ptr[i]; k < a.Ptr[i+1]; k++ {
			p := next[a.Col[k]]
			t.Col[p], t.Val[p], perm[p] = i, a.Val[k], k
			next[a.Col[k]]++
		}
	}
	return t, perm
}

// MulDense computes dst = A X for the row-major Cols × d matrix x; dst is
// Rows × d and is overwritten.
func (a *CSR) MulDense(dst, x []float64, d int) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if d < 1 || len(x) != a.Cols*d || len(dst) != a.Rows*d {
		return fmt.Errorf("sparse: MulDense of a %d×%d matrix with %d values (d = %d) into %d", a.Rows, a.Cols, len(x), d, len(dst))
	}
	spmm.Product(dst, a.Ptr, a.Col, a.Val, x, d, false)
	return nil
}
