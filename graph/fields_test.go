package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/sparse"
)

// TestLinearDiffusionFloat32: in float32 mode Eval and VJP agree with
// float64 to float32 precision, on a symmetric matrix (whose transpose is
// shared) and a non-symmetric one; a symmetric Â is stored once.
func TestLinearDiffusionFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	sq := sparsetest.RandomCSR(t, rng, 300, 300, 0.03)
	for k := range sq.Val {
		sq.Val[k] = math.Abs(sq.Val[k])
	}
	sym, err := Symmetrize(sq)
	if err != nil {
		t.Fatal(err)
	}
	as, err := NormalizeSym(sym)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := NormalizeRW(sym)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		a      *sparse.CSR
		shared bool
		d      int
	}{{"sym", as, true, 20}, {"rw", ar, false, 64}} {
		d := tc.d
		f64, err := NewLinearDiffusion(tc.a, d)
		if err != nil {
			t.Fatal(err)
		}
		f32, err := NewLinearDiffusion(tc.a, d)
		if err != nil {
			t.Fatal(err)
		}
		f32.SetFloat32(true)
		if !f32.Float32() || f64.Float32() {
			t.Fatal("Float32 does not report SetFloat32")
		}
		if got := f64.sp.T == f64.sp.A; got != tc.shared {
			t.Errorf("%s: transpose shared = %v, want %v", tc.name, got, tc.shared)
		}
		x, v := sparsetest.RandVec(rng, 2*f64.Dim()), sparsetest.RandVec(rng, 2*f64.Dim()) // two samples
		y64, y32 := make([]float64, len(x)), make([]float64, len(x))
		b64, b32 := make([]float64, len(x)), make([]float64, len(x))
		for _, f := range []struct {
			f    *LinearDiffusion
			y, b []float64
		}{{f64, y64, b64}, {f32, y32, b32}} {
			if err := f.f.Eval(f.y, 0, x, nil); err != nil {
				t.Fatal(err)
			}
			if err := f.f.VJP(f.b, nil, 0, x, nil, v); err != nil {
				t.Fatal(err)
			}
		}
		want := sparsetest.NaiveProduct(tc.a, x[:f64.Dim()], d)
		for i := range y64 {
			if i < len(want) && math.Abs(y64[i]-(want[i]-x[i])) > 1e-12 {
				t.Fatalf("%s: float64 Eval[%d] = %v, want %v", tc.name, i, y64[i], want[i]-x[i])
			}
			if math.Abs(y32[i]-y64[i]) > 1e-6 || math.Abs(b32[i]-b64[i]) > 1e-6 {
				t.Fatalf("%s: float32 Eval/VJP [%d] = %v/%v, float64 %v/%v", tc.name, i, y32[i], b32[i], y64[i], b64[i])
			}
		}
	}
}

// TestDiffusionAllocs: the float32 and float64 fields allocate nothing
// per evaluation once warm (the FDE solver calls them every step).
func TestDiffusionAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers under the race detector")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	a := sparsetest.RandomCSR(t, rng, 2000, 2000, 0.005)
	for _, on := range []bool{false, true} {
		f, err := NewLinearDiffusion(a, 16)
		if err != nil {
			t.Fatal(err)
		}
		f.SetFloat32(on)
		x, y := sparsetest.RandVec(rng, f.Dim()), make([]float64, f.Dim())
		if n := testing.AllocsPerRun(20, func() {
			if err := f.Eval(y, 0, x, nil); err != nil {
				t.Fatal(err)
			}
			if err := f.VJP(y, nil, 0, x, nil, x); err != nil {
				t.Fatal(err)
			}
		}); n > 0 {
			t.Errorf("float32 %v: %v allocations per Eval + VJP", on, n)
		}
	}
}
