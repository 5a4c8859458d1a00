package fode

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// fixedPoint solves x = g(x) by Anderson-accelerated iteration: the
// implicit steps, their adjoints and the starting blocks all go through
// it. Its buffers are allocated once.
type fixedPoint struct {
	acc *anderson
	gx  []float64
	IterationSettings
}

func newFixedPoint(n int, it IterationSettings) *fixedPoint {
	return &fixedPoint{acc: newAnderson(n), gx: make([]float64, n), IterationSettings: it}
}

// solve iterates from the guess in x until the largest change of a
// component is at most Tol·max(1, |g(x)|∞) and leaves that last image g(x)
// in x. g writes g(x) into gx. Errors of g come back unchanged; an image
// with a NaN or ±Inf, or no convergence within MaxIter iterations, is an
// error that starts with where() and wraps ErrUnstable (and ErrNotFinite).
func (p *fixedPoint) solve(x []float64, g func(gx, x []float64) error, where func() string) error {
	p.acc.reset()
	last := math.Inf(1)
	for range p.MaxIter {
		if err := g(p.gx, x); err != nil {
			return err
		}
		diff, scale := 0.0, 0.0
		for i, v := range p.gx {
			diff = math.Max(diff, math.Abs(v-x[i]))
			scale = math.Max(scale, math.Abs(v))
		}
		if i := firstNonFinite(p.gx); i >= 0 {
			return fmt.Errorf("%s diverged: component %d = %v: %w; reduce the step size: %w", where(), i, p.gx[i], ErrNotFinite, ErrUnstable)
		}
		if diff <= p.Tol*math.Max(1, scale) {
			copy(x, p.gx)
			return nil
		}
		last = diff
		p.acc.next(x, p.gx)
	}
	return fmt.Errorf("%s did not converge in %d iterations (last change %.3g); reduce the step size: %w", where(), p.MaxIter, last, ErrUnstable)
}

// anderson accelerates a fixed-point iteration x ← g(x) (Anderson mixing,
// "type II", Walker and Ni 2011): from the last m differences of residuals
// F = g(x) - x and of images g(x) it takes
//
//	γ = argmin ‖F_k - ΔF γ‖₂,  x_{k+1} = g(x_k) - ΔG γ.
//
// For a linear map this is GMRES in disguise, so the implicit steps and
// their adjoints converge also where the plain iteration's contraction
// factor h^α‖J‖ is near or above one. All storage is allocated once.
type anderson struct {
	m, n     int
	dF, dG   [][]float64 // ring buffers of the last m differences
	fPrev    []float64   // F_{k-1}
	gPrev    []float64   // g(x_{k-1})
	f        []float64   // F_k
	k        int         // iterations since reset
	ata, rhs []float64   // the m×m normal equations
	gamma    []float64
}

const andersonDepth = 5

func newAnderson(n int) *anderson {
	m := andersonDepth
	a := &anderson{m: m, n: n, fPrev: make([]float64, n), gPrev: make([]float64, n), f: make([]float64, n),
		ata: make([]float64, m*m), rhs: make([]float64, m), gamma: make([]float64, m)}
	a.dF, a.dG = make([][]float64, m), make([][]float64, m)
	for i := range a.dF {
		a.dF[i], a.dG[i] = make([]float64, n), make([]float64, n)
	}
	return a
}

func (a *anderson) reset() { a.k = 0 }

// next overwrites x, the current iterate, with the next one, given
// gx = g(x).
func (a *anderson) next(x, gx []float64) {
	floats.SubTo(a.f, gx, x)
	if a.k > 0 {
		slot := (a.k - 1) % a.m
		floats.SubTo(a.dF[slot], a.f, a.fPrev)
		floats.SubTo(a.dG[slot], gx, a.gPrev)
	}
	copy(a.fPrev, a.f)
	copy(a.gPrev, gx)
	cols := min(a.k, a.m)
	a.k++
	copy(x, gx)
	if cols == 0 || !a.solve(cols) {
		return
	}
	for c := 0; c < cols; c++ {
		floats.AddScaled(x, -a.gamma[c], a.dG[c])
	}
}

// solve finds γ from the normal equations ΔFᵀΔF γ = ΔFᵀF with a small
// Tikhonov shift; it reports false when they are degenerate, and the
// caller then takes the plain step.
func (a *anderson) solve(cols int) bool {
	A, b := a.ata[:cols*cols], a.rhs[:cols]
	var tr float64
	for i := 0; i < cols; i++ {
		b[i] = floats.Dot(a.dF[i], a.f)
		for j := 0; j <= i; j++ {
			v := floats.Dot(a.dF[i], a.dF[j])
			A[i*cols+j], A[j*cols+i] = v, v
		}
		tr += A[i*cols+i]
	}
	if !(tr > 0) || math.IsInf(tr, 0) {
		return false
	}
	for i := 0; i < cols; i++ {
		A[i*cols+i] += 1e-12 * tr
	}
	// Gaussian elimination with partial pivoting on the tiny system.
	g := a.gamma[:cols]
	copy(g, b)
	for p := 0; p < cols; p++ {
		piv := p
		for r := p + 1; r < cols; r++ {
			if math.Abs(A[r*cols+p]) > math.Abs(A[piv*cols+p]) {
				piv = r
			}
		}
		if A[piv*cols+p] == 0 {
			return false
		}
		if piv != p {
			for c := 0; c < cols; c++ {
				A[p*cols+c], A[piv*cols+c] = A[piv*cols+c], A[p*cols+c]
			}
			g[p], g[piv] = g[piv], g[p]
		}
		for r := p + 1; r < cols; r++ {
			l := A[r*cols+p] / A[p*cols+p]
			for c := p; c < cols; c++ {
				A[r*cols+c] -= l * A[p*cols+c]
			}
			g[r] -= l * g[p]
		}
	}
	for p := cols - 1; p >= 0; p-- {
		for c := p + 1; c < cols; c++ {
			g[p] -= A[p*cols+c] * g[c]
		}
		g[p] /= A[p*cols+p]
	}
	for _, v := range g {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
