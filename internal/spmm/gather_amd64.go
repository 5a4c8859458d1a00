//go:build amd64 && !purego

package spmm

import "golang.org/x/sys/cpu"

// gatherRowsAVX2 sets (adds with add) out[j] = Σ_{q<n} vals[q] ·
// x[cols[q]·d + j] for the first d &^ 7 columns j.
//
//go:noescape
func gatherRowsAVX2(out, x *float32, d int, cols *int, vals *float32, n int, add bool)

// widenSubAVX2 sets dst[j] = float64(a[j]) - x[j] for j < n, n a multiple
// of 4.
//
//go:noescape
func widenSubAVX2(dst *float64, a *float32, x *float64, n int)

// subAVX2 sets dst[j] -= x[j] for j < n, n a multiple of 8.
//
//go:noescape
func subAVX2(dst, x *float32, n int)

var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// gatherRow32 computes out (+)= Σ_q vs[q] · x[cs[q]·d : cs[q]·d+d] for one
// output row of d columns with the vector kernel and returns how many of
// the leading columns it did (a multiple of 8; 0 without AVX2+FMA). x
// holds whole rows of d columns.
func gatherRow32(out, x []float32, d int, cs []int, vs []float32, add bool) int {
	d8 := d &^ 7
	if !hasAVX2 || d8 == 0 {
		return 0
	}
	if len(cs) == 0 {
		if !add {
			clear(out[:d8])
		}
		return d8
	}
	// The kernel reads unchecked: a column index out of x's rows (a CSR
	// changed after it was validated) is left to the Go loop, which
	// panics with a bounds error instead of reading past x.
	rows := uint(len(x) / d)
	for _, c := range cs {
		if uint(c) >= rows {
			return 0
		}
	}
	_ = out[d8-1]
	gatherRowsAVX2(&out[0], &x[0], d, &cs[0], &vs[0], len(cs), add)
	return d8
}

// widenSub32 sets dst[j] = float64(a[j]) - x[j] over the leading multiple
// of 4 of len(dst) with the vector kernel and returns how many it did.
func widenSub32(dst []float64, a []float32, x []float64) int {
	n := len(dst) &^ 3
	if !hasAVX2 || n == 0 {
		return 0
	}
	_, _ = a[n-1], x[n-1]
	widenSubAVX2(&dst[0], &a[0], &x[0], n)
	return n
}

// sub32 sets dst[j] -= x[j] over the leading multiple of 8 of len(dst)
// with the vector kernel and returns how many it did.
func sub32(dst, x []float32) int {
	n := len(dst) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_ = x[n-1]
	subAVX2(&dst[0], &x[0], n)
	return n
}
