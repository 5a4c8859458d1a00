package fode

import (
	"fmt"
	"math"
	"sort"
)

// Solution is the result of Solve: the states at the requested output times
// and everything the gradient needs (grid states, field-value history,
// predictor states), but no internal activations of the field.
type Solution struct {
	// Method, Alpha and T repeat the options the solution was computed with.
	Method Method
	Alpha  float64
	T      float64
	// Times are the output times; At(i) is the state at Times[i].
	Times []float64
	// Steps is the number of steps taken (accepted steps for Dopri5) and
	// Rejected the number of steps Dopri5 rejected.
	Steps, Rejected int
	// Evals counts evaluations of the field (calls of Eval on the whole
	// batch).
	Evals int
	// Rows is the batch size and Dim the state size of one sample.
	Rows, Dim int

	field Field
	theta []float64
	opt   Options
	h     float64
	grid  []float64 // t_j, j = 0..Steps
	hs    []float64 // Dopri5's accepted step sizes; nil on a uniform grid
	y     []float64 // y_j, row-major, (Steps+1) × n
	fv    []float64 // f_j where the scheme sums field values
	pred  [][]float64
	out   []float64 // outputs, len(Times) × n
	outJ  []int     // output i lies between grid points outJ[i] and outJ[i]+1
	outW  []float64 // with interpolation weight outW[i] on the later one
	// released is set by Release: the grid states are gone.
	released bool
}

// At returns the state at output time Times[i] as a view (rows × Dim,
// row-major) into the solution; copy it before changing it.
func (s *Solution) At(i int) []float64 {
	n := s.Rows * s.Dim
	return s.out[i*n : (i+1)*n]
}

// Final returns the state at the last output time (T unless Options.Times
// said otherwise) as a view into the solution.
func (s *Solution) Final() []float64 { return s.At(len(s.Times) - 1) }

// Grid returns the grid times t_0 = 0 < t_1 < ... < t_Steps = T.
func (s *Solution) Grid() []float64 { return s.grid }

// Release hands the solution's grid states and field values back to the
// package for reuse by later solves and gradients, which then allocate
// nothing for them: call it once no gradient will be asked of the
// solution. At, Final and Grid keep working (the outputs are kept); State
// returns nil and Grad an error afterwards. Calling it again does nothing.
func (s *Solution) Release() {
	putFloats(s.y)
	putFloats(s.fv)
	for _, p := range s.pred {
		putFloats(p)
	}
	s.y, s.fv, s.pred = nil, nil, nil
	s.released = true
}

// State returns the state at grid time Grid()[j] as a view (nil after
// Release).
func (s *Solution) State(j int) []float64 {
	if s.released {
		return nil
	}
	n := s.Rows * s.Dim
	return s.y[j*n : (j+1)*n]
}

// stepSize returns the size of step m, from t_{m-1} to t_m, exactly as
// the forward pass used it.
func (s *Solution) stepSize(m int) float64 {
	if s.hs != nil {
		return s.hs[m-1]
	}
	return s.h
}

// StepSize returns h = T/Steps for the fixed-step methods. For Dopri5 it
// returns the step size that the error control proposed after the last
// accepted step, the trial step a continued solve would start with; the
// accepted steps are the differences of Grid().
func (s *Solution) StepSize() float64 { return s.h }

// Solve integrates the Caputo fractional differential equation
//
//	D^α x(t) = f(t, x(t); θ),  x(0) = x0,  0 < α ≤ 1,
//
// equivalently x(t) = x0 + 1/Γ(α) ∫_0^t (t-s)^(α-1) f(s, x(s)) ds, on [0, T]
// with the scheme opt.Method, for every row of x0 (a batch of rows ×
// f.Dim() states). At α = 1 it is the ordinary differential equation
// x' = f. The inputs are not modified; the Solution keeps copies.
//
// Errors report invalid options, shapes that do not match the field,
// non-finite inputs, and the step at which a state or field value became
// NaN or Inf (wrapping ErrNotFinite) or an implicit step did not converge.
func Solve(f Field, theta, x0 []float64, opt Options) (*Solution, error) {
	steps, h, err := opt.validate(f, x0, theta)
	if err != nil {
		return nil, err
	}
	if opt.History == nil {
		opt.History = Auto
	}
	if opt.Tol == 0 {
		opt.Tol = 1e-12
	}
	if opt.MaxIter == 0 {
		opt.MaxIter = 200
	}
	if opt.RTol == 0 && opt.ATol == 0 {
		opt.RTol, opt.ATol = 1e-6, 1e-8
	}
	if opt.MaxSteps == 0 {
		opt.MaxSteps = 100000
	}
	times := opt.Times
	if len(times) == 0 {
		times = []float64{opt.T}
	}
	d := f.Dim()
	s := &solver{
		f: f, theta: append([]float64(nil), theta...), opt: opt,
		alpha: opt.Alpha, h: h, steps: steps, d: d, n: len(x0),
	}
	s.sol = &Solution{
		Method: opt.Method, Alpha: opt.Alpha, T: opt.T,
		Times: append([]float64(nil), times...),
		Steps: steps, Rows: len(x0) / d, Dim: d,
		field: f, theta: s.theta, opt: opt, h: h,
	}
	s.pool = newRowPool(f, s.theta, len(x0)/d, opt.Workers)
	if s.pool != nil {
		defer s.pool.close()
	}
	if opt.Method == Dopri5 {
		err = s.dopri5(x0)
	} else {
		s.uniform(x0)
		err = s.run()
	}
	s.sol.Evals = s.evals
	if err != nil {
		return nil, err
	}
	if err := s.outputs(); err != nil {
		return nil, err
	}
	return s.sol, nil
}

type solver struct {
	f     Field
	theta []float64
	opt   Options
	alpha float64
	h     float64
	steps int
	d, n  int
	pool  *rowPool
	evals int
	sol   *Solution
	y0    []float64
	tmp   []float64 // scratch of length n
	tmp2  []float64
	acc   *anderson // for the implicit steps
	gx    []float64
	grow  growth // the explicit schemes' stability check
}

// growth tracks the largest state component |y_m|∞ of an explicit scheme
// for its stability check (see ErrUnstable): a step fails when |y_m|∞
// exceeds UnstableGrowth·max(base, floor), where base is |y|∞ before the
// current run of steps that each more than doubled it (|y_m|∞ itself
// when the step did not) and floor = 1 + |y_0|∞ + T^α/Γ(α+1)·|f(0, y_0)|∞.
type growth struct {
	floor, prev, base float64
	baseStep          int
}

// initGrowth starts the stability check from y_0 and f0 = f(0, y_0).
func (s *solver) initGrowth(f0 []float64) {
	_, m0 := maxAbsFinite(s.y0)
	_, f := maxAbsFinite(f0)
	k := math.Pow(s.opt.T, s.alpha) / math.Gamma(s.alpha+1)
	s.grow = growth{floor: 1 + m0 + k*f, prev: m0, base: m0}
}

// checkStep checks the state y of step m of an explicit scheme: finite,
// and not blown up (see ErrUnstable).
func (s *solver) checkStep(y []float64, m int) error {
	i, a := maxAbsFinite(y)
	if i >= 0 {
		return fmt.Errorf("fode: step %d (t = %g): state component %d = %v: %w", m, s.sol.grid[m], i, y[i], ErrNotFinite)
	}
	g := &s.grow
	if !(a > 2*g.prev) {
		g.base, g.baseStep = a, m
	}
	g.prev = a
	if a <= UnstableGrowth*max(g.base, g.floor) {
		return nil
	}
	return fmt.Errorf("fode: step %d (t = %g): the state grew from |y|∞ = %.3g at step %d to %.3g, more than %g times the larger of that and the initial scale %.3g: method %v is unstable at step size h = %g; reduce the step size or use an implicit method: %w",
		m, s.sol.grid[m], g.base, g.baseStep, a, UnstableGrowth, g.floor, s.opt.Method, s.h, ErrUnstable)
}

// uniform allocates the uniform grid and the state storage.
func (s *solver) uniform(x0 []float64) {
	N, n := s.steps, s.n
	g := make([]float64, N+1)
	for j := range g {
		g[j] = float64(j) * s.h
	}
	g[N] = s.opt.T
	s.sol.grid = g
	s.sol.y = getFloats((N + 1) * n)
	copy(s.sol.y, x0)
	s.y0 = s.sol.y[:n]
	s.tmp = make([]float64, n)
	s.tmp2 = make([]float64, n)
}

func (s *solver) row(buf []float64, j int) []float64 { return buf[j*s.n : (j+1)*s.n] }

// eval evaluates the field on the whole batch and checks the result.
func (s *solver) eval(dst []float64, t float64, x []float64, step int) error {
	s.evals++
	var err error
	if s.pool != nil {
		err = s.pool.run(rowJob{t: t, dst: dst, x: x})
	} else {
		err = s.f.Eval(dst, t, x, s.theta)
	}
	if err != nil {
		return fmt.Errorf("fode: step %d (t = %g): field: %w", step, t, err)
	}
	if i := firstNonFinite(dst); i >= 0 {
		return fmt.Errorf("fode: step %d (t = %g): field value %d = %v: %w", step, t, i, dst[i], ErrNotFinite)
	}
	return nil
}

func (s *solver) checkState(y []float64, step int) error {
	if i := firstNonFinite(y); i >= 0 {
		return fmt.Errorf("fode: step %d (t = %g): state component %d = %v: %w", step, s.sol.grid[step], i, y[i], ErrNotFinite)
	}
	return nil
}

func (s *solver) run() error {
	switch s.opt.Method {
	case Rectangle:
		return s.rectangle()
	case PECE:
		return s.pece()
	case GL, GLImplicit:
		return s.grunwald(s.opt.Method == GLImplicit)
	case L1:
		return s.l1()
	case Trapezoid:
		return s.trapezoid()
	case FLMM:
		return s.flmm()
	case Euler:
		return s.euler()
	case RK4:
		return s.rk4()
	}
	return fmt.Errorf("fode: unknown method %v", s.opt.Method)
}

// addScaledTo sets dst = a + c*b.
func addScaledTo(dst, a []float64, c float64, b []float64) {
	for i := range dst {
		dst[i] = a[i] + c*b[i]
	}
}

func (s *solver) rectangle() error {
	N := s.steps
	s.sol.fv = getFloats(N * s.n)
	if err := s.eval(s.row(s.sol.fv, 0), 0, s.y0, 0); err != nil {
		return err
	}
	s.initGrowth(s.row(s.sol.fv, 0))
	hist := s.opt.History.NewHistory([][]float64{rectKernel(s.alpha, s.h, N)}, s.sol.fv, s.n)
	dst := [][]float64{s.tmp}
	for m := 1; m <= N; m++ {
		hist.Sum(dst, m)
		y := s.row(s.sol.y, m)
		addScaledTo(y, s.y0, 1, s.tmp)
		if err := s.checkStep(y, m); err != nil {
			return err
		}
		if m < N {
			if err := s.eval(s.row(s.sol.fv, m), s.sol.grid[m], y, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// pece runs PE(CE)^μ. pred[0] holds the predictions and pred[k] the k-th
// corrected iterate when μ > 1; the gradient re-linearises at each.
func (s *solver) pece() error {
	N, mu := s.steps, 1+s.opt.Correctors
	s.sol.fv = getFloats(N * s.n)
	s.sol.pred = make([][]float64, mu)
	for k := range s.sol.pred {
		s.sol.pred[k] = getFloats((N + 1) * s.n)
	}
	if err := s.eval(s.row(s.sol.fv, 0), 0, s.y0, 0); err != nil {
		return err
	}
	s.initGrowth(s.row(s.sol.fv, 0))
	b := trapKernel(s.alpha, s.h, N)
	hist := s.opt.History.NewHistory([][]float64{rectKernel(s.alpha, s.h, N), b}, s.sol.fv, s.n)
	sc := trapScale(s.alpha, s.h)
	P, C := s.tmp, s.tmp2
	dst := [][]float64{P, C}
	fp := make([]float64, s.n)
	f0 := s.row(s.sol.fv, 0)
	for m := 1; m <= N; m++ {
		t := s.sol.grid[m]
		hist.Sum(dst, m)
		addScaledTo(C, C, trapFirst(s.alpha, sc, m)-b[m], f0)
		cur := s.row(s.sol.pred[0], m)
		addScaledTo(cur, s.y0, 1, P)
		y := s.row(s.sol.y, m)
		for k := 0; k < mu; k++ {
			if i := firstNonFinite(cur); i >= 0 {
				return fmt.Errorf("fode: step %d (t = %g): predictor or corrector iterate %d, component %d = %v: %w", m, t, k, i, cur[i], ErrNotFinite)
			}
			if err := s.eval(fp, t, cur, m); err != nil {
				return err
			}
			next := y
			if k+1 < mu {
				next = s.row(s.sol.pred[k+1], m)
			}
			for i := range next {
				next[i] = s.y0[i] + C[i] + sc*fp[i]
			}
			cur = next
		}
		if err := s.checkStep(y, m); err != nil {
			return err
		}
		if m < N {
			if err := s.eval(s.row(s.sol.fv, m), t, y, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// grunwald runs the Grünwald-Letnikov scheme over the state stream, using
// Σ_{j<m} g_{m-j} (y_j - y_0) = Σ_{j<m} g_{m-j} y_j - G_m y_0.
func (s *solver) grunwald(implicit bool) error {
	N := s.steps
	g, G := glKernel(s.alpha, N)
	hist := s.opt.History.NewHistory([][]float64{g}, s.sol.y, s.n)
	ha := math.Pow(s.h, s.alpha)
	S, fy := s.tmp, s.tmp2
	dst := [][]float64{S}
	if !implicit {
		if err := s.eval(fy, 0, s.y0, 0); err != nil {
			return err
		}
		s.initGrowth(fy)
	}
	for m := 1; m <= N; m++ {
		t := s.sol.grid[m]
		hist.Sum(dst, m)
		y := s.row(s.sol.y, m)
		for i := range y {
			S[i] = s.y0[i] - S[i] + G[m]*s.y0[i] // B = y0 - Σ g (y_j - y0)
		}
		if implicit {
			copy(y, s.row(s.sol.y, m-1))
			if err := s.implicit(y, fy, S, ha, t, m); err != nil {
				return err
			}
		} else {
			addScaledTo(y, S, ha, fy)
		}
		check := s.checkState
		if !implicit {
			check = s.checkStep
		}
		if err := check(y, m); err != nil {
			return err
		}
		if !implicit && m < N {
			if err := s.eval(fy, t, y, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// l1 runs the implicit L1 scheme y_m = y_{m-1} - Σ_{1≤k<m} b_k Δy_{m-k} +
// h^α Γ(2-α) f(t_m, y_m) over the state stream.
func (s *solver) l1() error {
	N := s.steps
	b, e := l1Kernel(s.alpha, N)
	hist := s.opt.History.NewHistory([][]float64{e}, s.sol.y, s.n)
	kappa := math.Pow(s.h, s.alpha) * math.Gamma(2-s.alpha)
	B, fy := s.tmp, s.tmp2
	dst := [][]float64{B}
	for m := 1; m <= N; m++ {
		hist.Sum(dst, m)
		prev := s.row(s.sol.y, m-1)
		for i := range B {
			B[i] = prev[i] - B[i] + b[m]*s.y0[i]
		}
		y := s.row(s.sol.y, m)
		copy(y, prev)
		if err := s.implicit(y, fy, B, kappa, s.sol.grid[m], m); err != nil {
			return err
		}
		if err := s.checkState(y, m); err != nil {
			return err
		}
	}
	return nil
}

// trapezoid runs the implicit product trapezoid rule.
func (s *solver) trapezoid() error {
	N := s.steps
	s.sol.fv = getFloats((N + 1) * s.n)
	f0 := s.row(s.sol.fv, 0)
	if err := s.eval(f0, 0, s.y0, 0); err != nil {
		return err
	}
	b := trapKernel(s.alpha, s.h, N)
	hist := s.opt.History.NewHistory([][]float64{b}, s.sol.fv, s.n)
	sc := trapScale(s.alpha, s.h)
	B := s.tmp
	dst := [][]float64{B}
	for m := 1; m <= N; m++ {
		hist.Sum(dst, m)
		w0 := trapFirst(s.alpha, sc, m) - b[m]
		for i := range B {
			B[i] += s.y0[i] + w0*f0[i]
		}
		y := s.row(s.sol.y, m)
		s.extrapolate(y, m)
		if err := s.implicit(y, s.row(s.sol.fv, m), B, sc, s.sol.grid[m], m); err != nil {
			return err
		}
		if err := s.checkState(y, m); err != nil {
			return err
		}
	}
	return nil
}

// extrapolate writes the linear extrapolation of y_{m-2}, y_{m-1} into y as
// the first guess of an implicit step.
func (s *solver) extrapolate(y []float64, m int) {
	prev := s.row(s.sol.y, m-1)
	if m < 2 {
		copy(y, prev)
		return
	}
	pp := s.row(s.sol.y, m-2)
	for i := range y {
		y[i] = 2*prev[i] - pp[i]
	}
}

// flmm runs Lubich's trapezoid FLMM with starting weights. The first s-1
// steps are coupled through the starting weights and are solved together.
func (s *solver) flmm() error {
	N := s.steps
	omega := flmmWeights(s.alpha, N)
	W, ns, err := flmmStartingWeights(s.alpha, omega, N, flmmTerms(s.alpha))
	if err != nil {
		return err
	}
	if N < ns-1 {
		return fmt.Errorf("fode: method flmm with alpha = %v needs at least %d steps for its starting weights, got %d", s.alpha, ns-1, N)
	}
	ha := math.Pow(s.h, s.alpha)
	s.sol.fv = getFloats((N + 1) * s.n)
	if err := s.eval(s.row(s.sol.fv, 0), 0, s.y0, 0); err != nil {
		return err
	}
	if err := s.flmmStart(omega, W, ns, ha); err != nil {
		return err
	}
	kern := make([]float64, N+1)
	for L := 1; L <= N; L++ {
		kern[L] = ha * omega[L]
	}
	hist := s.opt.History.NewHistory([][]float64{kern}, s.sol.fv, s.n)
	B := s.tmp
	dst := [][]float64{B}
	for m := ns; m <= N; m++ {
		hist.Sum(dst, m)
		for i := range B {
			B[i] += s.y0[i]
		}
		for j := 0; j < ns; j++ {
			addScaledTo(B, B, ha*W[m*ns+j], s.row(s.sol.fv, j))
		}
		y := s.row(s.sol.y, m)
		s.extrapolate(y, m)
		if err := s.implicit(y, s.row(s.sol.fv, m), B, ha*omega[0], s.sol.grid[m], m); err != nil {
			return err
		}
		if err := s.checkState(y, m); err != nil {
			return err
		}
	}
	return nil
}

// flmmStart solves the coupled equations of steps 1..ns-1 together by
// Anderson-accelerated fixed-point iteration on all of them at once.
func (s *solver) flmmStart(omega, W []float64, ns int, ha float64) error {
	if ns < 2 {
		return nil
	}
	for m := 1; m < ns; m++ {
		copy(s.row(s.sol.y, m), s.y0)
	}
	block := s.sol.y[s.n : ns*s.n]
	next := make([]float64, len(block))
	acc := newAnderson(len(block))
	for it := 0; it < s.opt.MaxIter; it++ {
		for m := 1; m < ns; m++ {
			if err := s.eval(s.row(s.sol.fv, m), s.sol.grid[m], s.row(s.sol.y, m), m); err != nil {
				return err
			}
		}
		for m := 1; m < ns; m++ {
			nx := next[(m-1)*s.n : m*s.n]
			copy(nx, s.y0)
			for j := 0; j <= m; j++ {
				addScaledTo(nx, nx, ha*omega[m-j], s.row(s.sol.fv, j))
			}
			for j := 0; j < ns; j++ {
				addScaledTo(nx, nx, ha*W[m*ns+j], s.row(s.sol.fv, j))
			}
		}
		diff, scale := 0.0, 0.0
		for i, v := range next {
			diff = math.Max(diff, math.Abs(v-block[i]))
			scale = math.Max(scale, math.Abs(v))
		}
		if i := firstNonFinite(next); i >= 0 {
			m := 1 + i/s.n
			return fmt.Errorf("fode: step %d (t = %g): flmm starting step: state component %d = %v: %w", m, s.sol.grid[m], i%s.n, next[i], ErrNotFinite)
		}
		if diff <= s.opt.Tol*math.Max(1, scale) {
			copy(block, next)
			return nil
		}
		acc.next(block, next)
	}
	return fmt.Errorf("fode: steps 1..%d (t = %g): the starting steps of flmm did not converge in %d iterations; reduce the step size: %w", ns-1, s.sol.grid[ns-1], s.opt.MaxIter, ErrUnstable)
}

// implicit solves y = B + κ f(t, y) by Anderson-accelerated fixed-point
// iteration from the guess in y. On return fy holds the field value that
// produced y, so y = B + κ fy holds exactly.
func (s *solver) implicit(y, fy, B []float64, kappa, t float64, step int) error {
	if s.acc == nil {
		s.acc = newAnderson(s.n)
		s.gx = make([]float64, s.n)
	}
	s.acc.reset()
	last := math.Inf(1)
	for it := 0; it < s.opt.MaxIter; it++ {
		if err := s.eval(fy, t, y, step); err != nil {
			return err
		}
		diff, scale := 0.0, 0.0
		for i := range y {
			g := B[i] + kappa*fy[i]
			diff = math.Max(diff, math.Abs(g-y[i]))
			scale = math.Max(scale, math.Abs(g))
			s.gx[i] = g
		}
		if i := firstNonFinite(s.gx); i >= 0 {
			return fmt.Errorf("fode: step %d (t = %g): implicit solve diverged: state component %d = %v: %w; reduce the step size: %w", step, t, i, s.gx[i], ErrNotFinite, ErrUnstable)
		}
		if diff <= s.opt.Tol*math.Max(1, scale) {
			copy(y, s.gx)
			return nil
		}
		last = diff
		s.acc.next(y, s.gx)
	}
	return fmt.Errorf("fode: step %d (t = %g): implicit solve did not converge in %d iterations (last change %.3g); reduce the step size: %w", step, t, s.opt.MaxIter, last, ErrUnstable)
}

// outputs fills the states at the output times, interpolating linearly
// between grid points, after checking that every grid state is finite
// (the schemes check each step; this also covers the starting steps and
// the interpolation).
func (s *solver) outputs() error {
	if i := firstNonFinite(s.sol.y); i >= 0 {
		j := i / s.n
		return fmt.Errorf("fode: step %d (t = %g): state component %d = %v: %w", j, s.sol.grid[j], i%s.n, s.sol.y[i], ErrNotFinite)
	}
	sol := s.sol
	n := s.n
	sol.out = make([]float64, len(sol.Times)*n)
	sol.outJ = make([]int, len(sol.Times))
	sol.outW = make([]float64, len(sol.Times))
	g := sol.grid
	last := len(g) - 1
	for i, tau := range sol.Times {
		j := sort.SearchFloat64s(g, tau) // first grid point >= tau
		var w float64
		switch {
		case j > last:
			j, w = last, 0
		case math.Abs(g[j]-tau) <= 1e-9*math.Max(1, math.Abs(tau)):
			w = 0
		default:
			j--
			w = (tau - g[j]) / (g[j+1] - g[j])
		}
		sol.outJ[i], sol.outW[i] = j, w
		dst := sol.out[i*n : (i+1)*n]
		copy(dst, s.row(sol.y, j))
		if w != 0 {
			next := s.row(sol.y, j+1)
			for k := range dst {
				dst[k] += w * (next[k] - dst[k])
			}
		}
		if k := firstNonFinite(dst); k >= 0 {
			return fmt.Errorf("fode: output time %v: interpolated state component %d = %v: %w", tau, k, dst[k], ErrNotFinite)
		}
	}
	return nil
}
