package fode_test

import (
	"runtime"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// TestRelease: after Release a solution has no outputs or states and
// refuses a gradient, and the next solves of the same size reuse its storage (they
// allocate a small fraction of what the first one did).
func TestRelease(t *testing.T) {
	const d = 4096
	lin, _ := problems.NewLinear(d)
	x0 := make([]float64, d)
	for i := range x0 {
		x0[i] = 1
	}
	opt := fode.Options{Method: fode.PECE, Alpha: 0.6, T: 1, Steps: 20, PECE: fode.PECESettings{Correctors: 1}}
	sol, err := fode.Solve(lin, x0, []float64{1}, opt)
	if err != nil {
		t.Fatal(err)
	}
	sol.Release()
	sol.Release()
	if sol.Final() != nil || sol.State(3) != nil || len(sol.Grid()) != 21 {
		t.Errorf("after Release: Final %v, State %v, grid of %d points", sol.Final(), sol.State(3), len(sol.Grid()))
	}
	if _, err := fode.Grad(sol, make([]float64, d), fode.GradOptions{}); err == nil {
		t.Error("Grad of a released solution: no error")
	}
	if raceEnabled {
		return // sync.Pool drops buffers at random under the race detector
	}
	var ms [2]float64
	for i, release := range []bool{false, true} {
		bytes := allocBytes(func() {
			s, err := fode.Solve(lin, x0, []float64{1}, opt)
			if err != nil {
				t.Fatal(err)
			}
			if release {
				s.Release()
			}
		})
		ms[i] = bytes
	}
	if !(ms[1] < ms[0]/4) {
		t.Errorf("solves with Release allocate %.0f bytes each, without %.0f", ms[1], ms[0])
	}
	t.Logf("bytes allocated per solve: %.0f without Release, %.0f with", ms[0], ms[1])
}

// allocBytes returns the bytes f allocates on average over a few runs,
// after one warm-up run.
func allocBytes(f func()) float64 {
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 5
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / runs
}
