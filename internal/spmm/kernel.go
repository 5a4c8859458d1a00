package spmm

import (
	"runtime"
	"sort"
	"sync"

	"github.com/gofde/gofde/internal/vec"
)

// Float is the element type of the kernels.
type Float interface{ float32 | float64 }

// parallelWork is the product size (entries × columns) from which a
// product is split across the cores: below it a goroutine's start-up
// costs more than it saves.
const parallelWork = 1 << 15

// maxBlocks bounds the row blocks of one product.
const maxBlocks = 64

// spmmJob is one parallel product: its arguments and the row bounds of
// its blocks. Jobs are pooled so that a product allocates nothing.
type spmmJob[E Float] struct {
	wg          sync.WaitGroup
	dst, val, x []E
	ptr, col    []int
	d           int
	add         bool
	bounds      [maxBlocks + 1]int
}

var (
	jobs32 = sync.Pool{New: func() any { return new(spmmJob[float32]) }}
	jobs64 = sync.Pool{New: func() any { return new(spmmJob[float64]) }}
)

func jobPool[E Float]() *sync.Pool {
	var z E
	if _, ok := any(z).(float32); ok {
		return &jobs32
	}
	return &jobs64
}

func (j *spmmJob[E]) run(b int) {
	spmmRows(j.dst, j.ptr, j.col, j.val, j.x, j.d, j.bounds[b], j.bounds[b+1], j.add)
	j.wg.Done()
}

// rowBlocks splits the rows of ptr into at most len(bounds)-1 blocks of
// about equal work (entries + rows), writes their bounds and returns the
// number of blocks.
func rowBlocks(bounds []int, ptr []int, blocks int) int {
	rows := len(ptr) - 1
	blocks = max(1, min(blocks, rows, len(bounds)-1))
	total := ptr[rows] + rows
	bounds[0] = 0
	for b := 1; b < blocks; b++ {
		target := total / blocks * b
		lo := bounds[b-1]
		bounds[b] = lo + sort.Search(rows-lo, func(i int) bool { return ptr[lo+i]+lo+i >= target })
	}
	bounds[blocks] = rows
	return blocks
}

// Product computes dst = A X (dst += A X with add) for the CSR arrays
// ptr, col, val of an r × c matrix A and the row-major c × d matrix x,
// into the row-major r × d dst, on all cores when the product is large
// enough. It allocates nothing. The arrays must form a valid CSR matrix
// (see the package doc) whose column indices are rows of x.
func Product[E Float](dst []E, ptr, col []int, val, x []E, d int, add bool) {
	rows := len(ptr) - 1
	procs := runtime.GOMAXPROCS(0)
	if procs == 1 || rows < 2 || ptr[rows]*d < parallelWork {
		spmmRows(dst, ptr, col, val, x, d, 0, rows, add)
		return
	}
	pool := jobPool[E]()
	j := pool.Get().(*spmmJob[E])
	j.dst, j.ptr, j.col, j.val, j.x, j.d, j.add = dst, ptr, col, val, x, d, add
	nb := rowBlocks(j.bounds[:], ptr, 2*procs)
	j.wg.Add(nb - 1)
	for b := 1; b < nb; b++ {
		go j.run(b)
	}
	spmmRows(dst, ptr, col, val, x, d, j.bounds[0], j.bounds[1], add)
	j.wg.Wait()
	j.dst, j.val, j.x, j.ptr, j.col = nil, nil, nil, nil, nil
	pool.Put(j)
}

// spmmRows computes rows [lo, hi) of A X into dst (adds them with add).
func spmmRows[E Float](dst []E, ptr, col []int, val, x []E, d, lo, hi int, add bool) {
	// float32 rows go through the vector kernel where there is one.
	dst32, is32 := any(dst).([]float32)
	var x32, val32 []float32
	if is32 {
		x32, val32 = any(x).([]float32), any(val).([]float32)
	}
	for i := lo; i < hi; i++ {
		out := dst[i*d : (i+1)*d]
		cs := col[ptr[i]:ptr[i+1]]
		vs := val[ptr[i]:ptr[i+1]]
		vs = vs[:len(cs)]
		j0 := 0
		if is32 {
			j0 = gatherRow32(dst32[i*d:(i+1)*d], x32, d, cs, val32[ptr[i]:ptr[i+1]], add)
		}
		for ; j0+8 <= d; j0 += 8 {
			var a0, a1, a2, a3, a4, a5, a6, a7 E
			for q, c := range cs {
				v := vs[q]
				xr := x[c*d+j0:]
				xr = xr[:8]
				a0 += v * xr[0]
				a1 += v * xr[1]
				a2 += v * xr[2]
				a3 += v * xr[3]
				a4 += v * xr[4]
				a5 += v * xr[5]
				a6 += v * xr[6]
				a7 += v * xr[7]
			}
			o := out[j0:]
			o = o[:8]
			if add {
				o[0] += a0
				o[1] += a1
				o[2] += a2
				o[3] += a3
				o[4] += a4
				o[5] += a5
				o[6] += a6
				o[7] += a7
			} else {
				o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = a0, a1, a2, a3, a4, a5, a6, a7
			}
		}
		for ; j0 < d; j0++ {
			var a E
			for q, c := range cs {
				a += vs[q] * x[c*d+j0]
			}
			if add {
				out[j0] += a
			} else {
				out[j0] = a
			}
		}
	}
}

// maxRowStack is the widest row diffuseRows32 accumulates on its stack for
// the vector kernel; wider states take the portable loop.
const maxRowStack = 1024

// diffuseJob computes dst = A x - x in float32 arithmetic for a float64
// state x: the rows of x are rounded to float32 (first phase, all blocks),
// then each block gathers the float32 rows and writes A x - x in float64
// (into dst), or in float32 (into dst32 when dst is nil).
type diffuseJob struct {
	wg       sync.WaitGroup
	dst, x   []float64
	dst32    []float32
	x32, val []float32
	ptr, col []int
	d        int
	bounds   [maxBlocks + 1]int
}

var diffuseJobs = sync.Pool{New: func() any { return new(diffuseJob) }}

func (j *diffuseJob) narrowBlock(b int) {
	lo, hi := j.bounds[b]*j.d, j.bounds[b+1]*j.d
	vec.Narrow(j.x32[lo:hi], j.x[lo:hi])
	j.wg.Done()
}

func (j *diffuseJob) diffuseBlock(b int) {
	if j.dst == nil {
		diffuseRowsTo32(j.dst32, j.ptr, j.col, j.val, j.x32, j.d, j.bounds[b], j.bounds[b+1])
	} else {
		diffuseRows32(j.dst, j.ptr, j.col, j.val, j.x32, j.x, j.d, j.bounds[b], j.bounds[b+1])
	}
	j.wg.Done()
}

// Diffuse32 computes dst = A x - x for one row-major n × d state x of a
// square n × n matrix A given by the CSR arrays ptr, col, val, with the
// product in float32 (val holds A's values in float32): x is rounded to
// float32, A's rows are summed in float32 and the result is widened to
// float64 before x is subtracted, with x32 (n·d values) as the scratch
// for the rounded x. It runs on all cores when the product is large enough
// and allocates nothing. The arrays must form a valid CSR matrix (see the
// package doc), and dst and x hold n·d values.
func Diffuse32(dst []float64, ptr, col []int, val []float32, x []float64, x32 []float32, d int) {
	diffuse32(dst, nil, ptr, col, val, x, x32, d)
}

// DiffuseTo32 is Diffuse32 with the result in float32: dst = A x32 -
// x32, where x32 is x rounded, all in float32 arithmetic, for a caller
// that stores the result in float32 anyway.
func DiffuseTo32(dst []float32, ptr, col []int, val []float32, x []float64, x32 []float32, d int) {
	diffuse32(nil, dst, ptr, col, val, x, x32, d)
}

func diffuse32(dst []float64, dst32 []float32, ptr, col []int, val []float32, x []float64, x32 []float32, d int) {
	j := diffuseJobs.Get().(*diffuseJob)
	j.dst, j.dst32, j.x, j.x32, j.val, j.ptr, j.col, j.d = dst, dst32, x, x32[:len(x)], val, ptr, col, d
	nb := 1
	if procs := runtime.GOMAXPROCS(0); procs > 1 && len(ptr) > 2 && ptr[len(ptr)-1]*d >= parallelWork {
		nb = rowBlocks(j.bounds[:], ptr, 2*procs)
	} else {
		j.bounds[0], j.bounds[1] = 0, len(ptr)-1
	}
	for _, phase := range []func(*diffuseJob, int){(*diffuseJob).narrowBlock, (*diffuseJob).diffuseBlock} {
		j.wg.Add(nb)
		for b := 1; b < nb; b++ {
			go phase(j, b)
		}
		phase(j, 0)
		j.wg.Wait()
	}
	j.dst, j.dst32, j.x, j.x32, j.val, j.ptr, j.col = nil, nil, nil, nil, nil, nil, nil
	diffuseJobs.Put(j)
}

// diffuseRowsTo32 writes rows [lo, hi) of A x32 - x32 into dst.
func diffuseRowsTo32(dst []float32, ptr, col []int, val, x32 []float32, d, lo, hi int) {
	for i := lo; i < hi; i++ {
		out := dst[i*d : (i+1)*d]
		xi := x32[i*d : (i+1)*d]
		xi = xi[:len(out)]
		cs := col[ptr[i]:ptr[i+1]]
		vs := val[ptr[i]:ptr[i+1]]
		vs = vs[:len(cs)]
		j0 := gatherRow32(out, x32, d, cs, vs, false)
		for k := sub32(out[:j0], xi[:j0]); k < j0; k++ {
			out[k] -= xi[k]
		}
		for ; j0 < d; j0++ {
			var a float32
			for q, c := range cs {
				a += vs[q] * x32[c*d+j0]
			}
			out[j0] = a - xi[j0]
		}
	}
}

// diffuseRows32 writes rows [lo, hi) of A x32 - x into dst.
func diffuseRows32(dst []float64, ptr, col []int, val, x32 []float32, x []float64, d, lo, hi int) {
	var acc []float32 // one output row in float32, for the vector kernel
	if hasAVX2 && d >= 8 && d <= maxRowStack {
		var buf [maxRowStack]float32
		acc = buf[:d]
	}
	for i := lo; i < hi; i++ {
		out := dst[i*d : (i+1)*d]
		xi := x[i*d : (i+1)*d]
		xi = xi[:len(out)]
		cs := col[ptr[i]:ptr[i+1]]
		vs := val[ptr[i]:ptr[i+1]]
		vs = vs[:len(cs)]
		j0 := 0
		if acc != nil {
			// Vector kernel: A x32 into the float32 row acc, then
			// widened and x subtracted in float64.
			if j0 = gatherRow32(acc, x32, d, cs, vs, false); j0 > 0 {
				j0 = widenSub32(out[:j0], acc[:j0], xi[:j0])
			}
		}
		for ; j0+8 <= d; j0 += 8 {
			var a0, a1, a2, a3, a4, a5, a6, a7 float32
			for q, c := range cs {
				v := vs[q]
				xr := x32[c*d+j0:]
				xr = xr[:8]
				a0 += v * xr[0]
				a1 += v * xr[1]
				a2 += v * xr[2]
				a3 += v * xr[3]
				a4 += v * xr[4]
				a5 += v * xr[5]
				a6 += v * xr[6]
				a7 += v * xr[7]
			}
			o, s := out[j0:], xi[j0:]
			o, s = o[:8], s[:8]
			o[0] = float64(a0) - s[0]
			o[1] = float64(a1) - s[1]
			o[2] = float64(a2) - s[2]
			o[3] = float64(a3) - s[3]
			o[4] = float64(a4) - s[4]
			o[5] = float64(a5) - s[5]
			o[6] = float64(a6) - s[6]
			o[7] = float64(a7) - s[7]
		}
		for ; j0 < d; j0++ {
			var a float32
			for q, c := range cs {
				a += vs[q] * x32[c*d+j0]
			}
			out[j0] = float64(a) - xi[j0]
		}
	}
}
