package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestShifted checks Shifted against a sum of naive products, for both
// transpositions of A, beta 0, 1 and 0.5, ragged and whole column blocks,
// and both float types.
func TestShifted(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ m, n, k int }{{16, 64, 16}, {13, 70, 9}, {1, 5, 3}, {40, 33, 64}, {8, 32, 1}} {
		for _, transA := range []bool{false, true} {
			for _, beta := range []float64{0, 1, 0.5} {
				name := fmt.Sprintf("%dx%dx%d/%s/beta=%v", tc.m, tc.n, tc.k, tn(transA), beta)
				shifts := []int{0, 3, 11, 1}
				lda := tc.k*len(shifts) + 2
				aoff := tc.k
				if transA {
					lda, aoff = tc.m*len(shifts)+1, tc.m
				}
				arows := tc.m
				if transA {
					arows = tc.k
				}
				a := rand64(rng, arows*lda)
				ldb := tc.n + 13
				b := rand64(rng, (tc.k-1)*ldb+tc.n+11)
				ldc := tc.n + 1
				c := rand64(rng, tc.m*ldc)
				want := append([]float64(nil), c...)
				for i, sh := range shifts {
					bt := 1.0
					if i == 0 {
						bt = beta
					}
					naive(transA, false, tc.m, tc.n, tc.k, 1, a[i*aoff:], lda, b[sh:], ldb, bt, want, ldc)
				}
				got := append([]float64(nil), c...)
				Shifted(transA, tc.m, tc.n, tc.k, a, lda, aoff, b, ldb, shifts, beta, got, ldc)
				if msg := compare(got, want, tc.m, tc.n, ldc, 1e-12); msg != "" {
					t.Errorf("float64 %s: %s", name, msg)
				}
				got32 := to32(c)
				Shifted(transA, tc.m, tc.n, tc.k, to32(a), lda, aoff, to32(b), ldb, shifts, float32(beta), got32, ldc)
				if msg := compare(to64(got32), to64(to32(want)), tc.m, tc.n, ldc, 1e-4); msg != "" {
					t.Errorf("float32 %s: %s", name, msg)
				}
			}
		}
	}
}

func rand64(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*rng.Float64() - 1
	}
	return s
}

// TestShiftedPanicsOutside checks that a shift reading past B panics
// rather than reading foreign memory.
func TestShiftedPanicsOutside(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	a, b, c := make([]float32, 4), make([]float32, 8), make([]float32, 4)
	Shifted(false, 2, 2, 2, a, 2, 0, b, 4, []int{0, 3}, 0, c, 2)
}
