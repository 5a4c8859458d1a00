// Package par splits a loop over [0, n) into contiguous pieces that run on
// all cores: the one mechanism behind the solver's passes over long states
// and the element-wise Gorgonia ops.
package par

import (
	"runtime"
	"sync"
)

// Pieces returns how many pieces a loop over n units should be split into
// when each piece is to hold at least least units: 1 for a small loop, at
// most GOMAXPROCS.
func Pieces(n, least int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n/max(1, least)))
}

// For calls body(k, lo, hi) for k = 0..p-1 on contiguous ranges that cover
// [0, n), each on its own goroutine but the first, which runs on the
// caller's, and returns when all are done. With p ≤ 1 it is one call,
// body(0, 0, n). The ranges are disjoint, so bodies that write only their
// own range need no locking.
func For(n, p int, body func(k, lo, hi int)) {
	if p <= 1 || n <= 1 {
		body(0, 0, n)
		return
	}
	p = min(p, n)
	var wg sync.WaitGroup
	for k := 1; k < p; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(k, k*n/p, (k+1)*n/p)
		}()
	}
	body(0, 0, n/p)
	wg.Wait()
}
