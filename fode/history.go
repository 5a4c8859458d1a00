package fode

import (
	"fmt"

	"gonum.org/v1/gonum/floats"
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

// addRow adds w times stream row j into d.
func (r *rowStore) addRow(d []float64, w float64, j int) {
	d = d[:r.width]
	if r.values32 == nil {
		floats.AddScaled(d, w, r.values[j*r.width:(j+1)*r.width])
		return
	}
	x := r.row32(j)
	i := 0
	for ; i+4 <= len(d); i += 4 {
		dd, xx := d[i:i+4:i+4], x[i:i+4:i+4]
		dd[0] += w * float64(xx[0])
		dd[1] += w * float64(xx[1])
		dd[2] += w * float64(xx[2])
		dd[3] += w * float64(xx[3])
	}
	for ; i < len(d); i++ {
		d[i] += w * float64(x[i])
	}
}

// addRows adds Σ_{lo≤j<hi} w[m-j] v_j into d, skipping zero weights: row
// by row over a float64 stream, two rows at a time over a float32 one.
func (r *rowStore) addRows(d []float64, w []float64, m, lo, hi int) {
	if r.values32 == nil {
		for j := lo; j < hi; j++ {
			if c := w[m-j]; c != 0 {
				r.addRow(d, c, j)
			}
		}
		return
	}
	pend := -1 // a row with a nonzero weight waiting for its pair
	for j := lo; j < hi; j++ {
		if w[m-j] == 0 {
			continue
		}
		if pend < 0 {
			pend = j
			continue
		}
		addRows32(d[:r.width], w[m-pend], r.row32(pend), w[m-j], r.row32(j))
		pend = -1
	}
	if pend >= 0 {
		r.addRow(d, w[m-pend], pend)
	}
}

func (r *rowStore) row32(j int) []float32 { return r.values32[j*r.width : (j+1)*r.width] }

// addRows32 adds a·x + b·y into d, widening x and y to float64.
func addRows32(d []float64, a float64, x []float32, b float64, y []float32) {
	x, y = x[:len(d)], y[:len(d)]
	i := 0
	for ; i+4 <= len(d); i += 4 {
		dd, xx, yy := d[i:i+4:i+4], x[i:i+4:i+4], y[i:i+4:i+4]
		dd[0] += a*float64(xx[0]) + b*float64(yy[0])
		dd[1] += a*float64(xx[1]) + b*float64(yy[1])
		dd[2] += a*float64(xx[2]) + b*float64(yy[2])
		dd[3] += a*float64(xx[3]) + b*float64(yy[3])
	}
	for ; i < len(d); i++ {
		d[i] += a*float64(x[i]) + b*float64(y[i])
	}
}

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

func (h *directHistory) Sum(dst [][]float64, m int) {
	for _, d := range dst {
		if d != nil {
			clear(d[:h.width])
		}
	}
	if h.values32 != nil {
		for k, d := range dst {
			if d != nil {
				h.addRows(d, h.kernels[k], m, max(0, m-h.reach), m)
			}
		}
		return
	}
	// One pass over the stream serves every kernel, so each row is read
	// from memory once per call.
	for j := max(0, m-h.reach); j < m; j++ {
		for k, d := range dst {
			if d == nil {
				continue
			}
			if w := h.kernels[k][m-j]; w != 0 {
				h.addRow(d, w, j)
			}
		}
	}
}
