//go:build amd64 && !purego

package gemm

//go:generate python3 gen/genkern.py

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// kern6x16AVX2 is the AVX2+FMA 6×16 micro-kernel (see kernelF32).
//
//go:noescape
func kern6x16AVX2(k int, a, b *float32, bstride int, c *float32, ldc int, alpha, beta float32, load, rows int)

// kern8x32AVX512 is the AVX-512F 8×32 micro-kernel (see kernelF32).
//
//go:noescape
func kern8x32AVX512(k int, a, b *float32, bstride int, c *float32, ldc int, alpha, beta float32, load, rows int)

// kern6x8AVX2 is the AVX2+FMA 6×8 float64 micro-kernel (see kernel).
//
//go:noescape
func kern6x8AVX2(k int, a, b *float64, bstride int, c *float64, ldc int, alpha, beta float64, load, rows int)

// kern8x16AVX512 is the AVX-512F 8×16 float64 micro-kernel (see kernel).
//
//go:noescape
func kern8x16AVX512(k int, a, b *float64, bstride int, c *float64, ldc int, alpha, beta float64, load, rows int)

// transpose8AVX transposes 8 stored rows (stride ldb) of k8·8 values into
// k8·8 rows of 8 values at dst (row stride dstride). Needs AVX.
//
//go:noescape
func transpose8AVX(k8 int, src *float32, ldb int, dst *float32, dstride int)

// transpose4AVXPD transposes 4 stored rows (stride ldb) of k4·4 float64
// values into k4·4 rows of 4 values at dst (row stride dstride). Needs AVX.
//
//go:noescape
func transpose4AVXPD(k4 int, src *float64, ldb int, dst *float64, dstride int)

var (
	avx2Impl   = &impl32{name: "gofde-avx2", mr: 6, nr: 16, kc: 256, mc: 144, nc: 4096, kern: kern6x16AVX2, packT: packTAVX}
	avx512Impl = &impl32{name: "gofde-avx512", mr: 8, nr: 32, kc: 256, mc: 144, nc: 4096, kern: kern8x32AVX512, packT: packTAVX}

	avx2Impl64   = &impl64{name: "gofde-avx2", mr: 6, nr: 8, kc: 256, mc: 72, nc: 4096, kern: kern6x8AVX2, packT: packTAVX64}
	avx512Impl64 = &impl64{name: "gofde-avx512", mr: 8, nr: 16, kc: 256, mc: 72, nc: 4096, kern: kern8x16AVX512, packT: packTAVX64}
)

// packTAVX transposes rows stored rows (a multiple of 8) of k values
// (stride ldb) into k rows of rows values at dst, with row stride dstride.
func packTAVX(k int, src *float32, ldb int, dst *float32, dstride, rows int) bool {
	if rows%8 != 0 {
		return false
	}
	k8 := k &^ 7
	for g := 0; g < rows; g += 8 {
		s := unsafe.Add(unsafe.Pointer(src), g*ldb*4)
		d := unsafe.Add(unsafe.Pointer(dst), g*4)
		if k8 > 0 {
			transpose8AVX(k8/8, (*float32)(s), ldb, (*float32)(d), dstride)
		}
		if k8 == k {
			continue
		}
		out := unsafe.Slice((*float32)(d), (k-1)*dstride+8)
		for r := 0; r < 8; r++ {
			row := unsafe.Slice((*float32)(unsafe.Add(s, r*ldb*4)), k)
			for p := k8; p < k; p++ {
				out[p*dstride+r] = row[p]
			}
		}
	}
	return true
}

// packTAVX64 is packTAVX for float64 (rows a multiple of 4).
func packTAVX64(k int, src *float64, ldb int, dst *float64, dstride, rows int) bool {
	if rows%4 != 0 {
		return false
	}
	k4 := k &^ 3
	for g := 0; g < rows; g += 4 {
		s := unsafe.Add(unsafe.Pointer(src), g*ldb*8)
		d := unsafe.Add(unsafe.Pointer(dst), g*8)
		if k4 > 0 {
			transpose4AVXPD(k4/4, (*float64)(s), ldb, (*float64)(d), dstride)
		}
		if k4 == k {
			continue
		}
		out := unsafe.Slice((*float64)(d), (k-1)*dstride+4)
		for r := 0; r < 4; r++ {
			row := unsafe.Slice((*float64)(unsafe.Add(s, r*ldb*8)), k)
			for p := k4; p < k; p++ {
				out[p*dstride+r] = row[p]
			}
		}
	}
	return true
}

// best32 and best64 are the fastest native implementations for this CPU
// (the portable Go kernels where it has neither AVX2+FMA nor AVX-512).
var (
	best32 = pick32()
	best64 = pick64()
)

func pick64() *impl64 {
	switch {
	case cpu.X86.HasAVX512F:
		return avx512Impl64
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return avx2Impl64
	}
	return genericImpl64
}

func pick32() *impl32 {
	switch {
	case cpu.X86.HasAVX512F:
		return avx512Impl
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return avx2Impl
	}
	return genericImpl
}

// impls32 lists the native implementations this CPU can run (for tests and
// benchmarks).
func impls32() []*impl32 {
	l := []*impl32{genericImpl}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		l = append(l, avx2Impl)
	}
	if cpu.X86.HasAVX512F {
		l = append(l, avx512Impl)
	}
	return l
}

// impls64 lists the native float64 implementations this CPU can run.
func impls64() []*impl64 {
	l := []*impl64{genericImpl64}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		l = append(l, avx2Impl64)
	}
	if cpu.X86.HasAVX512F {
		l = append(l, avx512Impl64)
	}
	return l
}
