package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// naive computes the reference C = alpha·op(A)·op(B) + beta·C in float64
// (beta == 0 ignores C).
func naive(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // extra stride beyond the stored width
	alpha, beta    float64
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("%s%s/m=%d,n=%d,k=%d,pad=%d,alpha=%g,beta=%g", tn(tc.transA), tn(tc.transB), tc.m, tc.n, tc.k, tc.pad, tc.alpha, tc.beta)
}

func tn(t bool) string {
	if t {
		return "T"
	}
	return "N"
}

func cases() []gemmCase {
	var cs []gemmCase
	sizes := []int{1, 2, 5, 7, 13, 17, 31, 33, 65, 100}
	ab := [][2]float64{{1, 0}, {1, 1}, {-0.5, 2}, {2.5, -1}}
	i := 0
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, m := range sizes {
				for _, n := range sizes {
					// A few k per (m,n), rotated to keep the table small.
					for _, k := range []int{sizes[i%len(sizes)], sizes[(i+3)%len(sizes)]} {
						x := ab[i%len(ab)]
						cs = append(cs, gemmCase{ta, tb, m, n, k, i % 3 * 3, x[0], x[1]})
						i++
					}
				}
			}
			// Degenerate and blocking-boundary sizes.
			for _, s := range [][3]int{{0, 5, 7}, {5, 0, 7}, {4, 6, 0}, {0, 0, 0}, {16, 3136, 300}, {150, 40, 520}, {9, 4100, 3}, {16, 48, 257}, {145, 33, 17}, {150, 4110, 257}} {
				cs = append(cs, gemmCase{ta, tb, s[0], s[1], s[2], 1, 0.75, 0}, gemmCase{ta, tb, s[0], s[1], s[2], 0, 1, 0.5})
			}
		}
	}
	return cs
}

// skipHeavy skips the largest cases under -short and the race detector.
func skipHeavy(tc gemmCase) bool {
	return (testing.Short() || raceEnabled) && tc.m*tc.n*tc.k > 50_000_000
}

// operands builds random A, B and C (C filled with NaN when beta == 0) with
// strides padded by tc.pad.
func operands(tc gemmCase, rng *rand.Rand) (a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = ac, ar
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = bc, br
	}
	lda, ldb, ldc = max(1, ac+tc.pad), max(1, bc+tc.pad), max(1, tc.n+tc.pad)
	fill := func(r, ld int) []float64 {
		x := make([]float64, r*ld)
		for i := range x {
			x[i] = rng.Float64()*2 - 1
		}
		return x
	}
	// C gets two guard rows below the m×n block (checked by compare).
	a, b, c = fill(ar, lda), fill(br, ldb), fill(tc.m+2, ldc)
	if tc.beta == 0 {
		for i := range c[:tc.m*ldc] {
			c[i] = math.NaN()
		}
	}
	return
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

type f32Func func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

type namedF32 struct {
	name string
	f    f32Func
}

// checkF32 runs every case through each implementation and compares with
// the float64 reference (computed once per case).
func checkF32(t *testing.T, fs []namedF32) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases() {
		if skipHeavy(tc) {
			continue
		}
		a, lda, b, ldb, c, ldc := operands(tc, rng)
		// Reference on float32-rounded inputs.
		a, b = to64(to32(a)), to64(to32(b))
		a32, b32, c32 := to32(a), to32(b), to32(c)
		want := to64(c32)
		naive(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
		tol := 1e-5 * float64(tc.k+4) * (math.Abs(tc.alpha) + math.Abs(tc.beta) + 1)
		for _, f := range fs {
			got := append([]float32(nil), c32...)
			f.f(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a32, lda, b32, ldb, float32(tc.beta), got, ldc)
			if bad := compare(to64(got), want, tc.m, tc.n, ldc, tol); bad != "" {
				t.Errorf("%s %v: %s", f.name, tc, bad)
			}
		}
	}
}

// compare checks the m×n block and that everything else (the padding
// beyond n and the guard rows below m, which the reference never writes) is
// untouched.
func compare(got, want []float64, m, n, ldc int, tol float64) string {
	for i := 0; i < len(got)/ldc; i++ {
		for j := 0; j < ldc; j++ {
			g, w := got[i*ldc+j], want[i*ldc+j]
			if i >= m || j >= n {
				if g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
					return fmt.Sprintf("padding C[%d][%d] changed: %g -> %g", i, j, w, g)
				}
				continue
			}
			if math.IsNaN(g) || math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) {
				return fmt.Sprintf("C[%d][%d] = %g, want %g", i, j, g, w)
			}
		}
	}
	return ""
}

// TestF32 checks F32 (the build's implementation) and every native kernel
// this CPU supports against the reference.
func TestF32(t *testing.T) {
	t.Logf("implementation: %s", Name())
	fs := []namedF32{{"F32", F32}}
	for _, im := range impls32() {
		fs = append(fs, namedF32{im.name, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			if m == 0 || n == 0 {
				return
			}
			if k == 0 {
				scaleC(m, n, beta, c, ldc)
				return
			}
			im.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}})
	}
	checkF32(t, fs)
}

type f64Func func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)

// TestF64 checks F64 and every native float64 kernel against the reference.
func TestF64(t *testing.T) {
	fs := map[string]f64Func{"F64": F64}
	for _, im := range impls64() {
		fs[im.name] = func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
			if m == 0 || n == 0 {
				return
			}
			if k == 0 {
				scaleC(m, n, beta, c, ldc)
				return
			}
			im.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range cases() {
		if skipHeavy(tc) {
			continue
		}
		a, lda, b, ldb, c, ldc := operands(tc, rng)
		want := append([]float64(nil), c...)
		naive(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
		tol := 1e-12 * float64(tc.k+4) * (math.Abs(tc.alpha) + math.Abs(tc.beta) + 1)
		for name, f := range fs {
			got := append([]float64(nil), c...)
			f(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
			if bad := compare(got, want, tc.m, tc.n, ldc, tol); bad != "" {
				t.Errorf("%s %v: %s", name, tc, bad)
			}
		}
	}
}

func TestShortSlicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short A")
		}
	}()
	F32(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
}

func TestConcurrent(t *testing.T) {
	const m, n, k, workers = 33, 200, 70, 8
	rng := rand.New(rand.NewPCG(5, 6))
	a := make([]float32, m*k)
	b := make([]float32, n*k)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range b {
		b[i] = rng.Float32()
	}
	want := make([]float32, m*n)
	F32(false, true, m, n, k, 1, a, k, b, k, 0, want, n)
	c := make([]float32, workers*m*n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for it := 0; it < 20; it++ {
				F32(false, true, m, n, k, 1, a, k, b, k, 0, c[w*m*n:(w+1)*m*n], n)
			}
		}(w)
	}
	wg.Wait()
	for w := 0; w < workers; w++ {
		for i, v := range c[w*m*n : (w+1)*m*n] {
			if v != want[i] {
				t.Fatalf("worker %d: C[%d] = %g, want %g", w, i, v, want[i])
			}
		}
	}
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, s := range benchShapes[:6] {
		a := make([]float32, s.m*s.k)
		b := make([]float32, s.k*s.n)
		c := make([]float32, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.ta {
			lda = s.m
		}
		if s.tb {
			ldb = s.k
		}
		F32(s.ta, s.tb, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) // warm the pool
		allocs := testing.AllocsPerRun(5, func() {
			F32(s.ta, s.tb, s.m, s.n, s.k, 1, a, lda, b, ldb, 0.5, c, s.n)
		})
		if allocs != 0 {
			t.Errorf("F32 %s: %v allocations per call", s.name, allocs)
		}
		a64 := make([]float64, s.m*s.k)
		b64 := make([]float64, s.k*s.n)
		c64 := make([]float64, s.m*s.n)
		F64(s.ta, s.tb, s.m, s.n, s.k, 1, a64, lda, b64, ldb, 0, c64, s.n)
		allocs = testing.AllocsPerRun(5, func() {
			F64(s.ta, s.tb, s.m, s.n, s.k, 1, a64, lda, b64, ldb, 0.5, c64, s.n)
		})
		if allocs != 0 {
			t.Errorf("F64 %s: %v allocations per call", s.name, allocs)
		}
	}
}

type benchShape struct {
	name    string
	ta, tb  bool
	m, k, n int
}

var benchShapes = []benchShape{
	{"conv3x3/16x144x3136NN", false, false, 16, 144, 3136},
	{"conv3x3/16x3136x144NT", false, true, 16, 3136, 144},
	{"conv3x3/144x16x3136TN", true, false, 144, 16, 3136},
	{"conv3x3/16x144x1568NN", false, false, 16, 144, 1568},
	{"conv3x3/16x1568x144NT", false, true, 16, 1568, 144},
	{"conv3x3/144x16x1568TN", true, false, 144, 16, 1568},
	{"conv4x4s2/16x256x12544NN", false, false, 16, 256, 12544},
	{"conv4x4s2/16x12544x256NT", false, true, 16, 12544, 256},
	{"conv4x4s2/256x16x12544TN", true, false, 256, 16, 12544},
	{"conv1/16x9x50176NN", false, false, 16, 9, 50176},
	{"mlp/128x64x64NN", false, false, 128, 64, 64},
	{"mlp/128x64x64NT", false, true, 128, 64, 64},
	{"mlp/128x64x64TN", true, false, 128, 64, 64},
}

func benchF32(b *testing.B, f f32Func) { benchGemm(b, f) }

func benchGemm[T float32 | float64](b *testing.B, f func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)) {
	for _, s := range benchShapes {
		b.Run("shape="+s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, 8))
			x := make([]T, s.m*s.k)
			y := make([]T, s.k*s.n)
			c := make([]T, s.m*s.n)
			for i := range x {
				x[i] = T(rng.Float32())
			}
			for i := range y {
				y[i] = T(rng.Float32())
			}
			lda, ldb := s.k, s.n
			if s.ta {
				lda = s.m
			}
			if s.tb {
				ldb = s.k
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f(s.ta, s.tb, s.m, s.n, s.k, 1, x, lda, y, ldb, 0, c, s.n)
			}
			b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

// BenchmarkF32 measures F32 (the build's implementation; see Name).
func BenchmarkF32(b *testing.B) { benchF32(b, F32) }

// BenchmarkNative measures each native kernel this CPU supports.
func BenchmarkNative(b *testing.B) {
	for _, im := range impls32() {
		b.Run(im.name, func(b *testing.B) { benchF32(b, im.gemm) })
	}
}

// BenchmarkGonum32 measures gonum's blas32 Sgemm for comparison (OpenBLAS
// in the openblas build, whose init installs it).
func BenchmarkGonum32(b *testing.B) {
	impl := blas32.Implementation()
	benchF32(b, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, x []float32, ldb int, beta float32, c []float32, ldc int) {
		impl.Sgemm(trB(transA), trB(transB), m, n, k, alpha, a, lda, x, ldb, beta, c, ldc)
	})
}

// BenchmarkF64 measures F64.
func BenchmarkF64(b *testing.B) { benchGemm(b, F64) }

// BenchmarkGonum64 measures gonum's blas64 Dgemm (which, unlike F64, may
// run on several goroutines) for comparison.
func BenchmarkGonum64(b *testing.B) {
	impl := blas64.Implementation()
	benchGemm(b, func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, x []float64, ldb int, beta float64, c []float64, ldc int) {
		impl.Dgemm(trB(transA), trB(transB), m, n, k, alpha, a, lda, x, ldb, beta, c, ldc)
	})
}

func trB(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
