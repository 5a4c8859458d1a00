package scratch

import (
	"math/bits"
	"sync"
)

// SizeClass returns the index and the capacity of the size class of n ≥ 1
// values: the smallest 2^(k-1) + q·2^(k-3) ≥ n (q = 1..4) from n > 8 on,
// the next power of two below. The classes are four per octave, so a
// slice is rounded up by less than a quarter of its size where powers of
// two lose up to a half of the memory.
func SizeClass(n int) (idx, size int) {
	k := bits.Len(uint(n - 1)) // 2^(k-1) < n ≤ 2^k
	if n <= 8 {
		return 4 * k, 1 << k
	}
	half := 1 << (k - 1)
	step := half >> 2
	q := (n - half + step - 1) / step
	return 4*(k-1) + q, half + q*step
}

// A Pool recycles slices through size classes (SizeClass), one sync.Pool
// each. A single sync.Pool shared by requests of different sizes hands
// any slice to any Get, and a slice too small for its request becomes
// garbage: a convolution whose forward and backward passes ask for
// different sizes allocated afresh on most calls, and fresh memory costs
// a page fault per 4 KiB on first touch. Like any sync.Pool, a Pool drops
// what it holds over two garbage collections. The zero value is ready to
// use and safe for concurrent use.
type Pool[T any] struct {
	classes [4*bits.UintSize + 4]sync.Pool // *[]T of its class's capacity
}

// Get returns a slice of n elements whose contents are undefined, with
// the capacity of n's size class.
func (p *Pool[T]) Get(n int) *[]T {
	if n <= 0 {
		return new([]T)
	}
	idx, size := SizeClass(n)
	if idx >= len(p.classes) || size < n { // beyond the classes: n near the int range
		s := make([]T, n)
		return &s
	}
	if b, ok := p.classes[idx].Get().(*[]T); ok {
		*b = (*b)[:n]
		return b
	}
	s := make([]T, n, size)
	return &s
}

// Put hands b back for a later Get; the caller must not use *b
// afterwards. A slice whose capacity is not a class size (not from Get)
// is left to the garbage collector.
func (p *Pool[T]) Put(b *[]T) {
	c := cap(*b)
	if c == 0 {
		return
	}
	if idx, size := SizeClass(c); size == c && idx < len(p.classes) {
		p.classes[idx].Put(b)
	}
}
