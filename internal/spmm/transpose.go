package spmm

import (
	"runtime"
	"sync"
)

// TransProduct computes dst = Aᵀ g for the CSR arrays ptr, col, val of an
// r × c matrix A and the row-major r × d matrix g, into the row-major
// c × d dst (overwritten): row blocks of A scatter into per-block partial
// sums on all cores, which are added up at the end. The arrays must form
// a valid CSR matrix (see the package doc) whose column indices are rows
// of dst.
func TransProduct[E Float](dst []E, ptr, col []int, val, g []E, d int) {
	rows := len(ptr) - 1
	clear(dst)
	procs := runtime.GOMAXPROCS(0)
	if procs == 1 || rows < 2 || ptr[rows]*d < parallelWork {
		scatterRows(dst, ptr, col, val, g, d, 0, rows)
		return
	}
	var bounds [maxBlocks + 1]int
	nb := rowBlocks(bounds[:], ptr, procs)
	parts := make([][]E, nb)
	var wg sync.WaitGroup
	for b := 1; b < nb; b++ {
		parts[b] = make([]E, len(dst))
		wg.Add(1)
		go func(b int) {
			defer wg.Done()
			scatterRows(parts[b], ptr, col, val, g, d, bounds[b], bounds[b+1])
		}(b)
	}
	scatterRows(dst, ptr, col, val, g, d, bounds[0], bounds[1])
	wg.Wait()
	for b := 1; b < nb; b++ {
		for i, v := range parts[b] {
			dst[i] += v
		}
	}
}

// scatterRows adds A[lo:hi]ᵀ g[lo:hi] into dst.
func scatterRows[E Float](dst []E, ptr, col []int, val, g []E, d, lo, hi int) {
	for i := lo; i < hi; i++ {
		gr := g[i*d : (i+1)*d]
		for k := ptr[i]; k < ptr[i+1]; k++ {
			v := val[k]
			out := dst[col[k]*d : (col[k]+1)*d]
			out = out[:len(gr)]
			for j, e := range gr {
				out[j] += v * e
			}
		}
	}
}
