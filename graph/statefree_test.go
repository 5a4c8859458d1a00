package graph

import (
	"math/rand/v2"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/sparsetest"
)

// hidden wraps a field so that fode cannot see its StateFreeVJP.
type hidden struct{ fode.Field }

// TestLinearDiffusionStateFree: LinearDiffusion is a state-free field, and
// a rectangle solve that keeps only a few states gives the same output and
// gradient as the one that keeps all of them, in float64 and float32.
func TestLinearDiffusionStateFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	sq := sparsetest.RandomCSR(t, rng, 60, 60, 0.1)
	sym, err := Symmetrize(sq)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NormalizeSym(sym)
	if err != nil {
		t.Fatal(err)
	}
	for _, f32 := range []bool{false, true} {
		f, err := NewLinearDiffusion(a, 8)
		if err != nil {
			t.Fatal(err)
		}
		f.SetFloat32(f32)
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
