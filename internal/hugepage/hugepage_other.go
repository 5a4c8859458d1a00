//go:build !linux

package hugepage

import "unsafe"

// advise does nothing: this platform's huge pages are not requested per
// region.
func advise(unsafe.Pointer, uintptr) {}
