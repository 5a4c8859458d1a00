package main

import (
	"syscall"
	"testing"
)

// TestMemoryLimit: the default heap limit is half of the
// machine's memory, more than the 256 MiB any test machine has.
func TestMemoryLimit(t *testing.T) {
	l := memoryLimit()
	if l < 256<<20 {
		t.Errorf("memory limit %d bytes", l)
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Skip(err)
	}
	if total := int64(si.Totalram) * int64(si.Unit); l > total {
		t.Errorf("limit %d above the machine's %d bytes", l, total)
	}
}
