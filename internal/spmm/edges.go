package spmm

import (
	"fmt"
	"math"
)

// EdgeDots computes e[k] = ⟨G_{row(k)}, X_{col(k)}⟩ over the d columns for
// every stored entry k of the CSR arrays ptr, col of an r × c matrix A,
// with the row-major r × d matrix g and c × d matrix x: the derivative of
// ⟨G, A X⟩ with respect to A's value k. e holds len(col) values. The
// arrays must form a valid CSR matrix (see the package doc).
func EdgeDots(e []float64, ptr, col []int, g, x []float64, d int) {
	rows := len(ptr) - 1
	for i := 0; i < rows; i++ {
		gr := g[i*d : (i+1)*d]
		for k := ptr[i]; k < ptr[i+1]; k++ {
			xr := x[col[k]*d : (col[k]+1)*d]
			s := 0.0
			for j, v := range gr {
				s += v * xr[j]
			}
			e[k] = s
		}
	}
}

// AttentionWeights returns the row softmax p of the scores ⟨K_i, Q_j⟩/√d
// of the entries (i, j) of the square pattern given by the CSR arrays ptr,
// col, for the row-major n × d keys k and queries q, with the non-negative
// multipliers mask (nil: none; one per entry) inside the softmax, and the
// weights w: p itself, or √(p_k p_mirror[k]) when mirror is not nil
// (mirror[k] is the index of entry (j, i) for entry k = (i, j), which
// needs a symmetric pattern). It returns an error for a negative or
// non-finite multiplier, or a row whose weights do not sum to a positive
// finite number (a mask that removes a whole row, or non-finite scores).
// The arrays must form a valid CSR matrix (see the package doc); mask and
// mirror hold len(col) values.
func AttentionWeights(ptr, col, mirror []int, k, q, mask []float64, d int) (p, w []float64, err error) {
	p = make([]float64, len(col))
	EdgeDots(p, ptr, col, k, q, d)
	scale := 1 / math.Sqrt(float64(d))
	for i := 0; i < len(ptr)-1; i++ {
		lo, hi := ptr[i], ptr[i+1]
		row := p[lo:hi]
		m := math.Inf(-1)
		for j := range row {
			row[j] *= scale
			if mask == nil || mask[lo+j] > 0 {
				m = max(m, row[j])
			}
		}
		s := 0.0
		for j, v := range row {
			e := math.Exp(v - m)
			if mask != nil {
				if !(mask[lo+j] >= 0) || math.IsInf(mask[lo+j], 0) { // also NaN
					return nil, nil, fmt.Errorf("mask value %v at entry %d; want a finite, non-negative multiplier", mask[lo+j], lo+j)
				}
				e *= mask[lo+j]
			}
			row[j] = e
			s += e
		}
		if !(s > 0) || math.IsInf(s, 0) {
			return nil, nil, fmt.Errorf("the weights of row %d sum to %v (a mask that removes the whole row, or non-finite scores)", i, s)
		}
		for j := range row {
			row[j] /= s
		}
	}
	if mirror == nil {
		return p, p, nil
	}
	w = make([]float64, len(p))
	for e, m := range mirror {
		w[e] = math.Sqrt(p[e] * p[m])
	}
	return p, w, nil
}

// AttentionGrads returns dK and dQ of AttentionWeights' weights w (with
// row softmax p, from k and q, on the same pattern and mirror) for the
// cotangent g of w. With u_k = p_k ∂L/∂p_k (g_k w_k for the row softmax,
// ½ (g_k + g_k') w_k with a mirror), the softmax's backward pass is
// ∂L/∂s_k = u_k - p_k Σ_row u.
func AttentionGrads(ptr, col, mirror []int, k, q, p, w, g []float64, d int) (dk, dq []float64) {
	u := make([]float64, len(w))
	if mirror != nil {
		for e, m := range mirror {
			u[e] = 0.5 * (g[e] + g[m]) * w[e]
		}
	} else {
		for e := range u {
			u[e] = g[e] * w[e]
		}
	}
	scale := 1 / math.Sqrt(float64(d))
	dk, dq = make([]float64, len(k)), make([]float64, len(q))
	for i := 0; i < len(ptr)-1; i++ {
		lo, hi := ptr[i], ptr[i+1]
		s := 0.0
		for e := lo; e < hi; e++ {
			s += u[e]
		}
		ki, dki := k[i*d:(i+1)*d], dk[i*d:(i+1)*d]
		for e := lo; e < hi; e++ {
			ds := (u[e] - p[e]*s) * scale
			j := col[e]
			qj, dqj := q[j*d:(j+1)*d], dq[j*d:(j+1)*d]
			for c := range d {
				dki[c] += ds * qj[c]
				dqj[c] += ds * ki[c]
			}
		}
	}
	return dk, dq
}
