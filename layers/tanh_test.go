package layers

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTanh32 checks tanh32 against math.Tanh on every step of 1/4096 in
// [-12, 12] and on tiny arguments: within 1.5 float32 ulps, odd, ±1 for
// large arguments, NaN for NaN.
func TestTanh32(t *testing.T) {
	check := func(v float32) {
		want := math.Tanh(float64(v))
		got := float64(tanh32(v))
		w := float32(math.Abs(want))
		ulp := float64(math.Nextafter32(w, 2) - w)
		if math.Abs(got-want) > 1.5*ulp {
			t.Fatalf("tanh32(%v) = %v, want %v (%.2g ulps)", v, got, want, math.Abs(got-want)/ulp)
		}
		if tanh32(-v) != -tanh32(v) {
			t.Fatalf("tanh32 is not odd at %v", v)
		}
	}
	for i := -12 * 4096; i <= 12*4096; i++ {
		check(float32(i) / 4096)
	}
	for v := float32(1e-30); v < 1e-3; v *= 1.7 {
		check(v)
	}
	if tanh32(float32(math.Inf(1))) != 1 || tanh32(float32(math.Inf(-1))) != -1 || tanh32(100) != 1 {
		t.Error("tanh32 of large arguments is not ±1")
	}
	if v := tanh32(float32(math.NaN())); v == v {
		t.Errorf("tanh32(NaN) = %v", v)
	}
}

// BenchmarkTanh compares tanh32 with math.Tanh on normally distributed
// values, as a hidden layer holds them.
func BenchmarkTanh(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x32 := make([]float32, 1<<14)
	x64 := make([]float64, len(x32))
	for i := range x32 {
		x64[i] = 2 * rng.NormFloat64()
		x32[i] = float32(x64[i])
	}
	y32, y64 := make([]float32, len(x32)), make([]float64, len(x64))
	b.Run("tanh32", func(b *testing.B) {
		for b.Loop() {
			tanhTo(y32, x32)
		}
	})
	b.Run("math.Tanh", func(b *testing.B) {
		for b.Loop() {
			tanhTo(y64, x64)
		}
	})
}

// TestTanhToMatchesTanh32 checks tanhTo's float32 path (the vector kernel
// where the CPU has one, then the scalar tail) against tanh32 and
// math.Tanh at every length's tail, with NaN, infinities and large
// arguments mixed in.
func TestTanhToMatchesTanh32(t *testing.T) {
	var src []float32
	for i := -12 * 512; i <= 12*512; i++ {
		src = append(src, float32(i)/512)
	}
	src = append(src, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e30, -1e30, 1e-30, 0, float32(math.Copysign(0, -1)))
	for _, n := range []int{len(src), len(src) - 1, len(src) - 2, len(src) - 3, 5} {
		in := src[len(src)-n:]
		dst := make([]float32, n)
		tanhTo(dst, in)
		for i, v := range in {
			want := tanh32(v)
			switch {
			case v != v:
				if dst[i] == dst[i] {
					t.Fatalf("tanh(NaN) = %v", dst[i])
				}
			case math.Abs(float64(dst[i]-want)) > float64(math.Nextafter32(float32(math.Abs(float64(want))), 2)-float32(math.Abs(float64(want)))):
				t.Fatalf("n=%d: tanh(%v) = %v, tanh32 gives %v", n, v, dst[i], want)
			case math.Signbit(float64(dst[i])) != math.Signbit(float64(v)):
				t.Fatalf("tanh(%v) = %v: wrong sign", v, dst[i])
			}
		}
	}
}
