package hugepage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugeSize is the size of a transparent huge page on the platforms Linux
// runs this package on (x86-64 and arm64 with 4 KiB base pages).
const hugeSize = 2 << 20

// advise marks the whole huge pages inside [p, p+size) with MADV_HUGEPAGE.
// An error (no transparent huge pages in this kernel) leaves the memory
// as it is.
func advise(p unsafe.Pointer, size uintptr) {
	a := uintptr(p)
	skip := (hugeSize - a%hugeSize) % hugeSize // to the first huge page boundary
	if size < skip+hugeSize {
		return
	}
	n := (size - skip) &^ (hugeSize - 1)
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, skip)), n), unix.MADV_HUGEPAGE)
}
