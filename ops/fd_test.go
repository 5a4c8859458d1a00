package ops

import (
	"fmt"
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
)

// waveField is a nonlinear, time-dependent field on rows of 3 components,
//
//	f_i(t, x; θ) = -θ0 tanh(x_i) + θ1 x_{i+1 mod 3} + θ2 sin(3t),
//
// so that the adjoint's re-linearisation at every iterate and its time
// grid matter, unlike on a linear field.
type waveField struct{}

func (waveField) Dim() int       { return 3 }
func (waveField) NumParams() int { return 3 }

func (waveField) Eval(dst []float64, t float64, x, th []float64) error {
	s := math.Sin(3 * t)
	for r := 0; r < len(x); r += 3 {
		for i := range 3 {
			dst[r+i] = -th[0]*math.Tanh(x[r+i]) + th[1]*x[r+(i+1)%3] + th[2]*s
		}
	}
	return nil
}

func (waveField) VJP(xbar, thbar []float64, t float64, x, th, v []float64) error {
	// ∂f_i/∂x_i = -θ0 (1 - tanh² x_i) and ∂f_{i-1}/∂x_i = θ1.
	s := math.Sin(3 * t)
	for r := 0; r < len(x); r += 3 {
		for i := range 3 {
			tx := math.Tanh(x[r+i])
			if xbar != nil {
				xbar[r+i] = -th[0]*(1-tx*tx)*v[r+i] + th[1]*v[r+(i+2)%3]
			}
			if thbar != nil {
				thbar[0] -= tx * v[r+i]
				thbar[1] += x[r+(i+1)%3] * v[r+i]
				thbar[2] += s * v[r+i]
			}
		}
	}
	return nil
}

// fdGraph builds x0 (2×3) → FDE → Σ c_k out_k² with θ (a vector of 3) and,
// optionally, a learnable α node; with grad it adds the symbolic gradient.
type fdGraph struct {
	g         *G.ExprGraph
	x0, theta *G.Node
	alpha     *G.Node
	cost      *G.Node
	wrt       G.Nodes
	grads     G.Nodes
}

func newFDGraph(t *testing.T, cfg Config, x0, theta []float64, alpha float64, learnAlpha, grad bool) *fdGraph {
	t.Helper()
	f := &fdGraph{g: G.NewGraph()}
	f.x0 = G.NewMatrix(f.g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"), G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(append([]float64(nil), x0...)))))
	f.theta = G.NewVector(f.g, tensor.Float64, G.WithShape(3), G.WithName("theta"), G.WithValue(tensor.New(tensor.WithShape(3), tensor.WithBacking(append([]float64(nil), theta...)))))
	f.wrt = G.Nodes{f.x0, f.theta}
	if learnAlpha {
		f.alpha = G.NewScalar(f.g, tensor.Float64, G.WithName("alpha"), G.WithValue(alpha))
		f.wrt = append(f.wrt, f.alpha)
	} else {
		cfg.Solve.Alpha = alpha
	}
	out, err := FDE(f.x0, []*G.Node{f.theta}, f.alpha, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := out.Shape().TotalSize()
	c := make([]float64, n)
	for k := range c {
		c[k] = 1 + 0.1*float64(k)
	}
	cn := G.NewTensor(f.g, tensor.Float64, out.Dims(), G.WithShape(out.Shape().Clone()...), G.WithName("c"), G.WithValue(tensor.New(tensor.WithShape(out.Shape().Clone()...), tensor.WithBacking(c))))
	f.cost = G.Must(G.Sum(G.Must(G.HadamardProd(cn, G.Must(G.Square(out))))))
	if grad {
		if f.grads, err = G.Grad(f.cost, f.wrt...); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fdGraph) run(t *testing.T, lisp bool) {
	t.Helper()
	var vm G.VM
	if lisp {
		vm = G.NewLispMachine(f.g)
	} else {
		vm = G.NewTapeMachine(f.g)
	}
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
}

// TestFDEOpFiniteDifferences checks the gradients of the FDE node, with
// respect to x0, θ and a learnable α, against central differences of the
// loss computed by forward-only graphs: independent of fode.Grad. The
// difference is the fourth-order central one,
// (-L(+2ε) + 8L(+ε) - 8L(-ε) + L(-2ε)) / 12ε with ε = 1e-3 (truncation
// about ε⁴, rounding and solver tolerance about 1e-14/ε), and the
// gradients agree to 1e-9 relative (to max(1, |fd|)); the differences
// measured were below 2e-11.
func TestFDEOpFiniteDifferences(t *testing.T) {
	x0 := []float64{0.8, -0.5, 1.2, 0.3, 0.7, -1.1}
	theta := []float64{1.1, 0.4, 0.6}
	for _, c := range []struct {
		name       string
		method     fode.Method
		correctors int
		times      []float64
		learnAlpha bool
		lisp       bool
	}{
		{"rect", fode.Rectangle, 0, nil, true, false},
		{"pece", fode.PECE, 0, nil, true, false},
		{"pece/correctors=2", fode.PECE, 2, nil, true, false},
		{"pece/correctors=2/fixed-alpha/lisp", fode.PECE, 2, []float64{0.37, 1}, false, true},
		{"trap", fode.Trapezoid, 0, nil, true, false},
		{"gl", fode.GL, 0, nil, true, false},
		{"gl-implicit", fode.GLImplicit, 0, nil, true, false},
		{"l1", fode.L1, 0, nil, true, false},
		{"flmm", fode.FLMM, 0, nil, true, false},
		{"flmm/times", fode.FLMM, 0, []float64{0.37, 0.5, 1}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			const alpha = 0.6
			cfg := Config{Field: waveField{}, Solve: fode.Options{Method: c.method, Alpha: alpha, T: 1, Steps: 16, PECE: fode.PECESettings{Correctors: c.correctors}, Times: c.times, Iteration: fode.IterationSettings{Tol: 1e-15, MaxIter: 1000}}}
			gg := newFDGraph(t, cfg, x0, theta, alpha, c.learnAlpha, !c.lisp)
			gg.run(t, c.lisp)
			var got []float64
			for _, n := range gg.wrt {
				gv, err := n.Grad()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, values(t, gv)...)
			}
			loss := func(x, th []float64, a float64) float64 {
				f := newFDGraph(t, cfg, x, th, a, c.learnAlpha, false)
				f.run(t, false)
				return f.cost.Value().Data().(float64)
			}
			// point k of the packed input vector (x0, θ, [α]).
			packed := append(append(append([]float64(nil), x0...), theta...), alpha)
			nIn := len(x0) + len(theta)
			if c.learnAlpha {
				nIn++
			}
			if len(got) != nIn {
				t.Fatalf("%d gradient values, want %d", len(got), nIn)
			}
			at := func(k int, d float64) float64 {
				p := append([]float64(nil), packed...)
				p[k] += d
				return loss(p[:len(x0)], p[len(x0):len(x0)+len(theta)], p[len(p)-1])
			}
			const eps = 1e-3
			for k := range nIn {
				fd := (-at(k, 2*eps) + 8*at(k, eps) - 8*at(k, -eps) + at(k, -2*eps)) / (12 * eps)
				if d := math.Abs(got[k] - fd); d > 1e-9*math.Max(1, math.Abs(fd)) {
					t.Errorf("%s: gradient %.12g, finite differences %.12g (difference %.3g)", inputName(k, len(x0), len(theta)), got[k], fd, d)
				}
			}
		})
	}
}

func inputName(k, nx, nth int) string {
	switch {
	case k < nx:
		return fmt.Sprintf("x0[%d]", k)
	case k < nx+nth:
		return fmt.Sprintf("theta[%d]", k-nx)
	}
	return "alpha"
}
