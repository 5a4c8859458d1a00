package fode

import (
	"math"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/gofde/gofde/internal/hugepage"
	"github.com/gofde/gofde/internal/scratch"
)

// Large float64 buffers (grid states, field values, predictor iterates,
// adjoint streams) come from pools of size classes, so that a training
// loop that solves and differentiates the same shapes over and over reuses
// warm memory instead of allocating megabytes per solve: the allocation,
// the kernel's zeroing of fresh pages and the garbage collector's work
// were a third of a graph model's epoch. The classes are four per octave
// (2^k·{5/4, 3/2, 7/4, 2}), so a buffer is rounded up by less than a
// quarter of its size, where powers of two lost up to a half of the
// memory (scratch.SizeClass). Buffers below minPooled values are
// allocated as usual.
var minPooled = 1 << 12

var (
	floatPools   scratch.Pool[float64]
	float32Pools scratch.Pool[float32]
)

// poisonRecycled makes getFloats fill the buffers it hands out with NaN,
// so that a test catches any read of a value the caller never wrote.
var poisonRecycled bool

// getFloats returns a buffer of n values whose contents are undefined: the
// caller writes every value before reading it.
func getFloats(n int) []float64 { return getBuf[float64](&floatPools, n) }

// getFloats32 is getFloats for float32 buffers (Options.StoreFloat32).
func getFloats32(n int) []float32 { return getBuf[float32](&float32Pools, n) }

// getBuf takes a buffer of n values from the pools of its size class.
func getBuf[T float32 | float64](pool *scratch.Pool[T], n int) []T {
	if n < minPooled || n <= 0 {
		return make([]T, n)
	}
	var b []T
	if n >= bigPooled {
		b = bigGet[T](n)
	} else {
		b = *pool.Get(n)
	}
	if poisonRecycled {
		nan := T(math.NaN())
		for i := range b {
			b[i] = nan
		}
	}
	return b
}

// cloneFloats returns a copy of x in a buffer from getFloats.
func cloneFloats(x []float64) []float64 {
	c := getFloats(len(x))
	copy(c, x)
	return c
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

func putBuf[T float32 | float64](pool *scratch.Pool[T], b []T) {
	c := cap(b)
	if c < minPooled || c == 0 {
		return
	}
	if c >= bigPooled {
		bigPut(b)
		return
	}
	b = b[:c]
	pool.Put(&b)
}

// Buffers of at least bigPooled values (32 MiB of float64) are allocated
// at their exact size and kept, once handed back, in a cache that
// survives garbage collections: sync.Pool drops its contents at every
// collection, and with a graph of a million nodes collections ran
// between a solve and its gradient, so every solve allocated its
// gigabytes afresh (and the garbage collector let the heap grow by as
// much again before it freed the old ones). A get takes the smallest
// cached buffer of at least the size asked and at most a quarter more; a
// cached buffer that no get has taken within bigKeepCycles collections
// and bigKeepTime (a heap held near a memory limit collects many times a
// second) is dropped at the next get or put, and at most bigKeep buffers
// are kept. FreeBuffers drops them all.
const (
	bigKeep       = 8
	bigKeepCycles = 8
)

var bigKeepTime = 5 * time.Minute

var bigPooled = 1 << 22

type bigEntry struct {
	f64 []float64
	f32 []float32
	gc  uint64    // the collection count when it was handed back
	at  time.Time // and the time
}

var big struct {
	sync.Mutex
	bufs []bigEntry
}

// gcCycles returns the number of completed garbage collections.
func gcCycles() uint64 {
	s := [1]metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// bigPurge drops the cached buffers unused for bigKeepCycles collections;
// big must be locked.
func bigPurge(now uint64) {
	kept := big.bufs[:0]
	for _, e := range big.bufs {
		if e.gc+bigKeepCycles >= now || time.Since(e.at) < bigKeepTime {
			kept = append(kept, e)
		}
	}
	clear(big.bufs[len(kept):])
	big.bufs = kept
}

func bigGet[T float32 | float64](n int) []T {
	now := gcCycles()
	big.Lock()
	bigPurge(now)
	best := -1
	for i, e := range big.bufs {
		c := 0
		if _, ok := any(e.f64).([]T); ok && e.f64 != nil {
			c = cap(e.f64)
		} else if _, ok := any(e.f32).([]T); ok && e.f32 != nil {
			c = cap(e.f32)
		}
		if c >= n && c <= n+n/4 && (best < 0 || c < bigCap(big.bufs[best])) {
			best = i
		}
	}
	var b []T
	if best >= 0 {
		e := big.bufs[best]
		big.bufs = append(big.bufs[:best], big.bufs[best+1:]...)
		if e.f64 != nil {
			b = any(e.f64).([]T)
		} else {
			b = any(e.f32).([]T)
		}
	}
	big.Unlock()
	if b == nil {
		return hugepage.Make[T](n)
	}
	return b[:n]
}

func bigCap(e bigEntry) int { return max(cap(e.f64), cap(e.f32)) }

func bigPut[T float32 | float64](b []T) {
	e := bigEntry{gc: gcCycles(), at: time.Now()}
	switch v := any(b[:cap(b)]).(type) {
	case []float64:
		e.f64 = v
	case []float32:
		e.f32 = v
	}
	big.Lock()
	bigPurge(e.gc)
	if len(big.bufs) == bigKeep {
		big.bufs = append(big.bufs[:0], big.bufs[1:]...)
	}
	big.bufs = append(big.bufs, e)
	big.Unlock()
}

// FreeBuffers drops the big buffers (tens of megabytes and more) that the
// package keeps for reuse by later solves and gradients once a solution
// is released, so that the garbage collector can return their memory. The
// package drops them by itself once they have not been reused for a few
// minutes and several collections; call it when a process is done with
// large solves and goes on to other work.
func FreeBuffers() {
	big.Lock()
	clear(big.bufs)
	big.bufs = big.bufs[:0]
	big.Unlock()
}
