//go:build linux

package main

import (
	"math"
	"syscall"
)

// memoryLimit returns the soft limit the Go heap is held to unless
// $GOMEMLIMIT says otherwise: half of the machine's memory
// (0 when it cannot be read). Without a limit the collector lets the heap
// grow to twice what is live, which on a million-node graph is more than
// the machine has; with it, the heap is collected harder as it nears the
// limit instead.
func memoryLimit() int64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	total := uint64(si.Totalram) * uint64(si.Unit)
	return int64(min(total/2, math.MaxInt64))
}
