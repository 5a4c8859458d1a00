package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
)

// unrolled builds the solve from primitive Gorgonia operations, step by
// step, with the weights of fode: the history F_m = [f_0; …; f_{m-1}]
// grows by one row per step (a Concat), and y_m = x + w_mᵀ F_m is one
// matrix product. Gorgonia keeps every F_m and every activation of the
// field for its backward pass, which is what direct backpropagation
// through a fractional solver costs.
func (b *FDEBlock) unrolled(x *G.Node) (*G.Node, error) {
	gf := b.field.(GraphField)
	o := b.cfg.Solve
	if len(o.Times) > 1 {
		return nil, fmt.Errorf("layers: the direct (unrolled) mode returns x(T) only")
	}
	N := o.Steps
	if N == 0 {
		N = max(1, int(o.T/o.StepSize+0.5))
	}
	h := o.T / float64(N)
	alpha := o.Alpha
	if o.Method == fode.Euler {
		alpha = 1
	}
	g := x.Graph()
	shape := x.Shape().Clone()
	n := shape.TotalSize()
	dt := x.Dtype()
	flat := func(v *G.Node) (*G.Node, error) { return G.Reshape(v, tensor.Shape{1, n}) }
	// Gorgonia identifies input nodes by name, so every weight vector
	// gets its own.
	nw := 0
	weights := func(w []float64) (*G.Node, error) {
		nw++
		return paramNode(g, dt, fmt.Sprintf("%p_w%d", b, nw), tensor.Shape{1, len(w)}, append([]float64(nil), w...))
	}
	// combine returns x + wᵀ F, reshaped like x.
	combine := func(F *G.Node, w []float64) (*G.Node, error) {
		wn, err := weights(w)
		if err != nil {
			return nil, err
		}
		s, err := G.Mul(wn, F)
		if err != nil {
			return nil, err
		}
		if s, err = G.Reshape(s, shape); err != nil {
			return nil, err
		}
		return G.Add(x, s)
	}
	f0, err := gf.Graph(0, x, b.params)
	if err != nil {
		return nil, fmt.Errorf("layers: unrolled field at step 0: %w", err)
	}
	F, err := flat(f0)
	if err != nil {
		return nil, err
	}
	var y *G.Node
	for m := 1; m <= N; m++ {
		t := float64(m) * h
		y, err = combine(F, fode.RectangleWeights(alpha, h, m))
		if err != nil {
			return nil, fmt.Errorf("layers: unrolled step %d: %w", m, err)
		}
		if o.Method == fode.PECE {
			fp, err := gf.Graph(t, y, b.params)
			if err != nil {
				return nil, fmt.Errorf("layers: unrolled predictor %d: %w", m, err)
			}
			w, s := fode.TrapezoidWeights(alpha, h, m)
			if y, err = combine(F, w); err != nil {
				return nil, err
			}
			sc := G.NewConstant(tensorScalar(dt, s))
			if fp, err = G.Mul(fp, sc); err != nil {
				return nil, err
			}
			if y, err = G.Add(y, fp); err != nil {
				return nil, err
			}
		}
		if m == N {
			break
		}
		fm, err := gf.Graph(t, y, b.params)
		if err != nil {
			return nil, fmt.Errorf("layers: unrolled field at step %d: %w", m, err)
		}
		fr, err := flat(fm)
		if err != nil {
			return nil, err
		}
		if F, err = G.Concat(0, F, fr); err != nil {
			return nil, fmt.Errorf("layers: unrolled step %d: %w", m, err)
		}
	}
	return y, nil
}

func tensorScalar(dt tensor.Dtype, v float64) any {
	if dt == tensor.Float32 {
		return float32(v)
	}
	return v
}
