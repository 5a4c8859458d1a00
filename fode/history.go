package fode

import (
	"fmt"

	"gonum.org/v1/gonum/floats"

	"github.com/gofde/gofde/internal/vec"
)

// A History computes the weighted history sums that every fractional scheme
// is made of. Over a stream of row vectors v_0, v_1, ... (each of the
// width given at creation) and kernels w^(k) indexed by the lag, it returns
//
//	S^(k)_m = Σ_{j<m} w^(k)_{m-j} v_j.
//
// The schemes differ only in their kernels and in which stream they sum
// (field values f_j or states y_j); the discrete adjoint uses the same sums
// on the time-reversed stream of cotangents. Implementations may assume that
// Sum is called with non-decreasing m and that v_0..v_{m-1} are final when
// Sum(·, m) is called, which lets a fast engine reuse partial sums.
type History interface {
	// Sum writes S^(k)_m into dst[k] for every k with dst[k] != nil.
	Sum(dst [][]float64, m int)
}

// A HistoryEngine creates Histories. Solve takes one through
// Options.History, so a faster algorithm replaces the direct sums without
// any change to the schemes.
type HistoryEngine interface {
	// NewHistory returns a History over the stream stored row-major in
	// values (row j at values[j*width:(j+1)*width]), with the given
	// kernels (kernels[k][L] is the weight of lag L; lag 0 is never used).
	// The History reads values as the caller fills it in.
	NewHistory(kernels [][]float64, values []float64, width int) History
	// String names the engine.
	String() string
}

// Direct is the HistoryEngine that evaluates every sum term by term:
// O(m·width) work per sum, O(N²·width) per solve, and no memory beyond the
// stream itself.
var Direct HistoryEngine = directEngine{}

type directEngine struct{}

func (directEngine) String() string { return "direct" }

func (directEngine) NewHistory(kernels [][]float64, values []float64, width int) History {
	return &directHistory{kernels: kernels, rowStore: rowStore{values: values, width: width}, reach: kernelReach(kernels)}
}

type directHistory struct {
	kernels [][]float64
	rowStore
	reach int // the largest lag with a nonzero weight
}

// rowStore is the stream a History sums over, row j at [j*width, (j+1)*width)
// of values, or of values32 when it is stored in float32 (values nil).
type rowStore struct {
	values   []float64
	values32 []float32
	width    int
}

// sumRows writes Σ_{lo≤j<hi} w[m-j] v_j into d (adds it with add), for
// the columns [c, c+len(d)) of the rows, skipping zero weights: row by row
// over a float64 stream, two rows at a time over a float32 one.
func (r *rowStore) sumRows(d, w []float64, m, lo, hi, c int, add bool) {
	if r.values32 == nil {
		for j := lo; j < hi; j++ {
			a := w[m-j]
			if a == 0 {
				continue
			}
			x := r.values[j*r.width+c:][:len(d)]
			if add {
				floats.AddScaled(d, a, x)
			} else {
				floats.ScaleTo(d, a, x)
			}
			add = true
		}
	} else {
		pend := -1 // a row with a nonzero weight waiting for its pair
		for j := lo; j < hi; j++ {
			if w[m-j] == 0 {
				continue
			}
			if pend < 0 {
				pend = j
				continue
			}
			vec.Rows32(d, w[m-pend], r.row32(pend, c, len(d)), w[m-j], r.row32(j, c, len(d)), add)
			pend, add = -1, true
		}
		if pend >= 0 {
			x := r.row32(pend, c, len(d))
			vec.Rows32(d, w[m-pend], x, 0, x, add)
			add = true
		}
	}
	if !add {
		clear(d)
	}
}

// row32 returns columns [c, c+n) of row j of a float32 stream.
func (r *rowStore) row32(j, c, n int) []float32 { return r.values32[j*r.width+c:][:n] }

// newHistory32 returns a History of one of the package's engines over a
// stream stored in float32 (Options.StoreFloat32). The sums it returns are
// float64; the FFT engine keeps its partial sums (the squares'
// contributions) in float32, as the stream.
func newHistory32(e HistoryEngine, kernels [][]float64, values []float32, width int) (History, error) {
	switch e := e.(type) {
	case autoEngine:
		return newHistory32(e.pick(kernels, width), kernels, values, width)
	case directEngine:
		return &directHistory{kernels: kernels, rowStore: rowStore{values32: values, width: width}, reach: kernelReach(kernels)}, nil
	case fftEngine:
		return e.newFFT(kernels, nil, values, width), nil
	}
	return nil, fmt.Errorf("fode: float32 storage needs the direct, fft or auto history engine, not %v", e)
}

// kernelReach returns the largest lag at which any kernel has a nonzero
// weight: the memory of a short-memory scheme, whose sums then cost
// O(reach) per step instead of O(m).
func kernelReach(kernels [][]float64) int {
	r := 0
	for _, w := range kernels {
		for L := len(w) - 1; L > r; L-- {
			if w[L] != 0 {
				r = L
				break
			}
		}
	}
	return r
}

// Sum splits the columns between the cores (see split).
func (h *directHistory) Sum(dst [][]float64, m int) {
	if h.width < splitMin {
		h.sumCols(dst, m, 0, h.width)
		return
	}
	split(h.width, func(c0, c1 int) { h.sumCols(dst, m, c0, c1) })
}

// sumCols writes the columns [c0, c1) of the sums.
func (h *directHistory) sumCols(dst [][]float64, m, c0, c1 int) {
	lo := max(0, m-h.reach)
	if h.values32 != nil {
		for k, d := range dst {
			if d != nil {
				h.sumRows(d[c0:c1], h.kernels[k], m, lo, m, c0, false)
			}
		}
		return
	}
	// One pass over the stream serves every kernel, so each row is read
	// from memory once per call.
	for _, d := range dst {
		if d != nil {
			clear(d[c0:c1])
		}
	}
	for j := lo; j < m; j++ {
		x := h.values[j*h.width+c0 : j*h.width+c1]
		for k, d := range dst {
			if d == nil {
				continue
			}
			if w := h.kernels[k][m-j]; w != 0 {
				floats.AddScaled(d[c0:c1], w, x)
			}
		}
	}
}
