package gemm

// Shifted computes
//
//	C = Σ_t op(A_t)·B_t + beta·C,   t = 0, …, len(shifts)-1,
//
// where A_t is the stored matrix starting at a[t·aoff] (row stride lda;
// op(A_t) = A_t, or A_tᵀ with transA, is m×k) and B_t is the k×n matrix
// starting at b[shifts[t]] (row stride ldb). A convolution on padded
// planes is such a sum: every kernel tap multiplies the same planes read
// at its own shift. Computed tile by tile with the sum over t inside each
// micro-tile, C is written once instead of once per term, and B is read
// in place (no packing but for the ragged last columns). Shifted runs on
// this package's kernels in every build, the openblas one too: one
// OpenBLAS product per term was slower on the convolutions' shapes.
//
// When beta == 0, C's old contents are ignored. As with F32, the caller
// guarantees valid dimensions and slice lengths; they are checked once per
// call and violations panic.
func Shifted[T float32 | float64](transA bool, m, n, k int, a []T, lda, aoff int, b []T, ldb int, shifts []int, beta T, c []T, ldc int) {
	for t, sh := range shifts {
		if t*aoff > len(a) || sh < 0 || sh > len(b) {
			panic("gemm: Shifted: term offset outside A or B")
		}
		checkArgs(transA, false, m, n, k, a[t*aoff:], lda, b[sh:], ldb, c, ldc)
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || len(shifts) == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	switch c := any(c).(type) {
	case []float32:
		best32.shifted(transA, m, n, k, any(a).([]float32), lda, aoff, any(b).([]float32), ldb, shifts, float32(beta), c, ldc)
	case []float64:
		best64.shifted(transA, m, n, k, any(a).([]float64), lda, aoff, any(b).([]float64), ldb, shifts, float64(beta), c, ldc)
	}
}

// shifted is Shifted on the native kernels. Arguments are validated and
// m, n, k > 0.
func (im *impl[T]) shifted(transA bool, m, n, k int, a []T, lda, aoff int, b []T, ldb int, shifts []int, beta T, c []T, ldc int) {
	mr, nr, taps := im.mr, im.nr, len(shifts)
	s := getScratch[T](roundUp(m, mr)*taps*k, taps*k*nr, mr*nr)
	defer poolFor[T]().Put(s)
	// Panel ir holds the mr rows from ir of every term, term after term.
	for ir := 0; ir < m; ir += mr {
		for t := range taps {
			packA(transA, k, min(mr, m-ir), mr, a[t*aoff:], lda, ir, 0, s.a[ir*taps*k+t*k*mr:], im.packT)
		}
	}
	for jr := 0; jr < n; jr += nr {
		nrb := min(nr, n-jr)
		ragged := nrb < nr
		if ragged {
			// The kernels read whole nr-wide rows of B: pack the last
			// columns of every term, zero-padded.
			for t, sh := range shifts {
				packB(false, k, nrb, nr, b, ldb, 0, sh+jr, s.b[t*k*nr:], nil)
			}
		}
		for ir := 0; ir < m; ir += mr {
			rows := min(mr, m-ir)
			cp, cs := &c[ir*ldc+jr], ldc
			if ragged {
				cp, cs, rows = &s.tile[0], nr, mr
			}
			for t, sh := range shifts {
				bp, bs := &b[sh+jr], ldb
				if ragged {
					bp, bs = &s.b[t*k*nr], nr
				}
				bt, load := T(1), 1
				if t == 0 {
					if bt = beta; ragged || beta == 0 {
						bt, load = 0, 0
					}
				}
				im.kern(k, &s.a[ir*taps*k+t*k*mr], bp, bs, cp, cs, 1, bt, load, rows)
			}
			if !ragged {
				continue
			}
			for i := range min(mr, m-ir) {
				crow := c[(ir+i)*ldc+jr:][:nrb]
				trow := s.tile[i*nr:][:nrb]
				if beta == 0 {
					copy(crow, trow)
					continue
				}
				for j, v := range trow {
					crow[j] = v + beta*crow[j]
				}
			}
		}
	}
}
