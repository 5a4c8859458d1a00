package gemm

import (
	"sync"
	"unsafe"
)

// float is the element type of the native GEMM.
type float interface{ ~float32 | ~float64 }

// kernel computes the mr×nr tile
//
//	C = alpha·Ap·B + beta·C   (load != 0)
//	C = alpha·Ap·B            (load == 0; C's old contents are ignored)
//
// where Ap is a packed A micro-panel (k steps of mr consecutive values) and B
// holds k rows of nr values, row p starting at b + p·bstride (elements).
// Only the first rows (1 ≤ rows ≤ mr) rows of C are written.
type kernel[T float] func(k int, a, b *T, bstride int, c *T, ldc int, alpha, beta T, load, rows int)

// impl describes one micro-kernel and its blocking parameters.
type impl[T float] struct {
	name   string
	mr, nr int
	kc     int // depth of a packed block
	mc     int // rows of op(A) per packed A block (multiple of mr)
	nc     int // columns of op(B) per packed B block (multiple of nr)
	kern   kernel[T]
	// packT, if non-nil, transposes rows stored rows (k values each, stride
	// ldb) into k rows of rows values at dst with row stride dstride (the
	// packed-panel layout). It reports false if it cannot (rows not a
	// multiple of its block size: 8 for float32, 4 for float64); rows
	// passed by packB are always a multiple of 8.
	packT func(k int, src *T, ldb int, dst *T, dstride, rows int) bool
}

type (
	impl32 = impl[float32]
	impl64 = impl[float64]
)

// scratch holds per-call packing buffers; recycled through a sync.Pool.
type scratch[T float] struct {
	a, b []T
	tile []T
}

var pool32, pool64 sync.Pool

func poolFor[T float]() *sync.Pool {
	if unsafe.Sizeof(T(0)) == 4 {
		return &pool32
	}
	return &pool64
}

func getScratch[T float](na, nb, nt int) *scratch[T] {
	s, _ := poolFor[T]().Get().(*scratch[T])
	if s == nil {
		s = new(scratch[T])
	}
	if cap(s.a) < na {
		s.a = make([]T, na)
	}
	if cap(s.b) < nb {
		s.b = make([]T, nb)
	}
	if cap(s.tile) < nt {
		s.tile = make([]T, nt)
	}
	s.a, s.b, s.tile = s.a[:cap(s.a)], s.b[:cap(s.b)], s.tile[:cap(s.tile)]
	return s
}

// gemm is the native GEMM. Arguments must already be validated and
// m, n, k > 0.
func (im *impl[T]) gemm(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	mr, nr := im.mr, im.nr
	kc, mc, nc := im.kc, im.mc, im.nc
	if k < kc {
		// A shallow product: the packed A block (mc×kc values sized for
		// L2) may hold proportionally more rows.
		mc = max(mc, mc*kc/k/mr*mr)
	}
	// When a single A block covers all of m, each B panel is used by one
	// sweep over A only: stream B in place (no packing) when op(B) rows are
	// contiguous (direct), otherwise pack each B panel just before its use
	// into an L1-sized buffer (fused). Otherwise pack a whole kc×nc block.
	single := m <= mc
	direct := single && !transB
	fused := single && transB
	kcMax := min(kc, k)
	mcMax := min(mc, roundUp(m, mr))
	ncMax := min(nc, roundUp(n, nr))
	nb := kcMax * ncMax
	if single {
		nb = kcMax * nr // one panel (direct: only the ragged last one)
	}
	s := getScratch[T](kcMax*mcMax, nb, mr*nr)
	defer poolFor[T]().Put(s)

	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			bt, load := beta, 1
			if pc > 0 {
				bt = 1
			} else if beta == 0 {
				load = 0
			}
			if direct {
				if rem := ncb % nr; rem != 0 {
					packB(false, kcb, rem, nr, b, ldb, pc, jc+ncb-rem, s.b, nil)
				}
			} else if !fused {
				for jr := 0; jr < ncb; jr += nr {
					packB(transB, kcb, min(nr, ncb-jr), nr, b, ldb, pc, jc+jr, s.b[jr*kcb:], im.packT)
				}
			}
			for ic := 0; ic < m; ic += mc {
				mcb := min(mc, m-ic)
				for ir := 0; ir < mcb; ir += mr {
					packA(transA, kcb, min(mr, mcb-ir), mr, a, lda, ic+ir, pc, s.a[ir*kcb:], im.packT)
				}
				for jr := 0; jr < ncb; jr += nr {
					nrb := min(nr, ncb-jr)
					var bp *T
					bs := nr
					switch {
					case direct && nrb == nr:
						bp = &b[pc*ldb+jc+jr]
						bs = ldb
					case direct:
						bp = &s.b[0]
					case fused:
						packB(true, kcb, nrb, nr, b, ldb, pc, jc+jr, s.b, im.packT)
						bp = &s.b[0]
					default:
						bp = &s.b[jr*kcb]
					}
					for ir := 0; ir < mcb; ir += mr {
						mrb := min(mr, mcb-ir)
						ap := &s.a[ir*kcb]
						ci := (ic+ir)*ldc + jc + jr
						if nrb == nr {
							im.kern(kcb, ap, bp, bs, &c[ci], ldc, alpha, bt, load, mrb)
							continue
						}
						// Ragged right edge: compute the tile into scratch,
						// then merge the valid part.
						t := s.tile[:mr*nr]
						im.kern(kcb, ap, bp, bs, &t[0], nr, 1, 0, 0, mr)
						for i := 0; i < mrb; i++ {
							crow := c[ci+i*ldc : ci+i*ldc+nrb]
							trow := t[i*nr : i*nr+nrb]
							if load == 0 {
								for j := range crow {
									crow[j] = alpha * trow[j]
								}
							} else {
								for j := range crow {
									crow[j] = alpha*trow[j] + bt*crow[j]
								}
							}
						}
					}
				}
			}
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packA packs rows [i0, i0+mrb) and depth [p0, p0+kcb) of op(A) into dst as
// kcb groups of mr values (rows beyond mrb are zero).
func packA[T float](trans bool, kcb, mrb, mr int, a []T, lda, i0, p0 int, dst []T, packT func(int, *T, int, *T, int, int) bool) {
	dst = dst[:kcb*mr]
	if !trans && packT != nil && mrb == mr {
		_ = a[(i0+mr-1)*lda+p0+kcb-1]
		if packT(kcb, &a[i0*lda+p0], lda, &dst[0], mr, mr) {
			return
		}
	}
	if trans {
		// op(A)[i][p] = a[p*lda+i]: each depth step is contiguous.
		for p := 0; p < kcb; p++ {
			d := dst[p*mr : p*mr+mr]
			copy(d, a[(p0+p)*lda+i0:(p0+p)*lda+i0+mrb])
			clear(d[mrb:])
		}
		return
	}
	// op(A)[i][p] = a[i*lda+p]: gather a column of mr values per step.
	if mrb == mr && mr == 6 {
		r0 := a[i0*lda+p0:][:kcb]
		r1 := a[(i0+1)*lda+p0:][:kcb]
		r2 := a[(i0+2)*lda+p0:][:kcb]
		r3 := a[(i0+3)*lda+p0:][:kcb]
		r4 := a[(i0+4)*lda+p0:][:kcb]
		r5 := a[(i0+5)*lda+p0:][:kcb]
		for p := range r0 {
			d := dst[p*6 : p*6+6 : p*6+6]
			d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
		}
		return
	}
	for r := 0; r < mr; r++ {
		if r >= mrb {
			for p := 0; p < kcb; p++ {
				dst[p*mr+r] = 0
			}
			continue
		}
		row := a[(i0+r)*lda+p0:][:kcb]
		for p, v := range row {
			dst[p*mr+r] = v
		}
	}
}

// packB packs depth [p0, p0+kcb) and columns [j0, j0+nrb) of op(B) into dst
// as kcb rows of nr values (columns beyond nrb are zero).
func packB[T float](trans bool, kcb, nrb, nr int, b []T, ldb, p0, j0 int, dst []T, packT func(int, *T, int, *T, int, int) bool) {
	dst = dst[:kcb*nr]
	if !trans {
		// op(B)[p][j] = b[p*ldb+j]: rows are contiguous.
		for p := 0; p < kcb; p++ {
			d := dst[p*nr : p*nr+nr]
			copy(d, b[(p0+p)*ldb+j0:(p0+p)*ldb+j0+nrb])
			clear(d[nrb:])
		}
		return
	}
	// op(B)[p][j] = b[j*ldb+p]: transpose nr stored rows.
	j8 := 0
	if packT != nil {
		// Whole groups of 8 columns go through the vector transposer.
		if j8 = nrb &^ 7; j8 > 0 {
			_ = b[(j0+j8-1)*ldb+p0+kcb-1]
			packT(kcb, &b[j0*ldb+p0], ldb, &dst[0], nr, j8)
		}
	}
	for j := j8; j < nrb; j++ {
		row := b[(j0+j)*ldb+p0:][:kcb]
		for p, v := range row {
			dst[p*nr+j] = v
		}
	}
	if nrb < nr {
		for p := 0; p < kcb; p++ {
			clear(dst[p*nr+nrb : (p+1)*nr])
		}
	}
}

// kernelGo2x4 is the portable 2×4 micro-kernel: 8 scalar accumulators
// that the compiler keeps in registers (no spills with 15 usable FP
// registers on amd64).
func kernelGo2x4[T float](k int, a, b *T, bstride int, c *T, ldc int, alpha, beta T, load, rows int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 T
	size := int(unsafe.Sizeof(T(0)))
	as := unsafe.Slice(a, 2*k)
	for p := 0; p+1 < len(as); p += 2 {
		bv := (*[4]T)(unsafe.Add(unsafe.Pointer(b), p/2*bstride*size))
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		a0, a1 := as[p], as[p+1]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	c0 := (*[4]T)(unsafe.Pointer(c))
	if load == 0 {
		c0[0], c0[1], c0[2], c0[3] = alpha*c00, alpha*c01, alpha*c02, alpha*c03
	} else {
		c0[0], c0[1], c0[2], c0[3] = alpha*c00+beta*c0[0], alpha*c01+beta*c0[1], alpha*c02+beta*c0[2], alpha*c03+beta*c0[3]
	}
	if rows < 2 {
		return
	}
	c1 := (*[4]T)(unsafe.Add(unsafe.Pointer(c), ldc*size))
	if load == 0 {
		c1[0], c1[1], c1[2], c1[3] = alpha*c10, alpha*c11, alpha*c12, alpha*c13
	} else {
		c1[0], c1[1], c1[2], c1[3] = alpha*c10+beta*c1[0], alpha*c11+beta*c1[1], alpha*c12+beta*c1[2], alpha*c13+beta*c1[3]
	}
}

// genericImpl is the pure-Go implementation (2×4 register tile).
var (
	genericImpl   = &impl32{name: "gofde-go", mr: 2, nr: 4, kc: 256, mc: 128, nc: 4096, kern: kernelGo2x4[float32]}
	genericImpl64 = &impl64{name: "gofde-go", mr: 2, nr: 4, kc: 256, mc: 128, nc: 4096, kern: kernelGo2x4[float64]}
)

// sgemmNative runs the best native kernel for this CPU.
func sgemmNative(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if trivial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	best32.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
