package fode

import (
	"fmt"
	"math"
)

// adj carries the state of one reverse sweep.
type adj struct {
	sol      *Solution
	f        Field
	theta    []float64
	n, N     int
	pool     *rowPool
	outs     map[int][]float64 // the output cotangents, by grid index
	ybar     []float64         // cotangents of the grid states, completed in reverse (dense; see denseYbar)
	thetabar []float64
	x0bar    []float64
	dalpha   float64
	xb       []float64 // scratch for one VJP result
	v        []float64 // scratch for one VJP argument
	acc      *anderson // for the implicit adjoint solves
	gx       []float64
}

func newAdj(sol *Solution, ybar []float64) *adj {
	n := sol.Rows * sol.Dim
	a := &adj{
		sol: sol, f: sol.field, theta: sol.theta, n: n, N: len(sol.grid) - 1,
		outs:     gridCotangents(sol, ybar),
		thetabar: make([]float64, len(sol.theta)),
		x0bar:    make([]float64, n),
		xb:       getFloats(n),
		v:        getFloats(n),
	}
	a.pool = newRowPool(a.f, a.theta, sol.Rows, sol.opt.Workers)
	if a.pool != nil {
		a.pool.thetabar = make([][]float64, a.pool.workers)
		for i := range a.pool.thetabar {
			a.pool.thetabar[i] = make([]float64, len(a.theta))
		}
	}
	return a
}

// finish reduces the per-worker parameter cotangents, stops the workers
// and packs the result. Calling it again is harmless.
func (a *adj) finish() *Gradient {
	if a.pool != nil {
		for _, tb := range a.pool.thetabar {
			addScaledTo(a.thetabar, a.thetabar, 1, tb)
		}
		a.pool.close()
		a.pool = nil
	}
	// The scratch streams go back for the next sweep.
	putFloats(a.xb)
	putFloats(a.v)
	putFloats(a.ybar)
	a.xb, a.v, a.ybar = nil, nil, nil
	return &Gradient{X0: a.x0bar, Theta: a.thetabar, Alpha: a.dalpha}
}

func (a *adj) row(buf []float64, j int) []float64 { return buf[j*a.n : (j+1)*a.n] }

// denseYbar lays the output cotangents out on every grid state, for the
// sweeps that accumulate into the grid cotangents in place.
func (a *adj) denseYbar() {
	a.ybar = getZeroed((a.N + 1) * a.n)
	for j, o := range a.outs {
		copy(a.row(a.ybar, j), o)
	}
}

// vjp writes (∂f/∂x)ᵀ v at (t, x) into xbar and, when withTheta is set,
// adds (∂f/∂θ)ᵀ v into the parameter cotangent.
func (a *adj) vjp(xbar []float64, withTheta bool, t float64, x, v []float64, step int) error {
	var err error
	if a.pool != nil {
		err = a.pool.run(rowJob{vjp: true, t: t, dst: xbar, x: x, v: v, withPar: withTheta})
	} else {
		var tb []float64
		if withTheta {
			tb = a.thetabar
		}
		err = a.f.VJP(xbar, tb, t, x, a.theta, v)
	}
	if err != nil {
		return fmt.Errorf("fode: adjoint step %d (t = %g): field VJP: %w", step, t, err)
	}
	if i := firstNonFinite(xbar); i >= 0 {
		return fmt.Errorf("fode: adjoint step %d (t = %g): cotangent component %d = %v: %w", step, t, i, xbar[i], ErrNotFinite)
	}
	return nil
}

// eval evaluates the field (for the α-derivative terms that need a field
// value the forward pass did not keep).
func (a *adj) eval(dst []float64, t float64, x []float64, step int) error {
	if err := a.f.Eval(dst, t, x, a.theta); err != nil {
		return fmt.Errorf("fode: adjoint step %d (t = %g): field: %w", step, t, err)
	}
	return nil
}

// implicitAdjoint solves λ = r + Jᵀ(F + κλ), J = ∂f/∂x at (t, y), by
// Anderson-accelerated fixed-point iteration (the transpose of the forward
// iteration), then adds (∂f/∂θ)ᵀ(F + κλ) to the parameter cotangent. F may
// be nil (zero).
func (a *adj) implicitAdjoint(lam, r, F []float64, kappa, t float64, y []float64, step int) error {
	if a.acc == nil {
		a.acc = newAnderson(a.n)
		a.gx = make([]float64, a.n)
	}
	a.acc.reset()
	copy(lam, r)
	opt := a.sol.opt
	done := false
	for it := 0; ; it++ {
		for i := range a.v {
			a.v[i] = kappa * lam[i]
			if F != nil {
				a.v[i] += F[i]
			}
		}
		if err := a.vjp(a.xb, done, t, y, a.v, step); err != nil {
			return err
		}
		diff, scale := 0.0, 0.0
		for i, x := range a.xb {
			g := r[i] + x
			diff = math.Max(diff, math.Abs(g-lam[i]))
			scale = math.Max(scale, math.Abs(g))
			a.gx[i] = g
		}
		if done {
			copy(lam, a.gx)
			return nil
		}
		// On convergence, one more product at the final λ also adds the
		// parameter cotangent.
		if done = diff <= opt.Tol*math.Max(1, scale); done {
			continue
		}
		if it >= opt.MaxIter {
			return fmt.Errorf("fode: adjoint step %d (t = %g): implicit adjoint solve did not converge in %d iterations", step, t, opt.MaxIter)
		}
		a.acc.next(lam, a.gx)
	}
}

// alphaPass returns Σ_k Σ_{m ≥ from} λ^(k)_m · Σ_{j<m} dk^(k)_{m-j} v_j, the
// part of dL/dα that comes from the α-dependence of the history weights,
// with the forward stream v and the cotangents λ^(k) stored reversed (row
// N-m holds λ_m).
func (a *adj) alphaPass(dk [][]float64, stream []float64, lams [][]float64, from int) float64 {
	hist := a.sol.opt.History.NewHistory(dk, stream, a.n)
	dst := make([][]float64, len(dk))
	for k := range dst {
		dst[k] = make([]float64, a.n)
	}
	var s float64
	for m := from; m <= a.N; m++ {
		hist.Sum(dst, m)
		for k, d := range dst {
			s += dot(d, a.row(lams[k], a.N-m))
		}
	}
	return s
}

func dot(x, y []float64) float64 {
	var s float64
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// alphaDerivative returns dw/dα of the weights w(α) by a fourth-order
// difference with step δ = min(1e-3, α/8): central where α+2δ ≤ 1 and
// one-sided below α otherwise. The weights are smooth in α, so the result
// is accurate to about 1e-11 relative.
func alphaDerivative(alpha float64, w func(a float64) []float64) []float64 {
	d := math.Min(1e-3, alpha/8)
	var terms []struct{ c, x float64 }
	if alpha+2*d <= 1 {
		terms = []struct{ c, x float64 }{{-1, 2}, {8, 1}, {-8, -1}, {1, -2}}
	} else {
		terms = []struct{ c, x float64 }{{25, 0}, {-48, -1}, {36, -2}, {-16, -3}, {3, -4}}
	}
	var out []float64
	for _, tm := range terms {
		v := w(alpha + tm.x*d)
		if out == nil {
			out = make([]float64, len(v))
		}
		for i, x := range v {
			out[i] += tm.c * x
		}
	}
	for i := range out {
		out[i] /= 12 * d
	}
	return out
}

// scalarAlphaDerivative differentiates a scalar weight.
func scalarAlphaDerivative(alpha float64, w func(a float64) float64) float64 {
	return alphaDerivative(alpha, func(a float64) []float64 { return []float64{w(a)} })[0]
}

// discreteAdjoint runs the reverse sweep of the solution's scheme.
func discreteAdjoint(sol *Solution, ybar []float64, withAlpha bool) (*Gradient, error) {
	a := newAdj(sol, ybar)
	if sol.Method != Rectangle {
		a.denseYbar()
	}
	var err error
	switch sol.Method {
	case Rectangle:
		err = a.rectangle(withAlpha)
	case PECE:
		err = a.pece(withAlpha)
	case GL:
		err = a.grunwaldExplicit(withAlpha)
	case GLImplicit, L1:
		err = a.stateStreamImplicit(withAlpha)
	case Trapezoid:
		err = a.trapezoid(withAlpha)
	case FLMM:
		err = a.flmm(withAlpha)
	case Euler:
		err = a.euler()
	case RK4:
		err = a.rk(&rk4Tableau)
	case Dopri5:
		err = a.rk(&dopri5Tableau)
	default:
		err = fmt.Errorf("fode: no adjoint for method %v", sol.Method)
	}
	g := a.finish()
	if err != nil {
		return nil, err
	}
	return g, nil
}

// rectangle: y_m = y0 + Σ_{j<m} w_{m-j} f_j. The cotangent of f_j is the
// transposed history sum Σ_{m>j} w_{m-j} ȳ_m, and every y_m feeds y0.
func (a *adj) rectangle(withAlpha bool) error {
	N, n, s := a.N, a.n, a.sol
	w := rectKernel(s.Alpha, s.h, N)
	rev := getZeroed(N * n)
	defer putFloats(rev)
	kernels := [][]float64{w}
	fbar := make([]float64, n)
	dst := [][]float64{fbar}
	var fbarAlpha []float64
	if withAlpha {
		// The α-derivative of the weights rides along as a second kernel
		// of the same transposed sums: dL/dα = Σ_j f_j · Σ_{m>j} w'_{m-j} ȳ_m.
		kernels = append(kernels, alphaDerivative(s.Alpha, func(al float64) []float64 { return rectKernel(al, s.h, N) }))
		fbarAlpha = make([]float64, n)
		dst = append(dst, fbarAlpha)
	}
	hist := s.opt.History.NewHistory(kernels, rev, n)
	// Row N-j of rev accumulates ȳ_j (j ≥ 1), so no grid-sized array of
	// cotangents is needed beside the stream.
	for j, o := range a.outs {
		if j >= 1 {
			copy(a.row(rev, N-j), o)
		}
	}
	copy(a.x0bar, a.row(rev, 0))
	for j := N - 1; j >= 0; j-- {
		hist.Sum(dst, N-j)
		if withAlpha {
			a.dalpha += dot(fbarAlpha, a.row(s.fv, j))
		}
		if err := a.vjp(a.xb, true, s.grid[j], s.State(j), fbar, j); err != nil {
			return err
		}
		if j >= 1 {
			yb := a.row(rev, N-j)
			addScaledTo(yb, yb, 1, a.xb)
			addScaledTo(a.x0bar, a.x0bar, 1, yb)
			continue
		}
		addScaledTo(a.x0bar, a.x0bar, 1, a.xb)
		if o := a.outs[0]; o != nil {
			addScaledTo(a.x0bar, a.x0bar, 1, o)
		}
	}
	return nil
}

// pece reverses PE(CE)^μ: within step m the chain p → q¹ → … → y_m, with
// C̄_m the sum of the iterates' cotangents (the corrector history enters
// every iterate) and p̄_m the predictor's; f_j's cotangent collects both
// transposed history sums.
func (a *adj) pece(withAlpha bool) error {
	N, n, s := a.N, a.n, a.sol
	mu := 1 + s.opt.Correctors
	b := trapKernel(s.Alpha, s.h, N)
	c := rectKernel(s.Alpha, s.h, N)
	sc := trapScale(s.Alpha, s.h)
	revC, revP := getZeroed(N*n), getZeroed(N*n)
	defer putFloats(revC)
	defer putFloats(revP)
	hC := s.opt.History.NewHistory([][]float64{b}, revC, n)
	hP := s.opt.History.NewHistory([][]float64{c}, revP, n)
	fbar, tmp := make([]float64, n), make([]float64, n)
	dC, dP := [][]float64{fbar}, [][]float64{tmp}
	corr0 := make([]float64, n) // Σ_m (a_{0,m} - b_m) C̄_m: the first weight is not Toeplitz
	qbar, cbar, fq := make([]float64, n), make([]float64, n), make([]float64, n)
	var dsc float64
	if withAlpha {
		dsc = scalarAlphaDerivative(s.Alpha, func(al float64) float64 { return trapScale(al, s.h) })
	}
	var sDeriv float64 // Σ_m Σ_k s' q̄^k · f(q^{k-1})
	for m := N; m >= 1; m-- {
		yb := a.row(a.ybar, m)
		t := s.grid[m]
		if m < N {
			hC.Sum(dC, N-m)
			hP.Sum(dP, N-m)
			addScaledTo(fbar, fbar, 1, tmp)
			if err := a.vjp(a.xb, true, t, s.State(m), fbar, m); err != nil {
				return err
			}
			addScaledTo(yb, yb, 1, a.xb)
		}
		copy(qbar, yb)
		clear(cbar)
		for k := mu; k >= 1; k-- {
			addScaledTo(cbar, cbar, 1, qbar)
			q := a.row(s.pred[k-1], m)
			if withAlpha {
				if err := a.eval(fq, t, q, m); err != nil {
					return err
				}
				sDeriv += dsc * dot(qbar, fq)
			}
			for i := range fq {
				fq[i] = sc * qbar[i]
			}
			if err := a.vjp(a.xb, true, t, q, fq, m); err != nil {
				return err
			}
			copy(qbar, a.xb)
		}
		copy(a.row(revC, N-m), cbar)
		copy(a.row(revP, N-m), qbar)
		for i := range a.x0bar {
			a.x0bar[i] += cbar[i] + qbar[i]
		}
		addScaledTo(corr0, corr0, trapFirst(s.Alpha, sc, m)-b[m], cbar)
	}
	hC.Sum(dC, N)
	hP.Sum(dP, N)
	for i := range fbar {
		fbar[i] += tmp[i] + corr0[i]
	}
	if err := a.vjp(a.xb, true, 0, s.State(0), fbar, 0); err != nil {
		return err
	}
	for i := range a.x0bar {
		a.x0bar[i] += a.ybar[i] + a.xb[i]
	}
	if withAlpha {
		db := alphaDerivative(s.Alpha, func(al float64) []float64 { return trapKernel(al, s.h, N) })
		dc := alphaDerivative(s.Alpha, func(al float64) []float64 { return rectKernel(al, s.h, N) })
		a.dalpha = a.alphaPass([][]float64{db, dc}, s.fv, [][]float64{revC, revP}, 1) + sDeriv
		f0 := a.row(s.fv, 0)
		for m := 1; m <= N; m++ {
			dfirst := scalarAlphaDerivative(s.Alpha, func(al float64) float64 { return trapFirst(al, trapScale(al, s.h), m) })
			a.dalpha += (dfirst - db[m]) * dot(a.row(revC, N-m), f0)
		}
	}
	return nil
}

// grunwaldExplicit: y_m = (1+G_m) y0 - Σ_{j<m} g_{m-j} y_j + h^α f_{m-1}.
func (a *adj) grunwaldExplicit(withAlpha bool) error {
	N, n, s := a.N, a.n, a.sol
	g, G := glKernel(s.Alpha, N)
	ha := math.Pow(s.h, s.Alpha)
	rev := getZeroed(N * n)
	defer putFloats(rev)
	hist := s.opt.History.NewHistory([][]float64{g}, rev, n)
	sum := make([]float64, n)
	dst := [][]float64{sum}
	for m := N; m >= 0; m-- {
		yb := a.row(a.ybar, m)
		if m < N {
			hist.Sum(dst, N-m)
			addScaledTo(yb, yb, -1, sum)
			for i := range a.v {
				a.v[i] = ha * a.row(a.ybar, m+1)[i]
			}
			if err := a.vjp(a.xb, true, s.grid[m], s.State(m), a.v, m); err != nil {
				return err
			}
			addScaledTo(yb, yb, 1, a.xb)
		}
		if m == 0 {
			addScaledTo(a.x0bar, a.x0bar, 1, yb)
			break
		}
		copy(a.row(rev, N-m), yb)
		addScaledTo(a.x0bar, a.x0bar, 1+G[m], yb)
	}
	if withAlpha {
		return a.glAlpha(rev, func(m int, fy []float64) (float64, error) {
			dha := scalarAlphaDerivative(s.Alpha, func(al float64) float64 { return math.Pow(s.h, al) })
			if err := a.eval(fy, s.grid[m-1], s.State(m-1), m-1); err != nil {
				return 0, err
			}
			return dha, nil
		})
	}
	return nil
}

// glAlpha adds the α-derivative of the Grünwald-Letnikov weights, and of
// the factor in front of the field value returned by fval, to dL/dα.
func (a *adj) glAlpha(rev []float64, fval func(m int, fy []float64) (float64, error)) error {
	N, s := a.N, a.sol
	dg := alphaDerivative(s.Alpha, func(al float64) []float64 { g, _ := glKernel(al, N); return g })
	dG := alphaDerivative(s.Alpha, func(al float64) []float64 { _, G := glKernel(al, N); return G })
	a.dalpha = -a.alphaPass([][]float64{dg}, s.y, [][]float64{rev}, 1)
	fy := make([]float64, a.n)
	for m := 1; m <= N; m++ {
		lam := a.row(rev, N-m)
		a.dalpha += dG[m] * dot(lam, s.State(0))
		dk, err := fval(m, fy)
		if err != nil {
			return err
		}
		a.dalpha += dk * dot(lam, fy)
	}
	return nil
}

// stateStreamImplicit reverses the implicit schemes over the state stream,
// y_m = B_m + κ f(t_m, y_m):
//
//	GL-implicit: B_m = (1+G_m) y0 - Σ_{j<m} g_{m-j} y_j,           κ = h^α;
//	L1:          B_m = y_{m-1} + b_m y0 - Σ_{j<m} e_{m-j} y_j,     κ = h^α Γ(2-α).
//
// λ_m = B̄_m solves λ = r + κ Jᵀλ, with r the cotangent y_m receives from
// the outputs and from later steps.
func (a *adj) stateStreamImplicit(withAlpha bool) error {
	N, n, s := a.N, a.n, a.sol
	l1 := s.Method == L1
	kern, y0coef := glKernel(s.Alpha, N)
	kappaOf := func(al float64) float64 { return math.Pow(s.h, al) }
	if l1 {
		b, e := l1Kernel(s.Alpha, N)
		kern, y0coef = e, b
		kappaOf = func(al float64) float64 { return math.Pow(s.h, al) * math.Gamma(2-al) }
	} else {
		for m := range y0coef {
			y0coef[m]++ // 1 + G_m
		}
	}
	kappa := kappaOf(s.Alpha)
	rev := getZeroed(N * n)
	defer putFloats(rev)
	hist := s.opt.History.NewHistory([][]float64{kern}, rev, n)
	sum, r := make([]float64, n), make([]float64, n)
	dst := [][]float64{sum}
	for m := N; m >= 1; m-- {
		copy(r, a.row(a.ybar, m))
		if m < N {
			hist.Sum(dst, N-m)
			addScaledTo(r, r, -1, sum)
			if l1 {
				addScaledTo(r, r, 1, a.row(rev, N-m-1)) // λ_{m+1}: y_m is y_{(m+1)-1} in B_{m+1}
			}
		}
		lam := a.row(rev, N-m)
		if err := a.implicitAdjoint(lam, r, nil, kappa, s.grid[m], s.State(m), m); err != nil {
			return err
		}
		addScaledTo(a.x0bar, a.x0bar, y0coef[m], lam)
	}
	hist.Sum(dst, N)
	for i := range a.x0bar {
		a.x0bar[i] += a.ybar[i] - sum[i]
		if l1 && N >= 1 {
			a.x0bar[i] += a.row(rev, N-1)[i]
		}
	}
	if !withAlpha {
		return nil
	}
	dk := scalarAlphaDerivative(s.Alpha, kappaOf)
	fval := func(m int, fy []float64) (float64, error) {
		return dk, a.eval(fy, s.grid[m], s.State(m), m)
	}
	if !l1 {
		return a.glAlpha(rev, fval)
	}
	de := alphaDerivative(s.Alpha, func(al float64) []float64 { _, e := l1Kernel(al, N); return e })
	db := alphaDerivative(s.Alpha, func(al float64) []float64 { b, _ := l1Kernel(al, N); return b })
	a.dalpha = -a.alphaPass([][]float64{de}, s.y, [][]float64{rev}, 1)
	fy := make([]float64, n)
	for m := 1; m <= N; m++ {
		lam := a.row(rev, N-m)
		a.dalpha += db[m] * dot(lam, s.State(0))
		if _, err := fval(m, fy); err != nil {
			return err
		}
		a.dalpha += dk * dot(lam, fy)
	}
	return nil
}

// trapezoid reverses the implicit product trapezoid rule
// y_m = y0 + Σ_{j<m} a_{j,m} f_j + s f(t_m, y_m): the cotangent of f_m is
// F_m + s λ_m with F_m the transposed history sum, and λ_m = ȳ_m solves
// λ = out_m + Jᵀ(F_m + s λ).
func (a *adj) trapezoid(withAlpha bool) error {
	N, n, s := a.N, a.n, a.sol
	b := trapKernel(s.Alpha, s.h, N)
	sc := trapScale(s.Alpha, s.h)
	rev := getZeroed(N * n)
	defer putFloats(rev)
	hist := s.opt.History.NewHistory([][]float64{b}, rev, n)
	F := make([]float64, n)
	dst := [][]float64{F}
	corr0 := make([]float64, n)
	for m := N; m >= 1; m-- {
		if m < N {
			hist.Sum(dst, N-m)
		} else {
			clear(F)
		}
		lam := a.row(rev, N-m)
		if err := a.implicitAdjoint(lam, a.row(a.ybar, m), F, sc, s.grid[m], s.State(m), m); err != nil {
			return err
		}
		addScaledTo(a.x0bar, a.x0bar, 1, lam)
		addScaledTo(corr0, corr0, trapFirst(s.Alpha, sc, m)-b[m], lam)
	}
	hist.Sum(dst, N)
	addScaledTo(F, F, 1, corr0)
	if err := a.vjp(a.xb, true, 0, s.State(0), F, 0); err != nil {
		return err
	}
	for i := range a.x0bar {
		a.x0bar[i] += a.ybar[i] + a.xb[i]
	}
	if withAlpha {
		db := alphaDerivative(s.Alpha, func(al float64) []float64 { return trapKernel(al, s.h, N) })
		dsc := scalarAlphaDerivative(s.Alpha, func(al float64) float64 { return trapScale(al, s.h) })
		a.dalpha = a.alphaPass([][]float64{db}, s.fv, [][]float64{rev}, 1)
		f0 := a.row(s.fv, 0)
		for m := 1; m <= N; m++ {
			lam := a.row(rev, N-m)
			dfirst := scalarAlphaDerivative(s.Alpha, func(al float64) float64 { return trapFirst(al, trapScale(al, s.h), m) })
			a.dalpha += (dfirst-db[m])*dot(lam, f0) + dsc*dot(lam, a.row(s.fv, m))
		}
	}
	return nil
}

// flmm reverses Lubich's method y_m = y0 + h^α (Σ_{j≤m} ω_{m-j} f_j +
// Σ_{j<s} W_{m,j} f_j). Steps m ≥ s are implicit in f_m alone; the
// starting steps 1..s-1 are coupled and their cotangents are solved
// together, as the forward pass solved the states.
func (a *adj) flmm(withAlpha bool) error {
	N, n, s := a.N, a.n, a.sol
	K := flmmTerms(s.Alpha)
	ha := math.Pow(s.h, s.Alpha)
	omega := flmmWeights(s.Alpha, N)
	W, ns, err := flmmStartingWeights(s.Alpha, omega, N, K)
	if err != nil {
		return err
	}
	kern := make([]float64, N+1)
	for L := 1; L <= N; L++ {
		kern[L] = ha * omega[L]
	}
	rev := getZeroed(N * n)
	defer putFloats(rev)
	hist := s.opt.History.NewHistory([][]float64{kern}, rev, n)
	F := make([]float64, n)
	dst := [][]float64{F}
	wacc := make([]float64, ns*n) // Σ_{m≥s} h^α W_{m,j} λ_m, j < s
	for m := N; m >= ns; m-- {
		if m < N {
			hist.Sum(dst, N-m)
		} else {
			clear(F)
		}
		lam := a.row(rev, N-m)
		if err := a.implicitAdjoint(lam, a.row(a.ybar, m), F, ha*omega[0], s.grid[m], s.State(m), m); err != nil {
			return err
		}
		addScaledTo(a.x0bar, a.x0bar, 1, lam)
		for j := 0; j < ns; j++ {
			addScaledTo(wacc[j*n:(j+1)*n], wacc[j*n:(j+1)*n], ha*W[m*ns+j], lam)
		}
	}
	// fext_j: the cotangent of f_j, j < s, from the steps m ≥ s.
	fext := make([]float64, ns*n)
	for j := 0; j < ns; j++ {
		fe := fext[j*n : (j+1)*n]
		copy(fe, wacc[j*n:(j+1)*n])
		for m := max(ns, j+1); m <= N; m++ {
			addScaledTo(fe, fe, ha*omega[m-j], a.row(rev, N-m))
		}
	}
	// The coupled starting block: φ̄_j = fext_j + Σ_{1≤m<s} h^α (ω_{m-j}[m≥j] + W_{m,j}) λ_m,
	// λ_m = out_m + J_mᵀ φ̄_m, iterated to a fixed point.
	lamB := make([]float64, ns*n)
	phi := make([]float64, ns*n)
	blockPhi := func() {
		for j := 0; j < ns; j++ {
			p := phi[j*n : (j+1)*n]
			copy(p, fext[j*n:(j+1)*n])
			for m := 1; m < ns; m++ {
				c := ha * W[m*ns+j]
				if m >= j {
					c += ha * omega[m-j]
				}
				addScaledTo(p, p, c, lamB[m*n:(m+1)*n])
			}
		}
	}
	acc := newAnderson((ns - 1) * n)
	img := make([]float64, (ns-1)*n)
	for it := 0; ns > 1; it++ {
		blockPhi()
		diff, scale := 0.0, 0.0
		for m := 1; m < ns; m++ {
			if err := a.vjp(a.xb, false, s.grid[m], s.State(m), phi[m*n:(m+1)*n], m); err != nil {
				return err
			}
			out := a.row(a.ybar, m)
			for i, x := range a.xb {
				g := out[i] + x
				diff = math.Max(diff, math.Abs(g-lamB[m*n+i]))
				scale = math.Max(scale, math.Abs(g))
				img[(m-1)*n+i] = g
			}
		}
		if diff <= s.opt.Tol*math.Max(1, scale) {
			copy(lamB[n:], img)
			break
		}
		if it >= s.opt.MaxIter {
			return fmt.Errorf("fode: adjoint steps 1..%d: the starting block of flmm did not converge in %d iterations", ns-1, s.opt.MaxIter)
		}
		acc.next(lamB[n:], img)
	}
	blockPhi()
	for j := 0; j < ns; j++ {
		if err := a.vjp(a.xb, true, s.grid[j], s.State(j), phi[j*n:(j+1)*n], j); err != nil {
			return err
		}
		if j == 0 {
			for i := range a.x0bar {
				a.x0bar[i] += a.ybar[i] + a.xb[i]
			}
			continue
		}
		addScaledTo(a.x0bar, a.x0bar, 1, lamB[j*n:(j+1)*n])
		copy(a.row(rev, N-j), lamB[j*n:(j+1)*n])
	}
	if withAlpha {
		return a.flmmAlpha(rev, K, ns)
	}
	return nil
}

// flmmAlpha adds Σ_m λ_m · ∂_α[h^α (Σ_j ω_{m-j} f_j + Σ_j W_{m,j} f_j)].
func (a *adj) flmmAlpha(rev []float64, K, ns int) error {
	N, s := a.N, a.sol
	var werr error
	weights := func(al float64) []float64 {
		om := flmmWeights(al, N)
		W, _, err := flmmStartingWeights(al, om, N, K)
		if err != nil {
			werr = err
			W = make([]float64, (N+1)*ns)
		}
		ha := math.Pow(s.h, al)
		out := make([]float64, 0, N+1+len(W))
		for _, w := range om {
			out = append(out, ha*w)
		}
		for _, w := range W {
			out = append(out, ha*w)
		}
		return out
	}
	d := alphaDerivative(s.Alpha, weights)
	if werr != nil {
		return werr
	}
	dOm, dW := d[:N+1], d[N+1:]
	dk := make([]float64, N+1)
	copy(dk[1:], dOm[1:])
	a.dalpha = a.alphaPass([][]float64{dk}, s.fv, [][]float64{rev}, 1)
	for m := 1; m <= N; m++ {
		lam := a.row(rev, N-m)
		a.dalpha += dOm[0] * dot(lam, a.row(s.fv, m))
		for j := 0; j < ns; j++ {
			a.dalpha += dW[m*ns+j] * dot(lam, a.row(s.fv, j))
		}
	}
	return nil
}

// euler reverses y_m = y_{m-1} + h f(t_{m-1}, y_{m-1}).
func (a *adj) euler() error {
	s := a.sol
	for m := a.N; m >= 1; m-- {
		yb := a.row(a.ybar, m)
		for i := range a.v {
			a.v[i] = s.h * yb[i]
		}
		if err := a.vjp(a.xb, true, s.grid[m-1], s.State(m-1), a.v, m-1); err != nil {
			return err
		}
		prev := a.row(a.ybar, m-1)
		for i := range prev {
			prev[i] += yb[i] + a.xb[i]
		}
	}
	copy(a.x0bar, a.row(a.ybar, 0))
	return nil
}

// rk reverses an explicit Runge-Kutta method step by step: it rebuilds the
// stages of one step from its stored start state and back-propagates
// through them (for Dopri5 this is the adaptive checkpoint adjoint; the
// accepted step sizes are constants of the discrete map).
func (a *adj) rk(tb *tableau) error {
	s, n := a.sol, a.n
	ns := len(tb.c)
	st := &solver{f: a.f, theta: a.theta, opt: s.opt, n: n, sol: &Solution{}}
	r := newRKStages(ns, n)
	Y := make([]float64, ns*n) // stage inputs
	kbar := make([]float64, ns*n)
	ynew := make([]float64, n)
	for m := a.N; m >= 1; m-- {
		t0, h := s.grid[m-1], s.stepSize(m)
		y := s.State(m - 1)
		// Rebuild the stages (the one extra forward step ACA pays for).
		if err := st.rkStep(tb, r, t0, h, y, ynew, nil, m-1); err != nil {
			return err
		}
		for i := 0; i < ns; i++ {
			yi := Y[i*n : (i+1)*n]
			copy(yi, y)
			for j, aij := range tb.a[i] {
				if aij != 0 {
					addScaledTo(yi, yi, h*aij, r.k[j])
				}
			}
		}
		yb := a.row(a.ybar, m)
		for i := 0; i < ns; i++ {
			kb := kbar[i*n : (i+1)*n]
			for k := range kb {
				kb[k] = h * tb.b[i] * yb[k]
			}
		}
		prev := a.row(a.ybar, m-1)
		addScaledTo(prev, prev, 1, yb)
		for i := ns - 1; i >= 0; i-- {
			kb := kbar[i*n : (i+1)*n]
			if allZero(kb) {
				continue
			}
			if err := a.vjp(a.xb, true, t0+tb.c[i]*h, Y[i*n:(i+1)*n], kb, m-1); err != nil {
				return err
			}
			addScaledTo(prev, prev, 1, a.xb)
			for j, aij := range tb.a[i] {
				if aij != 0 {
					kj := kbar[j*n : (j+1)*n]
					addScaledTo(kj, kj, h*aij, a.xb)
				}
			}
		}
	}
	copy(a.x0bar, a.row(a.ybar, 0))
	return nil
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
