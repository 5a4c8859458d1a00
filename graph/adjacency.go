package graph

import (
	"errors"
	"fmt"
	"math"

	"github.com/gofde/gofde/sparse"
)

// Symmetrize returns the binary symmetric adjacency of a square matrix:
// entry (i, j) is 1 when A_ij ≠ 0 or A_ji ≠ 0 and i ≠ j (self-loops are
// dropped).
func Symmetrize(a *sparse.CSR) (*sparse.CSR, error) {
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("graph: Symmetrize: %w", err)
	}
	if a.Rows != a.Cols {
		return nil, errors.New("graph: Symmetrize needs a square matrix")
	}
	var r, c []int
	for i := 0; i < a.Rows; i++ {
		for k := a.Ptr[i]; k < a.Ptr[i+1]; k++ {
			if j := a.Col[k]; j != i && a.Val[k] != 0 {
				r, c = append(r, i, j), append(c, j, i)
			}
		}
	}
	m, err := sparse.FromCOO(a.Rows, a.Cols, r, c, make([]float64, len(r)))
	if err != nil {
		return nil, fmt.Errorf("graph: Symmetrize: %w", err)
	}
	for k := range m.Val {
		m.Val[k] = 1
	}
	return m, nil
}

// withSelfLoops returns A + I's pattern and values for a square matrix.
func withSelfLoops(a *sparse.CSR) (*sparse.CSR, error) {
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("graph: normalisation: %w", err)
	}
	if a.Rows != a.Cols {
		return nil, errors.New("graph: normalisation needs a square matrix")
	}
	r, c, v := a.Row(), append([]int(nil), a.Col...), append([]float64(nil), a.Val...)
	for i := 0; i < a.Rows; i++ {
		r, c, v = append(r, i), append(c, i), append(v, 1)
	}
	m, err := sparse.FromCOO(a.Rows, a.Cols, r, c, v)
	if err != nil {
		return nil, fmt.Errorf("graph: normalisation: %w", err)
	}
	return m, nil
}

// NormalizeSym returns the symmetric normalisation with self-loops
// Â = D^{-1/2} (A + I) D^{-1/2}, D_ii = Σ_j (A + I)_ij, of a square
// non-negative matrix A. Its eigenvalues lie in (-1, 1] for symmetric A.
func NormalizeSym(a *sparse.CSR) (*sparse.CSR, error) {
	m, err := withSelfLoops(a)
	if err != nil {
		return nil, err
	}
	dinv, err := invDegrees(m)
	if err != nil {
		return nil, err
	}
	for i := 0; i < m.Rows; i++ {
		for k := m.Ptr[i]; k < m.Ptr[i+1]; k++ {
			m.Val[k] *= math.Sqrt(dinv[i] * dinv[m.Col[k]])
		}
	}
	return m, nil
}

// NormalizeRW returns the random-walk normalisation with self-loops
// Â = D^{-1} (A + I), whose rows sum to one, of a square non-negative
// matrix A.
func NormalizeRW(a *sparse.CSR) (*sparse.CSR, error) {
	m, err := withSelfLoops(a)
	if err != nil {
		return nil, err
	}
	dinv, err := invDegrees(m)
	if err != nil {
		return nil, err
	}
	for i := 0; i < m.Rows; i++ {
		for k := m.Ptr[i]; k < m.Ptr[i+1]; k++ {
			m.Val[k] *= dinv[i]
		}
	}
	return m, nil
}

// invDegrees returns 1/D_ii, D_ii = Σ_j M_ij, for a matrix with
// non-negative entries and no empty row.
func invDegrees(m *sparse.CSR) ([]float64, error) {
	dinv := make([]float64, m.Rows)
	for i := range dinv {
		s := 0.0
		for k := m.Ptr[i]; k < m.Ptr[i+1]; k++ {
			if m.Val[k] < 0 {
				return nil, fmt.Errorf("graph: normalisation of a matrix with a negative entry at (%d, %d)", i, m.Col[k])
			}
			s += m.Val[k]
		}
		if s == 0 {
			return nil, fmt.Errorf("graph: row %d has zero degree", i)
		}
		dinv[i] = 1 / s
	}
	return dinv, nil
}
