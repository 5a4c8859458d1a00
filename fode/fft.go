package fode

import (
	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/gofde/gofde/internal/gemm"
)

// FFT is the HistoryEngine of Hairer, Lubich and Schlichte (1985): the
// lower-triangular Toeplitz history matrix of size P = r·2^K is split into
// two triangles of size P/2 and the square between them, recursively down
// to triangles of r steps. Each square, the contribution of a completed
// block of L steps to the next L targets, is one FFT convolution of length
// 2L per column, computed once its sources are final and added to an
// accumulator (squares of up to 256 steps are instead one matrix product
// with their Toeplitz block, which is faster there); inside the base
// triangles the sums are direct. Cost O(N log² N · width)
// instead of O(N² · width); memory O(N · width) per kernel. The sums equal
// the direct ones up to round-off (about 1e-15 relative).
var FFT HistoryEngine = fftEngine{block: 32}

// Auto is the HistoryEngine that uses FFT for long solves and Direct for
// short ones, where the direct sums are cheaper; a short memory counts as
// a short solve of its length.
var Auto HistoryEngine = autoEngine{}

// autoCrossover returns the step count from which Auto picks FFT for
// histories of the given width (values per step). The direct sums read the
// whole history at every step, which costs more the wider it is, while the
// FFT's fixed overhead per step weighs less, so wide histories cross over
// early. Measured on a 2-core machine with BenchmarkHistory (width 1: near
// 600 steps; width 1000: near 100) and with the MLP block of the README's
// benchmark (width 8192: near 50).
func autoCrossover(width int) int {
	switch {
	case width >= 4096:
		return 48
	case width >= 256:
		return 128
	}
	return 512
}

type autoEngine struct{}

func (autoEngine) String() string { return "auto" }

func (e autoEngine) NewHistory(kernels [][]float64, values []float64, width int) History {
	return e.pick(kernels, width).NewHistory(kernels, values, width)
}

// pick returns the engine for the kernels: a short memory (kernels that
// vanish beyond a lag) makes the direct sums as cheap as that lag.
func (autoEngine) pick(kernels [][]float64, width int) HistoryEngine {
	if len(kernels) > 0 && kernelReach(kernels) >= autoCrossover(width) {
		return FFT
	}
	return Direct
}

type fftEngine struct{ block int }

func (fftEngine) String() string { return "fft" }

func (e fftEngine) NewHistory(kernels [][]float64, values []float64, width int) History {
	return e.newFFT(kernels, values, nil, width)
}

// newFFT returns an FFT History over values, or over values32 when the
// stream is stored in float32: its accumulator is then float32 too, and
// the matrix-product squares are float32 products.
func (e fftEngine) newFFT(kernels [][]float64, values []float64, values32 []float32, width int) *fftHistory {
	N := 0
	if len(kernels) > 0 {
		N = len(kernels[0]) - 1
	}
	h := &fftHistory{kernels: kernels, rowStore: rowStore{values: values, values32: values32, width: width}, N: N, r: e.block}
	// The accumulators come from the buffer pools and go back to them
	// when the sweep that owns the History releases it. They are rings
	// of accRows(N) rows: target m lives in row m mod R from the square
	// that first adds to it until Sum reads it.
	h.R = accRows(N)
	if values32 != nil {
		h.acc32 = make([][]float32, len(kernels))
		for k := range h.acc32 {
			h.acc32[k] = getFloats32(h.R * width)
			clear(h.acc32[k])
		}
	} else {
		h.acc = make([][]float64, len(kernels))
		for k := range h.acc {
			h.acc[k] = getZeroed(h.R * width)
		}
	}
	// Levels L = r, 2r, ... while a square [a, a+L) -> [a+L, a+2L) can
	// still reach a target ≤ N.
	for L := h.r; L <= N; L *= 2 {
		lv := &fftLevel{L: L}
		if L <= gemmSquares {
			// T[p][i] = w_{L+p-i}: the lags from source a+i to target a+L+p.
			for _, w := range kernels {
				T := make([]float64, L*L)
				for p := 0; p < L; p++ {
					for i := 0; i < L; i++ {
						if lag := L + p - i; lag <= N {
							T[p*L+i] = w[lag]
						}
					}
				}
				if values32 != nil {
					lv.toeplitz32 = append(lv.toeplitz32, convert(make([]float32, len(T)), T))
				} else {
					lv.toeplitz = append(lv.toeplitz, T)
				}
			}
			h.levels = append(h.levels, lv)
			continue
		}
		lv.fft = fourier.NewFFT(2 * L)
		buf := make([]float64, 2*L)
		for _, w := range kernels {
			// K_q = w_{q+1}, q = 0..2L-2: the lags a square can span.
			clear(buf)
			for q := 0; q < 2*L-1 && q+1 <= N; q++ {
				buf[q] = w[q+1]
			}
			lv.spectra = append(lv.spectra, lv.fft.Coefficients(nil, buf))
		}
		h.levels = append(h.levels, lv)
	}
	if n := len(h.levels); n > 0 && h.levels[n-1].fft != nil {
		top := 2 * h.levels[n-1].L
		h.cols = make([][]float64, fftGroup)
		h.outs = make([][]float64, fftGroup)
		h.specs = make([][]complex128, fftGroup)
		for q := range h.cols {
			h.cols[q] = make([]float64, top)
			h.outs[q] = make([]float64, top)
			h.specs[q] = make([]complex128, top/2+1)
		}
		h.prod = make([]complex128, top/2+1)
	}
	return h
}

// fftGroup is the number of columns an FFT square gathers per sweep.
const fftGroup = 8

// gemmSquares is the largest square done as a matrix product.
const gemmSquares = 256

type fftLevel struct {
	L        int
	fft      *fourier.FFT   // nil for the matrix-product levels
	spectra  [][]complex128 // one per kernel
	toeplitz [][]float64    // one L×L block per kernel, for the matrix-product levels
	// toeplitz32 replaces toeplitz over a stream stored in float32.
	toeplitz32 [][]float32
	next       int // start a of the next square to compute
}

type fftHistory struct {
	kernels [][]float64
	rowStore
	N, r   int
	acc    [][]float64 // acc[k][(m%R)*width:] holds the squares' part of S^(k)_m
	acc32  [][]float32 // acc in float32, over a stream stored in float32
	R      int         // rows of the accumulator rings
	done   int         // the targets below done are consumed and their rows cleared
	levels []*fftLevel
	cols   [][]float64 // fftGroup gathered columns
	outs   [][]float64
	specs  [][]complex128
	prod   []complex128
}

// accRows returns the rows of an accumulator ring over targets 0..N. When
// Sum(m) computes a square [a, a+L) -> [a+L, a+2L) (a+L = m, or less when
// steps were skipped; the targets below m are dropped), every target still
// held lies in [m, min(N, m+L-1)]: within (N+1)/2+1 rows of m, since a
// square with L > (N+1)/2 is the first of its level and reaches only to
// N < 2L.
func accRows(N int) int { return min(N+1, (N+1)/2+2) }

func (h *fftHistory) Sum(dst [][]float64, m int) {
	w := h.width
	// Rows of targets before m will not be read: clear them for the
	// targets R later that share them.
	for ; h.done < min(m, h.N+1); h.done++ {
		r := h.done % h.R
		for _, a := range h.acc {
			clear(a[r*w : (r+1)*w])
		}
		for _, a := range h.acc32 {
			clear(a[r*w : (r+1)*w])
		}
	}
	for _, lv := range h.levels {
		for lv.next+lv.L <= m && lv.next+lv.L <= h.N {
			h.square(lv, lv.next, m)
			lv.next += 2 * lv.L
		}
	}
	base := (m / h.r) * h.r
	for k, d := range dst {
		if d == nil {
			continue
		}
		d = d[:w]
		switch {
		case m > h.N:
			clear(d)
		case h.acc32 != nil:
			r := m % h.R
			convert(d, h.acc32[k][r*w:(r+1)*w])
		default:
			r := m % h.R
			copy(d, h.acc[k][r*w:(r+1)*w])
		}
		h.sumRows(d, h.kernels[k], m, base, m, 0, true)
	}
}

// square adds the contributions of sources [a, a+L) to targets
// [max(a+L, cur), a+2L) ∩ [0, N]: per column, the circular convolution of
// length 2L of the sources with K holds them at indices L-1 .. 2L-2.
func (h *fftHistory) square(lv *fftLevel, a, cur int) {
	L, w := lv.L, h.width
	lo := max(a+L, cur)     // the first target still to be read
	hi := min(a+2*L, h.N+1) // one past the last target
	if lv.fft == nil {
		// Targets lo..hi-1 are rows p = lo-a-L.. of the Toeplitz block,
		// in at most two runs of contiguous ring rows.
		for t := lo; t < hi; {
			r := t % h.R
			rows := min(hi-t, h.R-r)
			p := t - a - L
			if h.values32 != nil {
				src := h.values32[a*w : (a+L)*w]
				for k, T := range lv.toeplitz32 {
					gemm.F32(false, false, rows, w, L, 1, T[p*L:(p+rows)*L], L, src, w, 1, h.acc32[k][r*w:(r+rows)*w], w)
				}
			} else {
				src := h.values[a*w : (a+L)*w]
				for k, T := range lv.toeplitz {
					gemm.F64(false, false, rows, w, L, 1, T[p*L:(p+rows)*L], L, src, w, 1, h.acc[k][r*w:(r+rows)*w], w)
				}
			}
			t += rows
		}
		return
	}
	n := 2 * L
	prod := h.prod[:L+1]
	scale := 1 / float64(n)
	// Columns go in groups of fftGroup, gathered and scattered in one
	// sweep over the rows, so each cache line of the row-major stream is
	// read once per group rather than once per column.
	for c0 := 0; c0 < w; c0 += fftGroup {
		g := min(fftGroup, w-c0)
		for q := 0; q < g; q++ {
			clear(h.cols[q][:n])
		}
		for i := 0; i < L; i++ {
			if h.values32 != nil {
				for q, v := range h.values32[(a+i)*w+c0 : (a+i)*w+c0+g] {
					h.cols[q][i] = float64(v)
				}
				continue
			}
			for q, v := range h.values[(a+i)*w+c0 : (a+i)*w+c0+g] {
				h.cols[q][i] = v
			}
		}
		for k, ks := range lv.spectra {
			for q := 0; q < g; q++ {
				if k == 0 {
					lv.fft.Coefficients(h.specs[q][:L+1], h.cols[q][:n])
				}
				spec := h.specs[q][:L+1]
				for i := range prod {
					prod[i] = spec[i] * ks[i]
				}
				lv.fft.Sequence(h.outs[q][:n], prod)
			}
			if h.acc32 != nil {
				acc := h.acc32[k]
				for m := lo; m < hi; m++ {
					r := m % h.R
					dst := acc[r*w+c0 : r*w+c0+g]
					for q := range dst {
						dst[q] += float32(scale * h.outs[q][m-a-1])
					}
				}
				continue
			}
			acc := h.acc[k]
			for m := lo; m < hi; m++ {
				r := m % h.R
				dst := acc[r*w+c0 : r*w+c0+g]
				for q := range dst {
					dst[q] += scale * h.outs[q][m-a-1]
				}
			}
		}
	}
}

// release hands the accumulators back to the buffer pools; the History
// must not be used afterwards.
func (h *fftHistory) release() {
	for _, a := range h.acc {
		putFloats(a)
	}
	for _, a := range h.acc32 {
		putFloats32(a)
	}
	h.acc, h.acc32 = nil, nil
}
