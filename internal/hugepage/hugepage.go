// Package hugepage allocates large slices that the operating system may
// back with huge pages. A graph model of a million nodes touches gigabytes
// of fresh memory; with 4 KiB pages every first touch of a page is a page
// fault, and on a virtual machine those faults took more than a third of
// an epoch's wall time. On Linux, where transparent huge pages are enabled
// for regions that ask for them (the "madvise" setting), Make asks for
// them before the memory is first touched, so a 2 MiB page costs one
// fault instead of 512.
package hugepage

import "unsafe"

// minBytes is the size from which Make asks for huge pages: smaller
// slices hold few whole huge pages.
const minBytes = 8 << 20

// Make returns a zeroed slice of n elements, like make([]T, n). When the
// slice spans at least minBytes, the huge-page-aligned part of it is
// marked for huge pages where the platform supports it; elsewhere, or if
// the system refuses, it is an ordinary slice.
func Make[T any](n int) []T {
	s := make([]T, n)
	var z T
	if size := uintptr(n) * unsafe.Sizeof(z); n > 0 && size >= minBytes {
		advise(unsafe.Pointer(&s[0]), size)
	}
	return s
}
