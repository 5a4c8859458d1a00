// Package scratch keeps one large scratch slice for reuse from one call to
// the next. Unlike a sync.Pool, whose contents every garbage collection
// drops, a Buffer keeps its slice while its owner lives: a graph model of a
// million nodes converts hundreds of megabytes per field evaluation, and
// a slice allocated afresh each time costs the kernel's page faults on
// every one of its pages.
package scratch

import (
	"sync"

	"github.com/gofde/gofde/internal/hugepage"
)

// A Buffer holds at most one slice between a Get and the Put that hands
// it back. The zero value is ready to use; it is safe for concurrent use,
// and a Get while the slice is out allocates a new one.
type Buffer[T any] struct {
	mu  sync.Mutex
	buf []T
}

// Get returns a slice of n elements whose contents are undefined: the
// kept slice when it is free and large enough, a new one otherwise.
func (b *Buffer[T]) Get(n int) []T {
	b.mu.Lock()
	s := b.buf
	if cap(s) >= n {
		b.buf = nil
	}
	b.mu.Unlock()
	if cap(s) >= n {
		return s[:n]
	}
	return hugepage.Make[T](n)
}

// Put hands s back for the next Get; the caller must not use it
// afterwards. The Buffer keeps the larger of s and the slice it holds.
func (b *Buffer[T]) Put(s []T) {
	b.mu.Lock()
	if cap(s) > cap(b.buf) {
		b.buf = s
	}
	b.mu.Unlock()
}
