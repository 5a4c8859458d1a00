package layers

import (
	"fmt"
	"sync/atomic"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
)

// unrolledIDs numbers the unrolled solves, so that the weight nodes of two
// Fwd calls (of one block or of several) never share a name: Gorgonia
// identifies input nodes by name.
var unrolledIDs atomic.Uint64

// unrolled builds the solve from primitive Gorgonia operations, step by
// step, with the weights of fode: the history F_m = [f_0; …; f_{m-1}]
// grows by one row per step (a Concat), and y_m = x + w_mᵀ F_m is one
// matrix product. Gorgonia keeps every F_m and every activation of the
// field for its backward pass, which is what backpropagation through a
// fractional solver's steps costs.
//
// It is the model fode solves: the same grid (Steps or StepSize), PECE
// with 1+PECE.Correctors corrector evaluations, and the states at
// Options.Times, interpolated linearly between grid points as fode does
// and stacked along a new leading axis when there are several.
func (b *FDEBlock) unrolled(x *G.Node) (*G.Node, error) {
	gf := b.field.(GraphField)
	o := b.cfg.Solve
	grid, err := o.Grid()
	if err != nil {
		return nil, fmt.Errorf("layers: unrolled solve: %w", err)
	}
	N := len(grid) - 1
	h := o.T / float64(N)
	times := o.Times
	if len(times) == 0 {
		times = []float64{o.T}
	}
	type point struct {
		j int
		w float64
	}
	points := make([]point, len(times))
	last := 0 // the last grid state an output needs
	for i, tau := range times {
		j, w := fode.Locate(grid, tau)
		points[i] = point{j, w}
		if w != 0 {
			last = max(last, j+1)
		} else {
			last = max(last, j)
		}
	}
	alpha := o.Alpha
	if o.Method == fode.Euler {
		alpha = 1
	}
	mu := 1 + o.PECE.Correctors
	g := x.Graph()
	shape := x.Shape().Clone()
	n := shape.TotalSize()
	dt := x.Dtype()
	flat := func(v *G.Node) (*G.Node, error) { return G.Reshape(v, tensor.Shape{1, n}) }
	// Gorgonia identifies input nodes by name, so every weight vector
	// gets its own.
	prefix := fmt.Sprintf("unrolled%d", unrolledIDs.Add(1))
	nw := 0
	weights := func(w []float64) (*G.Node, error) {
		nw++
		return paramNode(g, dt, fmt.Sprintf("%s_w%d", prefix, nw), tensor.Shape{1, len(w)}, append([]float64(nil), w...))
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
	scale := func(v *G.Node, c float64) (*G.Node, error) {
		return G.Mul(v, G.NewConstant(tensorScalar(dt, c)))
	}
	ys := make([]*G.Node, last+1)
	ys[0] = x
	var F *G.Node
	if last > 0 {
		f0, err := gf.Graph(0, x, b.params)
		if err != nil {
			return nil, fmt.Errorf("layers: unrolled field at step 0: %w", err)
		}
		if F, err = flat(f0); err != nil {
			return nil, err
		}
	}
	for m := 1; m <= last; m++ {
		t := grid[m]
		y, err := combine(F, fode.RectangleWeights(alpha, h, m))
		if err != nil {
			return nil, fmt.Errorf("layers: unrolled step %d: %w", m, err)
		}
		if o.Method == fode.PECE {
			// PE(CE)^μ: every corrector evaluates f at the previous
			// iterate and adds it to the same trapezoid history.
			w, s := fode.TrapezoidWeights(alpha, h, m)
			base, err := combine(F, w)
			if err != nil {
				return nil, fmt.Errorf("layers: unrolled corrector %d: %w", m, err)
			}
			for k := range mu {
				fp, err := gf.Graph(t, y, b.params)
				if err != nil {
					return nil, fmt.Errorf("layers: unrolled step %d, corrector %d: %w", m, k+1, err)
				}
				if fp, err = scale(fp, s); err != nil {
					return nil, err
				}
				if y, err = G.Add(base, fp); err != nil {
					return nil, err
				}
			}
		}
		ys[m] = y
		if m == last {
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
	outs := make(G.Nodes, len(points))
	for i, p := range points {
		y := ys[p.j]
		if p.w != 0 {
			// y_j + w (y_{j+1} - y_j), in fode's order of operations.
			d, err := G.Sub(ys[p.j+1], y)
			if err != nil {
				return nil, err
			}
			if d, err = scale(d, p.w); err != nil {
				return nil, err
			}
			if y, err = G.Add(y, d); err != nil {
				return nil, fmt.Errorf("layers: unrolled output time %v: %w", times[i], err)
			}
		}
		outs[i] = y
	}
	if len(outs) == 1 {
		return outs[0], nil
	}
	stacked := append(tensor.Shape{1}, shape...)
	for i, y := range outs {
		r, err := G.Reshape(y, stacked)
		if err != nil {
			return nil, fmt.Errorf("layers: unrolled output time %v: %w", times[i], err)
		}
		outs[i] = r
	}
	out, err := G.Concat(0, outs...)
	if err != nil {
		return nil, fmt.Errorf("layers: unrolled outputs: %w", err)
	}
	return out, nil
}

func tensorScalar(dt tensor.Dtype, v float64) any {
	if dt == tensor.Float32 {
		return float32(v)
	}
	return v
}
