package fode_test

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// BenchmarkSolve measures the forward solve of the linear problem with
// d = 1000 components at N = 100, 1000 and 4000 steps with the direct
// history engine.
func BenchmarkSolve(b *testing.B) {
	lin, _ := problems.NewLinear(1000)
	x0 := make([]float64, 1000)
	for i := range x0 {
		x0[i] = 1
	}
	for _, m := range []fode.Method{fode.Rectangle, fode.PECE, fode.Trapezoid, fode.L1} {
		for _, N := range []int{100, 1000, 4000} {
			b.Run(fmt.Sprintf("%v/N=%d/d=1000", m, N), func(b *testing.B) {
				opt := fode.Options{Method: m, Alpha: 0.5, T: 1, Steps: N}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := fode.Solve(lin, x0, []float64{1}, opt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSolveMLP measures a batch of 128 states through a 64-64-64 tanh
// field, where the batch is split across goroutines.
func BenchmarkSolveMLP(b *testing.B) {
	f := mlp{d: 64, k: 64}
	theta := randomVec(1, f.NumParams(), 0.1)
	x0 := randomVec(2, 128*64, 1)
	for _, w := range []int{1, 0} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			opt := fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 100, Workers: w}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fode.Solve(f, x0, theta, opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSteadyStateAllocations checks that the per-step loop allocates
// nothing: a solve of 1000 steps makes as many allocations as one of 100
// (give or take two from the runtime and gonum's blocked LU); an allocation
// per step would add 900. For the FFT engine, 2000 steps against 1000.
func TestSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		// The race detector adds allocations of its own that grow with
		// the work (the FFT levels differ by up to 91 allocations there).
		t.Skip("the race detector changes the allocation counts")
	}
	// A collection in the middle of a measurement empties the buffer pools
	// and makes the next solves allocate their buffers again: that is the
	// collector's doing, not the solver's, so none runs here.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	lin, _ := problems.NewLinear(8)
	x0 := make([]float64, 16)
	for i := range x0 {
		x0[i] = 1
	}
	for m := fode.Rectangle; m <= fode.RK4; m++ {
		alpha := 0.5
		if !m.Fractional() {
			alpha = 1
		}
		for _, eng := range []fode.HistoryEngine{fode.Direct, fode.FFT} {
			allocs := func(N int) float64 {
				return testing.AllocsPerRun(3, func() {
					if _, err := fode.Solve(lin, x0, []float64{1}, fode.Options{Method: m, Alpha: alpha, T: 1, Steps: N, History: eng}); err != nil {
						t.Fatal(err)
					}
				})
			}
			// The FFT engine allocates its buffers and FFT plans once per
			// level, log2(N/32) levels: doubling N may add one level, which
			// costs 9 to 12 allocations now (none for the classical
			// methods, which have no history).
			lo, hi, slack := 100, 1000, 2.0
			if eng == fode.FFT {
				lo, hi, slack = 1000, 2000, 20
			}
			if a, b := allocs(lo), allocs(hi); b-a > slack {
				t.Errorf("%v, %v engine: %v allocations at N=%d, %v at N=%d", m, eng, a, lo, b, hi)
			}
		}
	}
}

// TestParallelRowsMatchSerial checks that splitting the batch across
// goroutines gives bit-identical states (run it with -race).
func TestParallelRowsMatchSerial(t *testing.T) {
	f := mlp{d: 16, k: 64}
	theta := randomVec(3, f.NumParams(), 0.2)
	x0 := randomVec(4, 64*16, 1)
	for _, m := range []fode.Method{fode.Rectangle, fode.PECE, fode.Trapezoid} {
		var out [2][]float64
		for i, w := range []int{1, 4} {
			sol, err := fode.Solve(f, x0, theta, fode.Options{Method: m, Alpha: 0.7, T: 1, Steps: 20, Workers: w})
			if err != nil {
				t.Fatal(err)
			}
			out[i] = sol.Final()
		}
		for i := range out[0] {
			if out[0][i] != out[1][i] {
				t.Fatalf("%v: component %d differs: %v serial, %v parallel", m, i, out[0][i], out[1][i])
			}
		}
	}
}

// BenchmarkGrad measures the discrete adjoint of the linear problem with
// d = 1000 components.
func BenchmarkGrad(b *testing.B) {
	lin, _ := problems.NewLinear(1000)
	x0 := make([]float64, 1000)
	ybar := make([]float64, 1000)
	for i := range x0 {
		x0[i], ybar[i] = 1, 1
	}
	for _, m := range []fode.Method{fode.Rectangle, fode.PECE, fode.Trapezoid} {
		for _, N := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%v/N=%d/d=1000", m, N), func(b *testing.B) {
				sol, err := fode.Solve(lin, x0, []float64{1}, fode.Options{Method: m, Alpha: 0.5, T: 1, Steps: N})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := fode.Grad(sol, ybar, fode.GradOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestGradMemoryIndependentOfWidth checks that the backward pass allocates
// O(N·n) for its cotangent streams and nothing that grows with the field's
// hidden width: widening the hidden layer 64-fold leaves the bytes the
// solve and the adjoint allocate (beyond the parameters) unchanged.
func TestGradMemoryIndependentOfWidth(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers, so allocations are not measurable")
	}
	const N, rows, d = 200, 4, 4
	bytesFor := func(k int) (float64, int) {
		f := mlp{d: d, k: k}
		theta := randomVec(5, f.NumParams(), 0.2)
		x0 := randomVec(6, rows*d, 1)
		ybar := randomVec(7, rows*d, 1)
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		sol, err := fode.Solve(f, x0, theta, fode.Options{Method: fode.PECE, Alpha: 0.5, T: 1, Steps: N, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fode.Grad(sol, ybar, fode.GradOptions{}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&ms1)
		return float64(ms1.TotalAlloc - ms0.TotalAlloc), f.NumParams()
	}
	small, p1 := bytesFor(8)
	large, p2 := bytesFor(512)
	// The parameters and their cotangent are copied a few times; allow
	// that, and nothing per step.
	paramBytes := float64(8 * (p2 - p1) * 4)
	perStepWidth := float64(N * 512 * 8)
	if extra := large - small - paramBytes; extra > perStepWidth/10 {
		t.Errorf("hidden width 8: %.0f bytes, width 512: %.0f bytes; %.0f extra bytes beyond the parameters (N·width·8 = %.0f)", small, large, extra, perStepWidth)
	}
	t.Logf("solve+adjoint allocate %.0f bytes (width 8) and %.0f bytes (width 512); the trajectory is %d bytes", small, large, (N+1)*rows*d*8)
}

// BenchmarkShortMemory measures a solve and its adjoint gradient of the
// linear problem D^½ x = -λ r_i x with 64 components (rates r_i in
// [0.5, 2]) at N = 10,000 steps, T = 1, with the full memory (FFT history
// sums, and direct ones for comparison) and with short memories of 100
// and 1000 steps (direct sums over the kept lags), and reports the largest
// error of x(T) against the Mittag-Leffler solution as abs_err:
//
//	go test ./fode -run '^$' -bench ShortMemory -benchtime 3x
func BenchmarkShortMemory(b *testing.B) {
	const d, N = 64, 10000
	lin, _ := problems.NewLinear(d)
	x0, ybar := make([]float64, d), make([]float64, d)
	for i := range x0 {
		x0[i], ybar[i] = 1, 1
	}
	for _, m := range []fode.Method{fode.Rectangle, fode.L1} {
		for _, c := range []struct {
			memory int
			hist   fode.HistoryEngine
		}{{0, fode.FFT}, {0, fode.Direct}, {100, fode.Auto}, {1000, fode.Auto}} {
			b.Run(fmt.Sprintf("%v/memory=%d/%v", m, c.memory, c.hist), func(b *testing.B) {
				opt := fode.Options{Method: m, Alpha: 0.5, T: 1, Steps: N, ShortMemory: c.memory, History: c.hist}
				var worst float64
				for b.Loop() {
					sol, err := fode.Solve(lin, x0, []float64{1}, opt)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := fode.Grad(sol, ybar, fode.GradOptions{}); err != nil {
						b.Fatal(err)
					}
					exact := make([]float64, d)
					lin.Exact(exact, 0.5, 1, 1, x0)
					worst = 0
					for i, v := range sol.Final() {
						worst = max(worst, math.Abs(v-exact[i]))
					}
					sol.Release()
				}
				b.ReportMetric(worst, "abs_err")
			})
		}
	}
}
