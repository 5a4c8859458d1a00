package fode

import (
	"math"
	"math/bits"
	"sync"
)

// Large float64 buffers (grid states, field values, predictor iterates,
// adjoint streams) come from pools of size classes, so that a training
// loop that solves and differentiates the same shapes over and over reuses
// warm memory instead of allocating megabytes per solve: the allocation,
// the kernel's zeroing of fresh pages and the garbage collector's work
// were a third of a graph model's epoch. The classes are four per octave
// (2^k·{5/4, 3/2, 7/4, 2}), so a buffer is rounded up by less than a
// quarter of its size, where powers of two lost up to a half of the
// memory. Buffers below minPooled values are allocated as usual.
var minPooled = 1 << 12

var (
	floatPools   [4*bits.UintSize + 4]sync.Pool // *[]float64 of capacity sizeClass's size
	float32Pools [4*bits.UintSize + 4]sync.Pool // *[]float32, likewise
)

// sizeClass returns the pool index and the capacity of the class of n ≥ 1
// values: the smallest 2^(k-1) + q·2^(k-3) ≥ n (q = 1..4) from n > 8 on,
// the next power of two below.
func sizeClass(n int) (idx, size int) {
	k := bits.Len(uint(n - 1)) // 2^(k-1) < n ≤ 2^k
	if n <= 8 {
		return 4 * k, 1 << k
	}
	half := 1 << (k - 1)
	step := half >> 2
	q := (n - half + step - 1) / step
	return 4*(k-1) + q, half + q*step
}

// poisonRecycled makes getFloats fill the buffers it hands out with NaN,
// so that a test catches any read of a value the caller never wrote.
var poisonRecycled bool

// getFloats returns a buffer of n values whose contents are undefined: the
// caller writes every value before reading it.
func getFloats(n int) []float64 { return getBuf[float64](&floatPools, n) }

// getFloats32 is getFloats for float32 buffers (Options.StoreFloat32).
func getFloats32(n int) []float32 { return getBuf[float32](&float32Pools, n) }

// getBuf takes a buffer of n values from the pools of its size class.
func getBuf[T float32 | float64](pools *[4*bits.UintSize + 4]sync.Pool, n int) []T {
	if n < minPooled || n <= 0 {
		return make([]T, n)
	}
	c, size := sizeClass(n)
	var b []T
	if p, ok := pools[c].Get().(*[]T); ok {
		b = (*p)[:n]
	} else {
		b = make([]T, n, size)
	}
	if poisonRecycled {
		nan := T(math.NaN())
		for i := range b {
			b[i] = nan
		}
	}
	return b
}

// convert writes src into dst, rounded to float32 or widened to float64,
// and returns dst.
func convert[D, S float32 | float64](dst []D, src []S) []D {
	for i, x := range src {
		dst[i] = D(x)
	}
	return dst
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
func putFloats(b []float64) { putBuf(&floatPools, b) }

// putFloats32 is putFloats for buffers from getFloats32.
func putFloats32(b []float32) { putBuf(&float32Pools, b) }

func putBuf[T float32 | float64](pools *[4*bits.UintSize + 4]sync.Pool, b []T) {
	c := cap(b)
	if c < minPooled || c == 0 {
		return
	}
	idx, size := sizeClass(c)
	if size != c {
		return
	}
	b = b[:c]
	pools[idx].Put(&b)
}
