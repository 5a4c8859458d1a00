package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/sparsetest"
)

// randomDiffusion returns the linear diffusion of d features per node on
// the symmetrically normalised symmetrisation of a random n × n matrix
// of the given density, in float32 arithmetic with f32.
func randomDiffusion(t *testing.T, rng *rand.Rand, n int, density float64, d int, f32 bool) *LinearDiffusion {
	t.Helper()
	sym, err := Symmetrize(sparsetest.RandomCSR(t, rng, n, n, density))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NormalizeSym(sym)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewLinearDiffusion(a, d)
	if err != nil {
		t.Fatal(err)
	}
	f.SetFloat32(f32)
	return f
}

// hidden wraps a field so that fode cannot see its StateFreeVJP.
type hidden struct{ fode.Field }

// TestLinearDiffusionStateFree: LinearDiffusion is a state-free field, and
// a rectangle solve that keeps only a few states gives the same output and
// gradient as the one that keeps all of them, in float64 and float32.
func TestLinearDiffusionStateFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, f32 := range []bool{false, true} {
		f := randomDiffusion(t, rng, 60, 0.1, 8, f32)
		var _ fode.StateFreeField = f
		x0, ybar := sparsetest.RandVec(rng, f.Dim()), sparsetest.RandVec(rng, f.Dim())
		opt := fode.Options{Alpha: 0.7, T: 3, Steps: 12}
		var outs [2][]float64
		var grads [2][]float64
		for i, field := range []fode.Field{f, hidden{f}} {
			sol, err := fode.Solve(field, x0, nil, opt)
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = append([]float64(nil), sol.Final()...)
			if kept := sol.State(5) != nil; kept != (i == 1) {
				t.Fatalf("float32 %v, field %d: grid state 5 kept = %v", f32, i, kept)
			}
			g, err := fode.Grad(sol, ybar, fode.GradOptions{})
			if err != nil {
				t.Fatal(err)
			}
			grads[i] = g.X0
		}
		for k := range outs[0] {
			if outs[0][k] != outs[1][k] {
				t.Fatalf("float32 %v: output %d = %v, %v with all states kept", f32, k, outs[0][k], outs[1][k])
			}
		}
		for k := range grads[0] {
			if grads[0][k] != grads[1][k] {
				t.Fatalf("float32 %v: dL/dx0[%d] = %v, %v with all states kept", f32, k, grads[0][k], grads[1][k])
			}
		}
	}
}

// TestLinearDiffusionEvalFloat32: EvalFloat32 and VJPFloat32 are Eval and
// VJP rounded in float64 mode and within float32 rounding of them in
// float32 mode, on a batch of two states; a float32-stored solve and its
// gradient, which call them instead, stay as close to the float64 ones; a
// destination of the wrong length is an error.
func TestLinearDiffusionEvalFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, f32 := range []bool{false, true} {
		f := randomDiffusion(t, rng, 300, 0.03, 16, f32)
		var _ fode.Float32Field = f
		x := sparsetest.RandVec(rng, 2*f.Dim())
		want := make([]float64, len(x))
		if err := f.Eval(want, 0, x, nil); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(x))
		if err := f.EvalFloat32(got, 0, x, nil); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if d := math.Abs(float64(got[i]) - w); (!f32 && got[i] != float32(w)) || d > 1e-6*(1+math.Abs(x[i])) {
				t.Fatalf("float32 mode %v: entry %d = %v, Eval %v", f32, i, got[i], w)
			}
		}
		v := sparsetest.RandVec(rng, len(x))
		if err := f.VJP(want, nil, 0, x, nil, v); err != nil {
			t.Fatal(err)
		}
		if err := f.VJPFloat32(got, nil, 0, x, nil, v); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if d := math.Abs(float64(got[i]) - w); (!f32 && got[i] != float32(w)) || d > 1e-6*(1+math.Abs(v[i])) {
				t.Fatalf("float32 mode %v: VJP entry %d = %v, VJP %v", f32, i, got[i], w)
			}
		}
		if f.EvalFloat32(got[1:], 0, x, nil) == nil || f.VJPFloat32(got[1:], nil, 0, x, nil, v) == nil {
			t.Error("a destination of the wrong length: no error")
		}
		ref, err := fode.Solve(f, x[:f.Dim()], nil, fode.Options{Alpha: 0.7, T: 3, Steps: 12})
		if err != nil {
			t.Fatal(err)
		}
		sol, err := fode.Solve(f, x[:f.Dim()], nil, fode.Options{Alpha: 0.7, T: 3, Steps: 12, StoreFloat32: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range ref.Final() {
			if d := math.Abs(sol.Final()[i] - w); d > 1e-6*(1+math.Abs(w)) {
				t.Fatalf("float32 mode %v: stored in float32, output %d = %v, want %v", f32, i, sol.Final()[i], w)
			}
		}
		gref, err := fode.Grad(ref, v[:f.Dim()], fode.GradOptions{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := fode.Grad(sol, v[:f.Dim()], fode.GradOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range gref.X0 {
			if d := math.Abs(g.X0[i] - w); d > 1e-5*(1+math.Abs(w)) {
				t.Fatalf("float32 mode %v: stored in float32, dL/dx0[%d] = %v, want %v", f32, i, g.X0[i], w)
			}
		}
	}
}
