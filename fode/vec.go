package fode

import (
	"sync"

	"github.com/gofde/gofde/internal/finite"
	"github.com/gofde/gofde/internal/par"
	"github.com/gofde/gofde/internal/vec"
)

// The solver's passes over a long state (a graph's nodes × features) run
// on all cores and on the vector kernels of internal/vec. Conversions
// between float32 and float64, the widening history sums over float32
// streams and the finiteness checks were bound by scalar arithmetic, not
// by memory, and ran about twice as fast on two cores; the plain vector
// adds stay on one core, where memory bounds them.

// splitMin is the length from which split divides a pass between cores:
// below it a goroutine hand-off costs more than the pass.
const splitMin = 1 << 16

// split runs body over [0, n), at least splitMin long, in one piece per
// core. A closure handed to split is allocated, so callers run shorter
// passes themselves.
func split(n int, body func(lo, hi int)) {
	par.For(n, par.Pieces(n, splitMin/2), func(_, lo, hi int) { body(lo, hi) })
}

// convert writes src converted to dst's element type into dst and returns
// dst.
func convert[D, S float32 | float64](dst []D, src []S) []D {
	if len(src) < splitMin {
		convertSerial(dst, src)
	} else {
		split(len(src), func(lo, hi int) { convertSerial(dst[lo:hi], src[lo:hi]) })
	}
	return dst
}

func convertSerial[D, S float32 | float64](dst []D, src []S) {
	switch s := any(src).(type) {
	case []float64:
		if d, ok := any(dst).([]float32); ok {
			vec.Narrow(d, s)
			return
		}
	case []float32:
		if d, ok := any(dst).([]float64); ok {
			vec.Widen(d, s)
			return
		}
	}
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = D(x)
	}
}

// firstNonFinite returns the index of the first NaN or ±Inf in x, or -1.
func firstNonFinite(x []float64) int {
	if len(x) < splitMin {
		return finite.First(x)
	}
	first := -1
	var mu sync.Mutex
	split(len(x), func(lo, hi int) {
		if i := finite.First(x[lo:hi]); i >= 0 {
			mu.Lock()
			if first < 0 || lo+i < first {
				first = lo + i
			}
			mu.Unlock()
		}
	})
	return first
}

// maxAbsFinite returns the index of the first NaN or ±Inf in x, or -1 when
// there is none, and, when there is none, the largest magnitude |x|∞.
func maxAbsFinite(x []float64) (int, float64) {
	if len(x) < splitMin {
		return maxAbsFiniteSerial(x)
	}
	first, m := -1, 0.0
	var mu sync.Mutex
	split(len(x), func(lo, hi int) {
		i, a := maxAbsFiniteSerial(x[lo:hi])
		mu.Lock()
		if i >= 0 && (first < 0 || lo+i < first) {
			first = lo + i
		}
		m = max(m, a)
		mu.Unlock()
	})
	if first >= 0 {
		return first, 0
	}
	return -1, m
}

// maxAbsFiniteSerial is maxAbsFinite on one core.
func maxAbsFiniteSerial(x []float64) (int, float64) {
	if ok, m := vec.MaxAbsFinite(x); ok {
		return -1, m
	}
	return finite.First(x), 0
}

// firstNonFinite32 is firstNonFinite for a float32 row.
func firstNonFinite32(x []float32) int {
	if len(x) < splitMin {
		return firstNonFinite32Serial(x)
	}
	first := -1
	var mu sync.Mutex
	split(len(x), func(lo, hi int) {
		if i := firstNonFinite32Serial(x[lo:hi]); i >= 0 {
			mu.Lock()
			if first < 0 || lo+i < first {
				first = lo + i
			}
			mu.Unlock()
		}
	})
	return first
}

func firstNonFinite32Serial(x []float32) int {
	for i, v := range x {
		if v-v != 0 { // NaN or ±Inf
			return i
		}
	}
	return -1
}

// maxAbs32 returns |x|∞ of a finite float32 row.
func maxAbs32(x []float32) float64 {
	var m float32
	for _, v := range x {
		m = max(m, v, -v)
	}
	return float64(m)
}

// addScaled32 adds c·x to dst, widening x's float32 values.
func addScaled32(dst []float64, c float64, x []float32) {
	if len(dst) < splitMin {
		vec.Rows32(dst, c, x, 0, x, true)
		return
	}
	split(len(dst), func(lo, hi int) { vec.Rows32(dst[lo:hi], c, x[lo:hi], 0, x[lo:hi], true) })
}
