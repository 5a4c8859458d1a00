package fode_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// TestFFTHistoryMatchesDirect checks the FFT engine against the direct sums
// for every scheme with Toeplitz weights, forward states and discrete
// adjoint gradients, up to N = 4000.
func TestFFTHistoryMatchesDirect(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	x0 := []float64{1, -2, 0.5}
	Ns := []int{1, 31, 32, 33, 100, 1000, 4000}
	if testing.Short() {
		Ns = Ns[:6]
	}
	for _, m := range []fode.Method{fode.Rectangle, fode.PECE, fode.GL, fode.GLImplicit, fode.L1, fode.Trapezoid, fode.FLMM} {
		for _, N := range Ns {
			if m == fode.FLMM && N < 2 {
				continue
			}
			t.Run(fmt.Sprintf("%v/N=%d", m, N), func(t *testing.T) {
				var states [2][]float64
				var grads [2][]float64
				for i, eng := range []fode.HistoryEngine{fode.Direct, fode.FFT} {
					sol, err := fode.Solve(lin, x0, []float64{1.1}, fode.Options{Method: m, Alpha: 0.6, T: 2, Steps: N, History: eng, Times: []float64{1, 2}})
					if err != nil {
						t.Fatal(err)
					}
					states[i] = append(append([]float64(nil), sol.At(0)...), sol.At(1)...)
					g, err := fode.Grad(sol, []float64{1, 1, 1, 0.5, -1, 2}, fode.GradOptions{GradAlpha: true})
					if err != nil {
						t.Fatal(err)
					}
					grads[i] = append(append(append([]float64(nil), g.X0...), g.Theta...), g.Alpha)
				}
				// Now at most 1.6e-14 (states, relative to max(1e-3, |x|))
				// and 4.8e-14 (gradients, relative) over all N.
				worst := 0.0
				for i := range states[0] {
					d := math.Abs(states[0][i]-states[1][i]) / math.Max(1e-3, math.Abs(states[0][i]))
					worst = math.Max(worst, d)
					if d > 1e-13 {
						t.Errorf("state %d: direct %v, fft %v", i, states[0][i], states[1][i])
					}
				}
				e := relErr(grads[1], grads[0])
				t.Logf("fft vs direct: states %.3g, gradients %.3g", worst, e)
				if e > 2e-13 {
					t.Errorf("gradients differ by %.3g relative", e)
				}
			})
		}
	}
}

// BenchmarkHistory compares the engines on the rectangle forward solve
// across N for d = 1 and d = 1000, to place Auto's crossover.
func BenchmarkHistory(b *testing.B) {
	for _, d := range []int{1, 1000} {
		lin, _ := problems.NewLinear(d)
		x0 := make([]float64, d)
		for i := range x0 {
			x0[i] = 1
		}
		for _, N := range []int{100, 300, 1000, 2500, 10000, 20000} {
			for _, eng := range []fode.HistoryEngine{fode.Direct, fode.FFT} {
				if d == 1000 && N > 2500 && eng == fode.Direct {
					continue // minutes per op
				}
				b.Run(fmt.Sprintf("d=%d/N=%d/%v", d, N, eng), func(b *testing.B) {
					opt := fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: N, History: eng}
					for b.Loop() {
						if _, err := fode.Solve(lin, x0, []float64{1}, opt); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
