package fode

import (
	"fmt"

	"gonum.org/v1/gonum/floats"
)

// forwardSensitivity differentiates the discrete solution in forward mode:
// it solves, with the same scheme and grid, the system augmented by one
// tangent y_k = ∂y/∂(input k) per component of x0 and θ,
//
//	D^α (y, y_1, …, y_K) = (f(t, y), J y_1 + ∂f/∂θ θ̇_1, …, J y_K + ∂f/∂θ θ̇_K).
//
// Every scheme is linear in its field values, so the tangents it computes
// are exactly the derivatives of its discrete solution (for the implicit
// schemes, of the converged fixed point).
func forwardSensitivity(sol *Solution, ybar []float64) (*Gradient, error) {
	f := sol.field.(JVPField)
	n, P := sol.Rows*sol.Dim, len(sol.theta)
	K := n + P
	aug := &tangentField{f: f, theta: sol.theta, n: n, P: P, thetadot: make([]float64, P)}
	x0 := make([]float64, n*(1+K))
	copy(x0, sol.State(0))
	for i := 0; i < n; i++ {
		x0[(1+i)*n+i] = 1 // direction i: ẋ0 = e_i
	}
	opt := sol.opt
	opt.Workers = 1
	var tsol *Solution
	var err error
	if sol.Method == Dopri5 {
		tsol, err = replayDopri5(aug, x0, sol, opt)
	} else {
		tsol, err = Solve(aug, x0, nil, opt)
	}
	if err != nil {
		return nil, fmt.Errorf("fode: forward-mode sensitivities: %w", err)
	}
	g := &Gradient{X0: make([]float64, n), Theta: make([]float64, P)}
	for i := range sol.Times {
		yb := ybar[i*n : (i+1)*n]
		out := tsol.At(i)
		for k := 0; k < K; k++ {
			d := floats.Dot(yb, out[(1+k)*n:(2+k)*n])
			if k < n {
				g.X0[k] += d
			} else {
				g.Theta[k-n] += d
			}
		}
	}
	return g, nil
}

// tangentField is the field of the state augmented by its tangents; the
// tangent k < n starts from e_k (a direction in x0) and the tangent n+p
// from zero with θ̇ = e_p.
type tangentField struct {
	f        JVPField
	theta    []float64
	n, P     int
	thetadot []float64
}

func (a *tangentField) Dim() int       { return a.n * (1 + a.n + a.P) }
func (a *tangentField) NumParams() int { return 0 }

func (a *tangentField) Eval(dst []float64, t float64, x, _ []float64) error {
	n := a.n
	y := x[:n]
	if err := a.f.Eval(dst[:n], t, y, a.theta); err != nil {
		return err
	}
	for k := 0; k < n+a.P; k++ {
		var td []float64
		if k >= n {
			td = a.thetadot
			td[k-n] = 1
		}
		err := a.f.JVP(dst[(1+k)*n:(2+k)*n], t, y, a.theta, x[(1+k)*n:(2+k)*n], td)
		if k >= n {
			td[k-n] = 0
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// VJP is not needed: the tangent system is only ever solved forward.
func (a *tangentField) VJP(_, _ []float64, _ float64, _, _, _ []float64) error {
	return fmt.Errorf("fode: the tangent system has no VJP")
}

// replayDopri5 runs the Dormand-Prince steps that sol accepted, with the
// same step sizes and no error control, so its tangents differentiate the
// same accepted discrete map as the adaptive checkpoint adjoint.
func replayDopri5(f Field, x0 []float64, sol *Solution, opt Options) (*Solution, error) {
	n := len(x0)
	s := &solver{f: f, opt: opt, alpha: 1, n: n, d: f.Dim(), steps: len(sol.hs)}
	s.sol = &Solution{Method: Dopri5, Alpha: 1, T: sol.T, Times: sol.Times, Steps: len(sol.hs),
		Rows: 1, Dim: n, field: f, opt: opt, grid: sol.grid, hs: sol.hs}
	s.sol.y = make([]float64, (len(sol.hs)+1)*n)
	copy(s.sol.y, x0)
	s.y0 = s.sol.y[:n]
	r := newRKStages(dopri5Method.tab.Stages(), n)
	for m, h := range sol.hs {
		if err := s.rkStep(dopri5Method, r, sol.grid[m], h, s.row(s.sol.y, m), s.row(s.sol.y, m+1), nil, m); err != nil {
			return nil, err
		}
	}
	s.outputs()
	return s.sol, nil
}
