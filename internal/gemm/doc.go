// Package gemm provides fast row-major general matrix multiplication
// (C = alpha·op(A)·op(B) + beta·C) for the library's neural-network kernels:
// convolutions (Shifted: sums of products over shifted views of padded
// planes) and dense layers.
//
// The package is internal: callers are the library's own kernels, which
// guarantee valid dimensions, strides and slice lengths. Arguments are
// checked once per call (cheaply) and violations panic with a clear message.
//
// # Implementations
//
// In the default build (pure Go, no cgo) F32 runs this package's own
// BLIS-style GEMM: op(A) and op(B) are packed into cache-sized panels (all
// four transpose combinations are handled by the packing routines; when
// op(B) is already row-contiguous and m is small, B is streamed in place
// without packing) and a register-blocked micro-kernel computes the
// products. On amd64 the micro-kernel is written in Go assembly: a 6×16
// AVX2+FMA kernel, or an 8×32 AVX-512 kernel where the CPU has AVX-512F
// (selected at run time with golang.org/x/sys/cpu); transposed operands are
// packed with vector 8×8 transposes. Other CPUs, other architectures and
// the "purego" build tag use a portable pure-Go micro-kernel (correct, but
// slow). F64 uses the same driver with 6×8 AVX2 / 8×16 AVX-512 float64
// kernels on amd64, and the portable kernel elsewhere. Shifted, the sum of
// products over shifted views that convolutions need, runs on the same
// kernels in every build.
//
// With the build tag "openblas" (which needs cgo and libopenblas), F32 and
// F64 call OpenBLAS through gonum.org/v1/netlib/blas/netlib, and the
// package's init function installs OpenBLAS as the process-wide gonum
// blas32 and blas64 implementation, so every gonum BLAS user goes through
// OpenBLAS too. Shifted keeps the native kernels: one OpenBLAS product
// per term was slower on the convolutions' shapes (small k, many terms). Name reports which implementation is in use.
//
// F32 and F64 are safe for concurrent use by multiple goroutines (on
// disjoint C). They never start goroutines themselves (callers parallelise
// over batches). Steady-state calls of the native paths do not allocate:
// packing buffers are recycled through a sync.Pool.
package gemm
