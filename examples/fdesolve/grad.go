package main

import (
	"fmt"
	"math"
	"time"

	"github.com/gofde/gofde/fode"
)

// problemInput is what a solve needs, kept for the gradient.
type problemInput struct {
	f     fode.Field
	theta []float64
	x0    []float64
	opt   fode.Options
}

// maxForwardDim bounds -dim for -grad forward, whose tangent system has
// dim·(dim+1+params) components.
const maxForwardDim = 64

// gradient fills res.Grad with the gradient of L = Σ_i x_i(T) by the mode
// c.grad.
func gradient(c config, res *result, sol *fode.Solution) error {
	if c.grad == "none" {
		return nil
	}
	p := res.problem
	ones := make([]float64, len(p.x0))
	for i := range ones {
		ones[i] = 1
	}
	g := &gradJSON{}
	start := time.Now()
	switch c.grad {
	case "adjoint", "continuous", "forward":
		mode := map[string]fode.GradMode{"adjoint": fode.Adjoint, "continuous": fode.Continuous, "forward": fode.Forward}[c.grad]
		if mode == fode.Forward && len(p.x0) > maxForwardDim {
			return fmt.Errorf("-grad forward solves a tangent system of dim·(dim+2) components: use -dim <= %d", maxForwardDim)
		}
		withAlpha := mode == fode.Adjoint && sol.Method.Fractional()
		multi := len(sol.Orders) > 0
		gr, err := fode.Grad(sol, ones, fode.GradOptions{Mode: mode, GradAlpha: withAlpha})
		if err != nil {
			return err
		}
		g.X0 = gr.X0
		if len(gr.Theta) > 0 {
			g.Lambda = &gr.Theta[0]
		}
		switch {
		case withAlpha && multi:
			g.Orders, g.Coeffs = gr.Orders, gr.Coeffs
		case withAlpha:
			g.Alpha = &gr.Alpha
		}
	case "fd":
		if err := finiteDifferences(p, g, sol.Method.Fractional()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown -grad %q (want none, adjoint, continuous, forward or fd)", c.grad)
	}
	secs := time.Since(start).Seconds()
	res.Grad, res.GradSecs = g, &secs
	return nil
}

// finiteDifferences differentiates L = Σ x(T) by central differences in
// each component of x0, in λ and (for fractional methods) in α.
func finiteDifferences(p problemInput, g *gradJSON, fractional bool) error {
	L := func(theta, x0 []float64, opt fode.Options) (float64, error) {
		sol, err := fode.Solve(p.f, x0, theta, opt)
		if err != nil {
			return 0, err
		}
		var s float64
		for _, v := range sol.Final() {
			s += v
		}
		return s, nil
	}
	central := func(v []float64, i int, opt fode.Options) (float64, error) {
		old := v[i]
		eps := 1e-6 * math.Max(1, math.Abs(old))
		v[i] = old + eps
		lp, err := L(p.theta, p.x0, opt)
		if err != nil {
			return 0, err
		}
		v[i] = old - eps
		lm, err := L(p.theta, p.x0, opt)
		v[i] = old
		return (lp - lm) / (2 * eps), err
	}
	g.X0 = make([]float64, len(p.x0))
	for i := range p.x0 {
		d, err := central(p.x0, i, p.opt)
		if err != nil {
			return err
		}
		g.X0[i] = d
	}
	if len(p.theta) > 0 {
		d, err := central(p.theta, 0, p.opt)
		if err != nil {
			return err
		}
		g.Lambda = &d
	}
	// between differentiates L from the solve lo to the solve hi, whose
	// option moved by dx.
	between := func(hi, lo fode.Options, dx float64) (float64, error) {
		lp, err := L(p.theta, p.x0, hi)
		if err != nil {
			return 0, err
		}
		lm, err := L(p.theta, p.x0, lo)
		return (lp - lm) / dx, err
	}
	const eps = 1e-6
	if len(p.opt.Orders) > 0 {
		// Each order (one-sided at 1) and coefficient in turn.
		for _, which := range []*[]float64{&g.Orders, &g.Coeffs} {
			src := p.opt.Orders
			if which == &g.Coeffs {
				src = p.opt.Coeffs
			}
			*which = make([]float64, len(src))
			for i, v := range src {
				hi, lo := p.opt, p.opt
				hv, lv := append([]float64(nil), src...), append([]float64(nil), src...)
				hv[i], lv[i] = v+eps, v-eps
				if which == &g.Orders {
					hv[i] = math.Min(1, hv[i])
					hi.Orders, lo.Orders = hv, lv
				} else {
					hi.Coeffs, lo.Coeffs = hv, lv
				}
				d, err := between(hi, lo, hv[i]-lv[i])
				if err != nil {
					return err
				}
				(*which)[i] = d
			}
		}
	} else if fractional {
		hi, lo := p.opt, p.opt
		hi.Alpha, lo.Alpha = math.Min(1, p.opt.Alpha+eps), p.opt.Alpha-eps
		d, err := between(hi, lo, hi.Alpha-lo.Alpha)
		if err != nil {
			return err
		}
		g.Alpha = &d
	}
	return nil
}
