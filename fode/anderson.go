package fode

import "math"

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
	for i := range a.f {
		a.f[i] = gx[i] - x[i]
	}
	if a.k > 0 {
		slot := (a.k - 1) % a.m
		df, dg := a.dF[slot], a.dG[slot]
		for i := range df {
			df[i] = a.f[i] - a.fPrev[i]
			dg[i] = gx[i] - a.gPrev[i]
		}
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
		addScaledTo(x, x, -a.gamma[c], a.dG[c])
	}
}

// solve finds γ from the normal equations ΔFᵀΔF γ = ΔFᵀF with a small
// Tikhonov shift; it reports false when they are degenerate, and the
// caller then takes the plain step.
func (a *anderson) solve(cols int) bool {
	A, b := a.ata[:cols*cols], a.rhs[:cols]
	var tr float64
	for i := 0; i < cols; i++ {
		b[i] = dot(a.dF[i], a.f)
		for j := 0; j <= i; j++ {
			v := dot(a.dF[i], a.dF[j])
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
