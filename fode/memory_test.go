package fode

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestMemoryEstimate: the memory estimates bound what Solve and Grad
// really allocate (runtime.MemStats.TotalAlloc with the buffer pools
// emptied first) for every fractional method, short and long solves,
// direct and FFT histories, float64 and float32 storage, with and without
// a state-free field, and stay within a small factor of it for the large
// buffers.
func TestMemoryEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("many solves")
	}
	const rows = 1024
	x0 := make([]float64, rows*4)
	for i := range x0 {
		x0[i] = float64(i%7)/7 - 0.4
	}
	n := len(x0)
	ybar := make([]float64, 2*n)
	for i := range ybar {
		ybar[i] = float64(i%5)/5 - 0.5
	}
	alloc := func(f func()) uint64 {
		runtime.GC()
		runtime.GC() // twice: the pools keep their buffers for one cycle
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for _, m := range []Method{Rectangle, PECE, Trapezoid, FLMM, GL, GLImplicit, L1} {
		for _, steps := range []int{40, 300} {
			for _, e := range []HistoryEngine{Direct, FFT} {
				for _, store32 := range []bool{false, true} {
					for _, free := range []bool{false, true} {
						if steps == 40 && e == FFT {
							continue
						}
						name := fmt.Sprintf("%v/%d/%v/f32=%v/free=%v", m, steps, e, store32, free)
						opt := Options{Method: m, Alpha: 0.6, T: 1, Steps: steps, Times: []float64{0.5, 1}, History: e, StoreFloat32: store32, Iteration: IterationSettings{Tol: 1e-10}}
						f := chain{d: 4, stateFree: free}
						var sol *Solution
						var err error
						got := alloc(func() { sol, err = Solve(f, x0, nil, opt) })
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						o := opt.withDefaults()
						est := o.solveBytes(steps, n, free)
						if got > uint64(est) {
							t.Errorf("%s: Solve allocated %d bytes, estimated %d", name, got, est)
						}
						if pub, _ := opt.Memory(n); pub < int64(est) {
							t.Errorf("%s: Memory %d below the estimate %d for the field", name, pub, est)
						}
						if large := uint64(steps) * uint64(n) * 4; uint64(est) > 2*got+large/2 {
							t.Errorf("%s: Solve allocated %d bytes, estimated %d: too loose", name, got, est)
						}
						gotG := alloc(func() { _, err = Grad(sol, ybar, GradOptions{}) })
						if err != nil {
							t.Fatalf("%s: grad: %v", name, err)
						}
						estG := o.gradBytes(steps, n, free)
						if gotG > uint64(estG) {
							t.Errorf("%s: Grad allocated %d bytes, estimated %d", name, gotG, estG)
						}
						if gotG > uint64(est)+1<<16 {
							t.Errorf("%s: Grad allocated %d bytes, more than the solve's estimate %d", name, gotG, est)
						}
						t.Logf("%-36s solve %9d est %9d (%.2f)  grad %9d est %9d (%.2f)", name, got, est, float64(est)/float64(got), gotG, estG, float64(estG)/float64(gotG))
						sol.Release()
					}
				}
			}
		}
	}
}

// TestReleaseBeforeGrad: a solution whose field values were handed back
// (ReleaseFieldValues) gives the same gradient without dL/dα, bit for bit,
// refuses dL/dα and keeps its outputs and states; one whose outputs were
// handed back (ReleaseOutputs) gives the same gradient, dL/dα included,
// and has no outputs left unless its states are stored in float32. Both
// for fields with and without state-free VJPs (whose solves keep the
// newest states in a ring) and outputs on and between grid points.
func TestReleaseBeforeGrad(t *testing.T) {
	x0, ybar := chainProblem()
	cases := []struct {
		name      string
		gradAlpha bool
		release   func(t *testing.T, sol *Solution)
	}{
		{"ReleaseFieldValues", false, func(t *testing.T, sol *Solution) {
			st := sol.State(0)[1]
			sol.ReleaseFieldValues()
			sol.ReleaseFieldValues()
			if sol.fv != nil || sol.fv32 != nil || sol.State(0)[1] != st || sol.Final() == nil {
				t.Errorf("%v: field values kept, or state or outputs lost", sol.Method)
			}
			if _, err := Grad(sol, ybar, GradOptions{GradAlpha: true}); err == nil {
				t.Errorf("%v: dL/dalpha without the field values: no error", sol.Method)
			}
		}},
		{"ReleaseOutputs", true, func(t *testing.T, sol *Solution) {
			sol.ReleaseOutputs()
			sol.ReleaseOutputs()
			if (sol.At(0) != nil || sol.Final() != nil) != (sol.y32 != nil) {
				t.Errorf("%v: outputs kept", sol.Method)
			}
		}},
	}
	for _, tc := range cases {
		for _, m := range []Method{Rectangle, PECE, Trapezoid, FLMM, GL, L1} {
			for _, store32 := range []bool{false, true} {
				for _, free := range []bool{false, true} {
					opt := Options{Method: m, Alpha: 0.6, T: 1, Steps: 300, Times: []float64{0.5012, 1}, StoreFloat32: store32, History: FFT}
					var g [2]*Gradient
					for i := range g {
						sol, err := Solve(chain{d: 4, stateFree: free}, x0, nil, opt)
						if err != nil {
							t.Fatal(err)
						}
						if i == 1 {
							tc.release(t, sol)
						}
						if g[i], err = Grad(sol, ybar, GradOptions{GradAlpha: tc.gradAlpha}); err != nil {
							t.Fatal(err)
						}
						sol.Release()
					}
					if !slices.Equal(g[0].X0, g[1].X0) || (tc.gradAlpha && g[0].Alpha != g[1].Alpha) {
						t.Errorf("%s, %v (float32 %v, state-free %v): the gradient changes: dL/dα %v, then %v", tc.name, m, store32, free, g[0].Alpha, g[1].Alpha)
					}
					g[0].Release()
					if g[0].X0 != nil || len(g[1].X0) != len(x0) {
						t.Errorf("%v: Gradient.Release left X0", m)
					}
				}
			}
		}
	}
}

// TestFFTRing: the FFT history's accumulator rings give the direct sums,
// with every target read and with targets skipped, for step counts around
// the level sizes, over float64 and float32 streams.
func TestFFTRing(t *testing.T) {
	const w = 3
	for _, N := range []int{1, 5, 31, 32, 33, 63, 64, 65, 100, 257, 511, 512, 513, 600, 1025} {
		kern := make([]float64, N+1)
		for L := 1; L <= N; L++ {
			kern[L] = 1 / math.Sqrt(float64(L))
		}
		vals := make([]float64, (N+1)*w)
		for i := range vals {
			vals[i] = math.Sin(float64(i) * 0.37)
		}
		vals32 := convert(make([]float32, len(vals)), vals)
		for _, skip := range []int{1, 3} {
			hs := []History{fftEngine{block: 32}.NewHistory([][]float64{kern}, vals, w), fftEngine{block: 32}.newFFT([][]float64{kern}, nil, vals32, w)}
			ds := []History{Direct.NewHistory([][]float64{kern}, vals, w), Direct.NewHistory([][]float64{kern}, convert(make([]float64, len(vals)), vals32), w)}
			for i, h := range hs {
				got, want := make([]float64, w), make([]float64, w)
				for m := 0; m <= N; m += skip {
					h.Sum([][]float64{got}, m)
					ds[i].Sum([][]float64{want}, m)
					for c := range got {
						if d := math.Abs(got[c] - want[c]); d > 1e-5*(1+math.Abs(want[c])) || (i == 0 && d > 1e-11*(1+math.Abs(want[c]))) {
							t.Fatalf("N %d, skip %d, float32 %v: sum %d component %d = %v, want %v", N, skip, i == 1, m, c, got[c], want[c])
						}
					}
				}
				h.(*fftHistory).release()
			}
		}
	}
}

// TestBigBuffers: big buffers come back from the cache that survives
// collections, by element type and size (at most a quarter larger), and
// are dropped once unused for bigKeepCycles collections.
func TestBigBuffers(t *testing.T) {
	defer func(b int, k time.Duration) { bigPooled, bigKeepTime = b, k }(bigPooled, bigKeepTime)
	bigPooled, bigKeepTime = 1<<13, 0
	big.Lock()
	big.bufs = nil
	big.Unlock()
	a := getFloats(10000)
	putFloats(a)
	runtime.GC()
	if b32 := getFloats32(10000); &b32[0] == (*float32)(nil) || len(b32) != 10000 {
		t.Fatal("float32 buffer")
	}
	if b := getFloats(12000); &b[0] == &a[0] {
		t.Error("a buffer more than a quarter too small was reused")
	}
	b := getFloats(9000)
	if &b[0] != &a[0] || len(b) != 9000 {
		t.Error("the cached buffer was not reused after a collection")
	}
	putFloats(b)
	for range bigKeepCycles + 1 {
		runtime.GC()
	}
	if c := getFloats(9000); &c[0] == &a[0] {
		t.Error("a buffer unused for many collections was kept")
	}
	d := getFloats(9000)
	putFloats(d)
	FreeBuffers()
	if e := getFloats(9000); &e[0] == &d[0] {
		t.Error("FreeBuffers kept a buffer")
	}
}

// chain32 is chain writing its values in float32 too, the way a field
// with float32 arithmetic would (here: Eval rounded), optionally scaled to
// overflow float32; with noEval its Eval and VJP fail.
type chain32 struct {
	chain
	scale  float64
	noEval bool
}

func (c chain32) VJP(xbar, thetabar []float64, t float64, x, theta, v []float64) error {
	if c.noEval {
		return errors.New("VJP called")
	}
	return c.chain.VJP(xbar, thetabar, t, x, theta, v)
}

func (c chain32) VJPFloat32(xbar []float32, thetabar []float64, t float64, x, theta, v []float64) error {
	w := make([]float64, len(x))
	if err := c.chain.VJP(w, thetabar, t, x, theta, v); err != nil {
		return err
	}
	convert(xbar, w)
	return nil
}

func (c chain32) Eval(dst []float64, t float64, x, theta []float64) error {
	if c.noEval {
		return errors.New("Eval called")
	}
	return c.eval(dst, t, x, theta)
}

func (c chain32) eval(dst []float64, t float64, x, theta []float64) error {
	if err := c.chain.Eval(dst, t, x, theta); err != nil {
		return err
	}
	if c.scale != 0 {
		for i := range dst {
			dst[i] *= c.scale
		}
	}
	return nil
}

func (c chain32) EvalFloat32(dst []float32, t float64, x, theta []float64) error {
	v := make([]float64, len(x))
	if err := c.eval(v, t, x, theta); err != nil {
		return err
	}
	convert(dst, v)
	return nil
}

// TestFloat32Field: a Float32Field that rounds its Eval and VJP gives, with
// float32 storage, the outputs and the gradients by x0 and α of the same
// field without the methods bit for bit, for the explicit schemes that
// take the direct route and the others alike; the gradient by x0 alone,
// which the rectangle rule's adjoint forms from the rounded cotangents,
// within float32 round-off. The rectangle rule calls the float32 methods
// alone, and an evaluation that overflows float32 is an error.
func TestFloat32Field(t *testing.T) {
	x0, ybar := chainProblem()
	for _, m := range []Method{Rectangle, PECE, Trapezoid, FLMM, GL} {
		for _, free := range []bool{false, true} {
			opt := Options{Method: m, Alpha: 0.6, T: 1, Steps: 200, Times: []float64{0.5012, 1}, StoreFloat32: true}
			var got, x0bar [2][]float64
			for i, f := range []Field{chain{d: 4, stateFree: free}, chain32{chain: chain{d: 4, stateFree: free}}} {
				var sol *Solution
				sol, got[i] = solveAndGrad(t, f, x0, ybar, opt)
				g, err := Grad(sol, ybar, GradOptions{})
				if err != nil {
					t.Fatal(err)
				}
				x0bar[i] = g.X0
			}
			if !slices.Equal(got[0], got[1]) {
				t.Errorf("%v (state-free %v): with the float32 methods %v, without %v", m, free, got[1], got[0])
			}
			for k, w := range x0bar[0] {
				if d := math.Abs(x0bar[1][k] - w); d > 1e-6*(1+math.Abs(w)) {
					t.Errorf("%v (state-free %v): dL/dx0[%d] = %v with the float32 methods, %v without", m, free, k, x0bar[1][k], w)
				}
			}
		}
	}
	for _, free := range []bool{false, true} {
		sol, err := Solve(chain32{chain: chain{d: 4, stateFree: free}, noEval: true}, x0, nil, Options{Alpha: 0.6, T: 1, Steps: 20, Times: []float64{0.5, 1}, StoreFloat32: true})
		if err == nil {
			_, err = Grad(sol, ybar, GradOptions{})
		}
		if err != nil {
			t.Errorf("rectangle rule with float32 storage (state-free %v): %v", free, err)
		}
	}
	_, err := Solve(chain32{chain: chain{d: 4}, scale: 1e38}, x0, nil, Options{Alpha: 0.6, T: 1, Steps: 20, StoreFloat32: true})
	if !errors.Is(err, ErrNotFinite) {
		t.Errorf("a field value past float32's range: error %v, want ErrNotFinite", err)
	}
}
