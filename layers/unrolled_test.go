package layers

import (
	"fmt"
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
)

// solveModel is x → dense → FDE block → Σ y², with y the block's whole
// output (every output time), built identically (same seeds) for every
// mode.
func solveModel(t *testing.T, mode Mode, o fode.Options) *model {
	t.Helper()
	g := G.NewGraph()
	xv := make([]float64, 3*5)
	for i := range xv {
		xv[i] = math.Sin(float64(i) + 0.3)
	}
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 5), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(3, 5), tensor.WithBacking(xv))))
	d1, err := NewDense(g, tensor.Float64, "d1", 5, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	field, err := NewMLPField(4, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	block, err := NewFDEBlock(g, "fde", field, BlockConfig{Solve: o, Grad: mode, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	y, err := block.Fwd(G.Must(d1.Fwd(x)))
	if err != nil {
		t.Fatal(err)
	}
	m := &model{g: g, x: x, block: block, cost: G.Must(G.Sum(G.Must(G.Square(y))))}
	m.learn = append(append(G.Nodes{x}, d1.Learnables()...), block.Learnables()...)
	m.out = y
	return m
}

// TestUnrolledSameModel checks that the unrolled baseline is the model
// fode solves for every option it accepts: methods × output times (T,
// one inner time on and off the grid, several) × step count or step size
// (StepSize 0.3 with T = 1 is ceil = 4 steps of 0.25) × PECE correctors.
// The adjoint and unrolled losses, output shapes and gradients agree to
// 1e-9 relative.
func TestUnrolledSameModel(t *testing.T) {
	times := []struct {
		name string
		t    []float64
	}{
		{"T", nil},
		{"0.5", []float64{0.5}},
		{"0.3", []float64{0.3}},
		{"0.3,0.65,1", []float64{0.3, 0.65, 1}},
	}
	grids := []struct {
		name     string
		steps    int
		stepSize float64
	}{{"steps=8", 8, 0}, {"h=0.3", 0, 0.3}}
	for _, method := range []fode.Method{fode.Rectangle, fode.PECE, fode.Euler} {
		alpha := 0.6
		if method == fode.Euler {
			alpha = 1
		}
		correctors := []int{0}
		if method == fode.PECE {
			correctors = []int{0, 2}
		}
		for _, tm := range times {
			for _, gr := range grids {
				for _, c := range correctors {
					o := fode.Options{Method: method, Alpha: alpha, T: 1, Steps: gr.steps, StepSize: gr.stepSize, Times: tm.t, PECE: fode.PECESettings{Correctors: c}}
					t.Run(fmt.Sprintf("%v/times=%s/%s/correctors=%d", method, tm.name, gr.name, c), func(t *testing.T) {
						adj := solveModel(t, Adjoint, o)
						la, ga := adj.gradients(t)
						unr := solveModel(t, Unrolled, o)
						lu, gu := unr.gradients(t)
						if !adj.out.Shape().Eq(unr.out.Shape()) {
							t.Fatalf("output shape: adjoint %v, unrolled %v", adj.out.Shape(), unr.out.Shape())
						}
						if math.Abs(la-lu) > 1e-9*math.Abs(la) {
							t.Errorf("loss: adjoint %.15g, unrolled %.15g", la, lu)
						}
						if e := relDiff(gu, ga); e > 1e-9 {
							t.Errorf("adjoint vs unrolled gradients: relative difference %.3g", e)
						}
					})
				}
			}
		}
	}
}
