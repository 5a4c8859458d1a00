package fode

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// adj carries the state of one reverse sweep.
type adj struct {
	sol      *Solution
	f        Field
	theta    []float64
	n, N     int
	pool     *rowPool
	outs     map[int][]float64 // the output cotangents, by grid index
	thetabar []float64
	x0bar    []float64
	dparams  []float64   // dL/dp by the scheme's parameters (see scheme)
	xb       []float64   // scratch for one VJP result
	v        []float64   // scratch for one VJP argument
	ys, yf   []float64   // scratch for float32-stored states
	fp       *fixedPoint // for the implicit adjoint solves
}

func newAdj(sol *Solution, ybar []float64) *adj {
	n := sol.Rows * sol.Dim
	a := &adj{
		sol: sol, f: sol.field, theta: sol.theta, n: n, N: len(sol.grid) - 1,
		outs:     gridCotangents(sol, ybar),
		thetabar: getZeroed(len(sol.theta)),
		x0bar:    getZeroed(n),
	}
	if sol.y32 != nil {
		a.ys, a.yf = getFloats(n), getFloats(n)
	}
	a.pool = newRowPool(a.f, a.theta, sol.Rows, sol.opt.Workers)
	if a.pool != nil {
		a.pool.thetabar = make([][]float64, a.pool.workers)
		for i := range a.pool.thetabar {
			a.pool.thetabar[i] = getZeroed(len(a.theta))
		}
	}
	return a
}

// finish reduces the per-worker parameter cotangents, stops the workers
// and packs the result. Calling it again is harmless.
func (a *adj) finish() *Gradient {
	if a.pool != nil {
		a.pool.close() // the workers are done with their cotangents
		for _, tb := range a.pool.thetabar {
			floats.Add(a.thetabar, tb)
			putFloats(tb)
		}
		a.pool = nil
	}
	// The scratch streams go back for the next sweep.
	for _, b := range [][]float64{a.xb, a.v, a.ys, a.yf} {
		putFloats(b)
	}
	a.xb, a.v, a.ys, a.yf = nil, nil, nil, nil
	g := &Gradient{X0: a.x0bar, Theta: a.thetabar, Alpha: math.NaN()}
	if K := len(a.sol.Orders); K > 0 && len(a.dparams) == 2*K {
		g.Orders, g.Coeffs = a.dparams[:K], a.dparams[K:]
	} else if len(a.dparams) == 1 {
		g.Alpha = a.dparams[0]
	}
	return g
}

// xbuf returns the scratch row for one VJP result, allocated on first use.
func (a *adj) xbuf() []float64 {
	if a.xb == nil {
		a.xb = getFloats(a.n)
	}
	return a.xb
}

func (a *adj) row(buf []float64, j int) []float64 { return buf[j*a.n : (j+1)*a.n] }

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

// eval evaluates the field where the forward pass kept no value: the
// stages of a Runge-Kutta step and the α-derivative terms.
func (a *adj) eval(dst []float64, t float64, x []float64, step int) error {
	if err := a.f.Eval(dst, t, x, a.theta); err != nil {
		return fmt.Errorf("fode: adjoint step %d (t = %g): field: %w", step, t, err)
	}
	return nil
}

// implicitAdjoint solves λ = r + Jᵀ(F + κλ), J = ∂f/∂x at (t, y), by
// fixed-point iteration (the transpose of the forward iteration), then
// adds (∂f/∂θ)ᵀ(F + κλ) to the parameter cotangent. F may be nil (zero).
func (a *adj) implicitAdjoint(lam, r, F []float64, kappa, t float64, y []float64, step int) error {
	if a.fp == nil {
		a.fp = newFixedPoint(a.n, a.sol.opt.Iteration)
	}
	if a.v == nil {
		a.v = getFloats(a.n)
	}
	arg := func(lam []float64) { // v = F + κλ
		if F == nil {
			floats.ScaleTo(a.v, kappa, lam)
		} else {
			floats.AddScaledTo(a.v, F, kappa, lam)
		}
	}
	g := func(gx, lam []float64) error {
		arg(lam)
		if err := a.vjp(a.xbuf(), false, t, y, a.v, step); err != nil {
			return err
		}
		floats.AddTo(gx, r, a.xbuf())
		return nil
	}
	copy(lam, r)
	if err := a.fp.solve(lam, g, func() string {
		return fmt.Sprintf("fode: adjoint step %d (t = %g): implicit adjoint solve", step, t)
	}); err != nil {
		return err
	}
	// One more product at the converged λ adds the parameter cotangent.
	arg(lam)
	if err := a.vjp(a.xbuf(), true, t, y, a.v, step); err != nil {
		return err
	}
	floats.AddTo(lam, r, a.xbuf())
	return nil
}

// discreteAdjoint runs the reverse sweep of the solution's scheme.
func discreteAdjoint(sol *Solution, ybar []float64, withAlpha bool) (*Gradient, error) {
	a := newAdj(sol, ybar)
	var err error
	switch sol.Method {
	case Euler:
		err = a.rk(eulerMethod)
	case RK4:
		err = a.rk(rk4Method)
	case Dopri5:
		err = a.rk(dopri5Method)
	default:
		sc := sol.scheme
		if withAlpha {
			sc, err = newScheme(&sol.opt, sol.h, a.N, true)
		}
		if err == nil {
			err = a.fractional(sc, withAlpha)
		}
	}
	g := a.finish()
	if err != nil {
		return nil, err
	}
	return g, nil
}

// fractional is the reverse sweep of solver.fractional, the transpose of
// its loop. λ^l_m, the cotangent of combination l of step m, is stored
// reversed (row N-m of rev[l]), so the transposed history sums
// Σ_{k>m} w_{k-m} λ_k are forward sums over it through the same engine.
// They give r_m and F_m, the cotangents that the later steps pass back to
// the state y_m and to the field value f_m; the transpose of step m turns
// them into its λ_m. With withAlpha, sc carries the α-derivatives of the
// weights, and each combination contributes λ_m times itself formed with
// them to dL/dα (with its derivatives by every parameter of the scheme,
// one dL/dp each).
func (a *adj) fractional(sc *scheme, withAlpha bool) error {
	N, n, s := a.N, a.n, a.sol
	P := 0
	if withAlpha {
		P = sc.params
		a.dparams = make([]float64, P)
	}
	first := sc.firstStep()
	// Every step after the starting block writes its row of each rev[l]
	// before a sum reads it; only the rows of steps 1..first-1, which the
	// loop skips and the sums still read, start as zeros.
	//
	// With float32 storage the streams are float32 (rev32) and the step
	// works on float64 rows: cur[l] holds λ^l_m while step m forms it,
	// prev[l] the λ^l_{m+1} of the step before, read by the lag-1 term;
	// λ^l_m is rounded into its row once the step is done.
	var rev, cur, prev [][]float64
	var rev32 [][]float32
	// f32 is the field when it writes the float32 stream itself: λ_m is
	// then formed in its float32 row, with no float64 row (not with
	// α-derivatives, which read λ_m against the field values).
	var f32 Float32Field
	if P == 0 {
		f32 = sc.float32Direct(a.f, s.opt.StoreFloat32, a.pool != nil)
	}
	if s.opt.StoreFloat32 {
		rev32 = make([][]float32, len(sc.forms))
		cur, prev = make([][]float64, len(sc.forms)), make([][]float64, len(sc.forms))
		for l := range rev32 {
			// (N+1)·n, the size of the forward's float32 field values,
			// whose buffer it reuses after ReleaseFieldValues.
			rev32[l] = getFloats32((N + 1) * n)[:N*n]
			clear(rev32[l][max(0, N-first+1)*n:])
			defer putFloats32(rev32[l])
			if f32 == nil {
				cur[l] = getZeroed(n)
				defer putFloats(cur[l])
			}
			if sc.forms[l].lag1 != 0 {
				prev[l] = getZeroed(n)
				defer putFloats(prev[l])
			}
		}
	} else {
		rev = make([][]float64, len(sc.forms))
		for l := range rev {
			rev[l] = getFloats((N + 1) * n)[:N*n]
			clear(rev[l][max(0, N-first+1)*n:])
			defer putFloats(rev[l])
		}
	}
	// lamRow returns λ^l_m for the step m being formed, lagRow λ^l_{m+1}.
	lamRow := func(l, m int) []float64 {
		if rev32 != nil {
			return cur[l]
		}
		return a.row(rev[l], N-m)
	}
	lagRow := func(l, m int) []float64 {
		if rev32 != nil {
			return prev[l]
		}
		return a.row(rev[l], N-m-1)
	}
	// Targets: r (int(stateStream)), F (int(fieldStream)) and, for the
	// parameter derivatives, one per term and parameter with the kernel's
	// derivative (2+i*P+p for term i and parameter p; zero kernels are
	// skipped and their targets stay zero).
	targets := 2 + len(sc.terms)*P
	sums := &termSums{out: make([][]float64, targets)}
	for i, t := range sc.terms {
		sums.add(t.form, t.w, int(t.stream))
		for p := range P {
			if d := at(t.dw, p); d != nil {
				sums.add(t.form, d, 2+i*P+p)
			}
		}
	}
	if rev32 != nil {
		sums.values32 = func(l int) []float32 { return rev32[l] }
	}
	if err := sums.start(s.opt.History, n, func(l int) []float64 { return rev[l] }); err != nil {
		return err
	}
	defer sums.release()
	// r is nil when no term sums the states (schemes over the field
	// values alone): r_m is then the output cotangent at step m, read in
	// place, or zero, which saves a row of the state's size.
	r, F := sums.out[stateStream], sums.out[fieldStream]
	if F == nil { // the lag-1 terms still add to it
		F = sums.take(n)
		sums.out[fieldStream] = F
	}
	usesF := sc.usesFields()
	wacc := make([]float64, sc.start*n) // Σ_m W_{m,j} λ_m, j < s
	// r_j and F_j for j < first, from the steps after the starting block
	// (without one, r_0 and F_0 stay where the sums leave them).
	rext, fext := r, F
	if first > 1 {
		rext, fext = make([]float64, first*n), make([]float64, first*n)
	}
	var zero []float64 // a row of zeros for the steps that need r as a row
	defer func() { putFloats(zero) }()
	zeroRow := func() []float64 {
		if zero == nil {
			zero = getZeroed(n)
		}
		return zero
	}
	var fy []float64 // field values dL/dα re-evaluates or converts
	if withAlpha {
		fy = make([]float64, n)
	}
	// field returns f_j, stored or re-evaluated.
	field := func(j int) ([]float64, error) {
		if s.fv != nil || s.fv32 != nil {
			return s.fieldRow(fy, j), nil
		}
		return fy, a.eval(fy, s.grid[j], s.stateInto(a.yf, j), j)
	}
	for m := N; m >= 0; m-- {
		sums.sum(N - m)
		rm := r // r_m; nil is zero
		if o := a.outs[m]; o != nil {
			if r != nil {
				floats.Add(r, o)
			} else {
				rm = o
			}
		}
		if m < N {
			for l, f := range sc.forms {
				if f.lag1 != 0 {
					floats.AddScaled(F, f.lag1, lagRow(l, m))
				}
			}
			for i, t := range sc.terms {
				if P == 0 {
					break
				}
				v := s.stateInto(a.yf, m)
				if t.stream == fieldStream {
					v = s.fieldRow(fy, m)
				}
				for p := range P {
					if at(t.dw, p) != nil {
						a.dparams[p] += floats.Dot(sums.out[2+i*P+p], v)
					}
				}
			}
		}
		if m < first {
			if first > 1 {
				if rm != nil {
					copy(a.row(rext, m), rm)
				}
				copy(a.row(fext, m), F)
			} else {
				rext = rm
			}
			if m < sc.start {
				floats.Add(a.row(fext, m), a.row(wacc, m))
			}
			for _, p := range prev {
				clear(p) // λ_m is zero within the starting block
			}
			continue
		}
		t, y := s.grid[m], s.vjpStateInto(a.ys, m)
		lam := lamRow(0, m)
		switch sc.kind {
		case explicitStep:
			if f32 != nil {
				// Nothing else of the step is left for a field that
				// writes the stream itself.
				if err := a.explicit32(f32, rev32[0][(N-m)*n:(N-m+1)*n], usesF && m < N, sc.y0Coef(0, m, -1), t, y, F, rm, m); err != nil {
					return err
				}
				continue
			}
			if usesF && m < N {
				// λ = Jᵀ F + r, formed in λ's own row.
				if err := a.vjp(lam, true, t, y, F, m); err != nil {
					return err
				}
				if rm != nil {
					floats.Add(lam, rm)
				}
			} else if rm != nil {
				copy(lam, rm)
			} else {
				clear(lam)
			}
		case implicitStep:
			if rm == nil {
				rm = zeroRow()
			}
			Fm := F
			if !usesF {
				Fm = nil
			}
			if err := a.implicitAdjoint(lam, rm, Fm, sc.kappa, t, y, m); err != nil {
				return err
			}
			if P > 0 {
				f, err := field(m)
				if err != nil {
					return err
				}
				a.addParams(sc.dkappa, floats.Dot(lam, f))
			}
		case correctorStep:
			if rm == nil {
				rm = zeroRow()
			}
			if err := a.corrector(sc, m, rm, F, lam, lamRow(1, m), fy, withAlpha); err != nil {
				return err
			}
		}
		for l, f := range sc.forms {
			lam := lamRow(l, m)
			a.passToY0(sc, l, m, lam, withAlpha)
			if P > 0 && f.dlag1 != nil {
				fp, err := field(m - 1)
				if err != nil {
					return err
				}
				a.addParams(f.dlag1, floats.Dot(lam, fp))
			}
		}
		for j := 0; j < sc.start; j++ {
			floats.AddScaled(a.row(wacc, j), sc.W[m*sc.start+j], lam)
			if P > 0 && sc.dW != nil {
				d := floats.Dot(lam, a.row(s.fv, j))
				for p, dW := range sc.dW {
					a.dparams[p] += dW[m*sc.start+j] * d
				}
			}
		}
		for l := range rev32 {
			convert(rev32[l][(N-m)*n:(N-m+1)*n], cur[l])
			if prev[l] != nil {
				cur[l], prev[l] = prev[l], cur[l]
			}
		}
	}
	phi0 := a.row(fext, 0)
	if first > 1 {
		if err := a.startBlock(sc, rext, fext, withAlpha); err != nil {
			return err
		}
	}
	if usesF && f32 != nil {
		// The stream is read no more: its first row takes the product.
		xb := rev32[0][:n]
		if err := a.vjp32(f32, xb, 0, s.vjpStateInto(a.ys, 0), phi0, 0); err != nil {
			return err
		}
		addScaled32(a.x0bar, 1, xb)
	} else if usesF {
		var xb []float64
		if rev32 != nil && first == 1 {
			xb = cur[0] // λ's working row is free now: no row of its own
		} else {
			xb = a.xbuf()
		}
		if err := a.vjp(xb, true, 0, s.vjpStateInto(a.ys, 0), phi0, 0); err != nil {
			return err
		}
		floats.Add(a.x0bar, xb)
	}
	if rext != nil {
		floats.Add(a.x0bar, a.row(rext, 0))
	}
	return nil
}

// explicit32 forms λ_m = Jᵀ F + r_m of an explicit step (r_m alone
// without withF; r nil is zero) straight into its float32 row lam of the
// cotangent stream and passes it on to y_0 with the coefficient c.
func (a *adj) explicit32(f Float32Field, lam []float32, withF bool, c, t float64, y, F, r []float64, m int) error {
	switch {
	case withF:
		if err := a.vjp32(f, lam, t, y, F, m); err != nil {
			return err
		}
		if r != nil {
			for i, v := range r {
				lam[i] = float32(float64(lam[i]) + v)
			}
		}
	case r != nil:
		convert(lam, r)
	default:
		clear(lam)
	}
	addScaled32(a.x0bar, c, lam)
	return nil
}

// vjp32 is vjp for a Float32Field, the product rounded to float32 into
// xbar; it adds the parameter cotangent.
func (a *adj) vjp32(f Float32Field, xbar []float32, t float64, x, v []float64, step int) error {
	if err := f.VJPFloat32(xbar, a.thetabar, t, x, a.theta, v); err != nil {
		return fmt.Errorf("fode: adjoint step %d (t = %g): field VJP: %w", step, t, err)
	}
	if i := firstNonFinite32(xbar); i >= 0 {
		return fmt.Errorf("fode: adjoint step %d (t = %g): cotangent component %d = %v in float32: %w", step, t, i, xbar[i], ErrNotFinite)
	}
	return nil
}

// passToY0 passes the cotangent lam of combination l of step m on to y_0
// and adds its parameter terms ∂a_m/∂p λ·y_0 to dL/dp.
func (a *adj) passToY0(sc *scheme, l, m int, lam []float64, withAlpha bool) {
	if c := sc.y0Coef(l, m, -1); c == 1 {
		floats.Add(a.x0bar, lam)
	} else {
		floats.AddScaled(a.x0bar, c, lam)
	}
	if !withAlpha || sc.forms[l].dy0 == nil {
		return
	}
	d := floats.Dot(lam, a.sol.State(0))
	for p := range a.dparams {
		a.dparams[p] += sc.y0Coef(l, m, p) * d
	}
}

// addParams adds d[p]·x to dL/dp for every parameter (d nil: none).
func (a *adj) addParams(d []float64, x float64) {
	for p, v := range d {
		a.dparams[p] += v * x
	}
}

// corrector reverses the μ corrector iterations of step m: the chain
// p → q_1 → … → y_m, with lamC the sum of the iterates' cotangents (the
// corrector combination enters every iterate) and lamP the prediction's.
func (a *adj) corrector(sc *scheme, m int, r, F, lamC, lamP, fq []float64, withAlpha bool) error {
	s := a.sol
	t := s.grid[m]
	qbar := lamP // it ends as the prediction's cotangent
	copy(qbar, r)
	if m < a.N {
		if err := a.vjp(a.xbuf(), true, t, s.vjpStateInto(a.ys, m), F, m); err != nil {
			return err
		}
		floats.Add(qbar, a.xbuf())
	}
	clear(lamC)
	if a.v == nil {
		a.v = getFloats(a.n)
	}
	for k := sc.correctors; k >= 1; k-- {
		floats.Add(lamC, qbar)
		q := a.row(s.pred[k-1], m)
		if withAlpha {
			if err := a.eval(fq, t, q, m); err != nil {
				return err
			}
			a.addParams(sc.dkappa, floats.Dot(qbar, fq))
		}
		floats.ScaleTo(a.v, sc.kappa, qbar)
		if err := a.vjp(a.xbuf(), true, t, q, a.v, m); err != nil {
			return err
		}
		copy(qbar, a.xbuf())
	}
	return nil
}

// startBlock reverses the starting block: with φ̄_j = F_j +
// Σ_{1≤m<s} c_{m,j} λ_m the cotangent of f_j, its λ_m = r_m + J_mᵀ φ̄_m
// are coupled as the states were and are iterated to a fixed point
// together. On return fext holds φ̄_j, the cotangents of the block's field
// values, f_0's included.
func (a *adj) startBlock(sc *scheme, rext, fext []float64, withAlpha bool) error {
	s, n := a.sol, a.n
	first := sc.firstStep()
	phi := make([]float64, first*n)
	blockPhi := func(lam []float64) {
		copy(phi, fext)
		for j := 0; j < first; j++ {
			for m := 1; m < first; m++ {
				floats.AddScaled(a.row(phi, j), sc.blockWeight(m, j, -1), lam[(m-1)*n:m*n])
			}
		}
	}
	g := func(gx, lam []float64) error {
		blockPhi(lam)
		for m := 1; m < first; m++ {
			if err := a.vjp(a.xbuf(), false, s.grid[m], s.vjpStateInto(a.ys, m), a.row(phi, m), m); err != nil {
				return err
			}
			floats.AddTo(gx[(m-1)*n:m*n], a.row(rext, m), a.xbuf())
		}
		return nil
	}
	lam := append([]float64(nil), rext[n:]...)
	fp := newFixedPoint(len(lam), s.opt.Iteration)
	if err := fp.solve(lam, g, func() string {
		return fmt.Sprintf("fode: adjoint steps 1..%d: the starting block of %v", first-1, s.Method)
	}); err != nil {
		return err
	}
	blockPhi(lam)
	for m := 1; m < first; m++ {
		lm := lam[(m-1)*n : m*n]
		if err := a.vjp(a.xbuf(), true, s.grid[m], s.vjpStateInto(a.ys, m), a.row(phi, m), m); err != nil {
			return err
		}
		a.passToY0(sc, 0, m, lm, withAlpha)
		if withAlpha {
			for j := 0; j < first; j++ {
				d := floats.Dot(lm, a.row(s.fv, j))
				for p := range a.dparams {
					a.dparams[p] += sc.blockWeight(m, j, p) * d
				}
			}
		}
	}
	copy(fext, phi)
	return nil
}
