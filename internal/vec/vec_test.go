package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randoms(rng *rand.Rand, n int) ([]float64, []float32) {
	x64, x32 := make([]float64, n), make([]float32, n)
	for i := range x64 {
		x64[i] = rng.NormFloat64() * math.Exp2(float64(rng.IntN(40)-20))
		x32[i] = float32(rng.NormFloat64())
	}
	return x64, x32
}

// TestAgainstLoops checks every function against the plain loop at lengths
// around the vector widths and at a long one.
func TestAgainstLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 64, 1000, 4099} {
		x64, x32 := randoms(rng, n)
		_, y32 := randoms(rng, n)

		n32 := make([]float32, n)
		Narrow(n32, x64)
		w64 := make([]float64, n)
		Widen(w64, x32)
		for i := range n {
			if n32[i] != float32(x64[i]) {
				t.Fatalf("n = %d: Narrow[%d] = %v, want %v", n, i, n32[i], float32(x64[i]))
			}
			if w64[i] != float64(x32[i]) {
				t.Fatalf("n = %d: Widen[%d] = %v, want %v", n, i, w64[i], float64(x32[i]))
			}
		}

		a, b := 0.75, -1.5
		for _, add := range []bool{false, true} {
			d := append([]float64(nil), x64...)
			Rows32(d, a, x32, b, y32, add)
			for i := range n {
				want := a*float64(x32[i]) + b*float64(y32[i])
				if add {
					want += x64[i]
				}
				if math.Abs(d[i]-want) > 1e-15*(math.Abs(want)+math.Abs(x64[i])+4) {
					t.Fatalf("n = %d, add %v: Rows32[%d] = %v, want %v", n, add, i, d[i], want)
				}
			}
		}

		ok, m := MaxAbsFinite(x64)
		want := 0.0
		for _, v := range x64 {
			want = max(want, math.Abs(v))
		}
		if !ok || m != want {
			t.Fatalf("n = %d: MaxAbsFinite = %v, %v; want true, %v", n, ok, m, want)
		}
		for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			for _, at := range []int{0, n / 2, n - 1} {
				if n == 0 {
					continue
				}
				z := append([]float64(nil), x64...)
				z[at] = bad
				if ok, _ := MaxAbsFinite(z); ok {
					t.Fatalf("n = %d: MaxAbsFinite reports %v at %d as finite", n, bad, at)
				}
			}
		}
	}
}

// TestSubSlices checks the kernels on unaligned views into larger slices
// and that they write nothing past the end.
func TestSubSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x64, x32 := randoms(rng, 100)
	dst := make([]float64, 100)
	Widen(dst[3:40], x32[5:42])
	for i, v := range dst {
		want := 0.0
		if i >= 3 && i < 40 {
			want = float64(x32[i+2])
		}
		if v != want {
			t.Fatalf("Widen into a sub-slice: dst[%d] = %v, want %v", i, v, want)
		}
	}
	d32 := make([]float32, 100)
	Narrow(d32[1:34], x64[7:40])
	for i, v := range d32 {
		want := float32(0)
		if i >= 1 && i < 34 {
			want = float32(x64[i+6])
		}
		if v != want {
			t.Fatalf("Narrow into a sub-slice: d32[%d] = %v, want %v", i, v, want)
		}
	}
}

func BenchmarkRows32(b *testing.B) {
	n := 1 << 16
	d := make([]float64, n)
	_, x := randoms(rand.New(rand.NewPCG(5, 6)), n)
	b.SetBytes(int64(16 * n))
	for b.Loop() {
		Rows32(d, 0.5, x, 0.25, x, true)
	}
}

func BenchmarkMaxAbsFinite(b *testing.B) {
	x, _ := randoms(rand.New(rand.NewPCG(7, 8)), 1<<16)
	b.SetBytes(int64(8 * len(x)))
	for b.Loop() {
		MaxAbsFinite(x)
	}
}

func BenchmarkNarrow(b *testing.B) {
	x, _ := randoms(rand.New(rand.NewPCG(9, 10)), 1<<16)
	d := make([]float32, len(x))
	b.SetBytes(int64(12 * len(x)))
	for b.Loop() {
		Narrow(d, x)
	}
}
