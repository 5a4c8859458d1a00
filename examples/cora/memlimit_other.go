//go:build !linux

package main

// memoryLimit returns 0 (no limit) where the machine's memory is not
// read: the Go default applies.
func memoryLimit() int64 { return 0 }
