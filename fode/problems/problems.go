// Package problems provides fractional differential equations with known
// solutions, as fode.Fields: the test problems of the solver tests, the
// benchmarks and the fdesolve command.
package problems

import (
	"errors"
	"fmt"
	"math"

	"github.com/gofde/gofde/fode"
)

// Linear is the relaxation equation D^α x_i = -λ r_i x_i on Dim independent
// components, with θ = (λ) and rates r_i spread evenly over [0.5, 2]
// (r = 1 when Dim = 1). Its solution is x_i(t) = x_i(0) E_α(-λ r_i t^α),
// with E_α the Mittag-Leffler function.
type Linear struct {
	rates []float64
}

// NewLinear returns the linear problem with dim components.
func NewLinear(dim int) (*Linear, error) {
	if dim < 1 {
		return nil, fmt.Errorf("problems: linear dimension %d must be at least 1", dim)
	}
	r := make([]float64, dim)
	for i := range r {
		r[i] = 1
		if dim > 1 {
			r[i] = 0.5 + 1.5*float64(i)/float64(dim-1)
		}
	}
	return &Linear{rates: r}, nil
}

// Dim returns the number of components.
func (p *Linear) Dim() int { return len(p.rates) }

// Rate returns r_i, the relative rate of component i.
func (p *Linear) Rate(i int) float64 { return p.rates[i] }

// NumParams returns 1: θ = (λ).
func (p *Linear) NumParams() int { return 1 }

// Rowwise reports true: every row is an independent sample.
func (p *Linear) Rowwise() bool { return true }

// Eval writes -λ r_i x_i into dst.
func (p *Linear) Eval(dst []float64, _ float64, x, theta []float64) error {
	if err := checkLen(len(dst), len(x), len(p.rates)); err != nil {
		return err
	}
	d := len(p.rates)
	for i, v := range x {
		dst[i] = -theta[0] * p.rates[i%d] * v
	}
	return nil
}

// VJP sets xbar_i = -λ r_i v_i and adds Σ_i -r_i x_i v_i to thetabar[0].
func (p *Linear) VJP(xbar, thetabar []float64, _ float64, x, theta, v []float64) error {
	if err := checkLen(len(v), len(x), len(p.rates)); err != nil {
		return err
	}
	d := len(p.rates)
	var g float64
	for i, vi := range v {
		r := p.rates[i%d]
		if xbar != nil {
			xbar[i] = -theta[0] * r * vi
		}
		g -= r * x[i] * vi
	}
	if thetabar != nil {
		thetabar[0] += g
	}
	return nil
}

// JVP writes -λ r_i xdot_i - θ̇_0 r_i x_i into dst.
func (p *Linear) JVP(dst []float64, _ float64, x, theta, xdot, thetadot []float64) error {
	if err := checkLen(len(xdot), len(x), len(p.rates)); err != nil {
		return err
	}
	d := len(p.rates)
	for i, v := range xdot {
		r := p.rates[i%d]
		dst[i] = -theta[0] * r * v
		if thetadot != nil {
			dst[i] -= thetadot[0] * r * x[i]
		}
	}
	return nil
}

// Exact writes x(t) = x0 E_α(-λ r_i t^α) into dst for the batch x0.
func (p *Linear) Exact(dst []float64, alpha, lambda, t float64, x0 []float64) {
	d := len(p.rates)
	ta := math.Pow(t, alpha)
	for i, v := range x0 {
		dst[i] = v * fode.MittagLeffler(alpha, 1, -lambda*p.rates[i%d]*ta)
	}
}

// Smooth is D^α y = -y + t² + 2 t^(2-α)/Γ(3-α), y(0) = 0, whose solution is
// y(t) = t² for every α: a problem with a smooth solution, on which the
// schemes show their full order. It has no parameters; every one of the
// Dim components solves the same equation.
type Smooth struct {
	alpha, c float64
	dim      int
}

// NewSmooth returns the smooth problem of order alpha with dim components.
func NewSmooth(alpha float64, dim int) (*Smooth, error) {
	if err := checkProblem(alpha, dim); err != nil {
		return nil, err
	}
	return &Smooth{alpha: alpha, c: 2 / math.Gamma(3-alpha), dim: dim}, nil
}

// Dim returns the number of components.
func (p *Smooth) Dim() int { return p.dim }

// NumParams returns 0.
func (p *Smooth) NumParams() int { return 0 }

// Eval writes -y + t² + 2 t^(2-α)/Γ(3-α) into dst.
func (p *Smooth) Eval(dst []float64, t float64, x, _ []float64) error {
	if err := checkLen(len(dst), len(x), p.dim); err != nil {
		return err
	}
	g := t*t + p.c*math.Pow(t, 2-p.alpha)
	for i, v := range x {
		dst[i] = g - v
	}
	return nil
}

// VJP sets xbar = -v.
func (p *Smooth) VJP(xbar, _ []float64, _ float64, x, _, v []float64) error {
	if err := checkLen(len(v), len(x), p.dim); err != nil {
		return err
	}
	for i, vi := range v {
		if xbar != nil {
			xbar[i] = -vi
		}
	}
	return nil
}

// JVP writes -xdot into dst.
func (p *Smooth) JVP(dst []float64, _ float64, x, _, xdot, _ []float64) error {
	if err := checkLen(len(xdot), len(x), p.dim); err != nil {
		return err
	}
	for i, v := range xdot {
		dst[i] = -v
	}
	return nil
}

// Exact returns t².
func (p *Smooth) Exact(t float64) float64 { return t * t }

// DFF is the nonlinear benchmark of Diethelm, Ford and Freed (2002):
//
//	D^α y = Γ(9)/Γ(9-α) t^(8-α) - 3 Γ(5+α/2)/Γ(5-α/2) t^(4-α/2)
//	        + 9/4 Γ(α+1) + (3/2 t^(α/2) - t⁴)³ - y^(3/2),  y(0) = 0,
//
// with solution y(t) = t⁸ - 3 t^(4+α/2) + 9/4 t^α, which is non-negative.
// y^(3/2) is extended to y·√|y| for negative y so that the field stays
// finite at any state. It has no parameters.
type DFF struct {
	alpha, c1, c2, c3 float64
	dim               int
}

// NewDFF returns the Diethelm-Ford-Freed problem of order alpha with dim
// identical components.
func NewDFF(alpha float64, dim int) (*DFF, error) {
	if err := checkProblem(alpha, dim); err != nil {
		return nil, err
	}
	return &DFF{
		alpha: alpha,
		c1:    math.Gamma(9) / math.Gamma(9-alpha),
		c2:    3 * math.Gamma(5+alpha/2) / math.Gamma(5-alpha/2),
		c3:    9.0 / 4 * math.Gamma(alpha+1),
		dim:   dim,
	}, nil
}

// Dim returns the number of components.
func (p *DFF) Dim() int { return p.dim }

// NumParams returns 0.
func (p *DFF) NumParams() int { return 0 }

// Eval writes the right-hand side of the DFF equation into dst.
func (p *DFF) Eval(dst []float64, t float64, x, _ []float64) error {
	if err := checkLen(len(dst), len(x), p.dim); err != nil {
		return err
	}
	a := p.alpha
	u := 1.5*math.Pow(t, a/2) - t*t*t*t
	g := p.c1*math.Pow(t, 8-a) - p.c2*math.Pow(t, 4-a/2) + p.c3 + u*u*u
	for i, v := range x {
		dst[i] = g - v*math.Sqrt(math.Abs(v))
	}
	return nil
}

// VJP sets xbar = -3/2 √|y| v.
func (p *DFF) VJP(xbar, _ []float64, _ float64, x, _, v []float64) error {
	if err := checkLen(len(v), len(x), p.dim); err != nil {
		return err
	}
	for i, vi := range v {
		if xbar != nil {
			xbar[i] = -1.5 * math.Sqrt(math.Abs(x[i])) * vi
		}
	}
	return nil
}

// JVP writes -3/2 √|y| xdot into dst.
func (p *DFF) JVP(dst []float64, _ float64, x, _, xdot, _ []float64) error {
	if err := checkLen(len(xdot), len(x), p.dim); err != nil {
		return err
	}
	for i, v := range xdot {
		dst[i] = -1.5 * math.Sqrt(math.Abs(x[i])) * v
	}
	return nil
}

// Exact returns t⁸ - 3 t^(4+α/2) + 9/4 t^α.
func (p *DFF) Exact(t float64) float64 {
	a := p.alpha
	return math.Pow(t, 8) - 3*math.Pow(t, 4+a/2) + 2.25*math.Pow(t, a)
}

func checkProblem(alpha float64, dim int) error {
	if !(alpha > 0 && alpha <= 1) {
		return fmt.Errorf("problems: order alpha = %v outside (0, 1]", alpha)
	}
	if dim < 1 {
		return fmt.Errorf("problems: dimension %d must be at least 1", dim)
	}
	return nil
}

var errShape = errors.New("problems: slice lengths do not match")

func checkLen(a, b, d int) error {
	if a != b || b%d != 0 {
		return fmt.Errorf("%w: %d and %d for dimension %d", errShape, a, b, d)
	}
	return nil
}
