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
