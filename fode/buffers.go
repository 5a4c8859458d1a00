package fode

import (
	"math"
	"math/bits"
	"sync"
)

// Large float64 buffers (grid states, field values, predictor iterates,
// adjoint streams) come from pools of power-of-two capacities, so that a
// training loop that solves and differentiates the same shapes over and
// over reuses warm memory instead of allocating megabytes per solve: the
// allocation, the kernel's zeroing of fresh pages and the garbage
// collector's work were a third of a graph model's epoch. Buffers below
// minPooled values are allocated as usual.
var minPooled = 1 << 12

var floatPools [bits.UintSize]sync.Pool // *[]float64 of capacity 1<<class

// poisonRecycled makes getFloats fill the buffers it hands out with NaN,
// so that a test catches any read of a value the caller never wrote.
var poisonRecycled bool

// getFloats returns a buffer of n values whose contents are undefined: the
// caller writes every value before reading it.
func getFloats(n int) []float64 {
	if n < minPooled {
		return make([]float64, n)
	}
	c := bits.Len(uint(n - 1))
	var b []float64
	if p, ok := floatPools[c].Get().(*[]float64); ok {
		b = (*p)[:n]
	} else {
		b = make([]float64, n, 1<<c)
	}
	if poisonRecycled {
		for i := range b {
			b[i] = math.NaN()
		}
	}
	return b
}

// getZeroed returns a buffer of n zeros.
func getZeroed(n int) []float64 {
	b := getFloats(n)
	clear(b)
	return b
}

// putFloats hands a buffer from getFloats back for reuse; the caller must
// not use it afterwards. Buffers of other origins are left to the
// garbage collector.
func putFloats(b []float64) {
	c := cap(b)
	if c < minPooled || c&(c-1) != 0 {
		return
	}
	b = b[:c]
	floatPools[bits.Len(uint(c-1))].Put(&b)
}
