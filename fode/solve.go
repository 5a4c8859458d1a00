package fode

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
)

// Solution is the result of Solve: the states at the requested output times
// and everything the gradient needs (grid states, field-value history,
// predictor states), but no internal activations of the field.
type Solution struct {
	// Method, Alpha and T repeat the options the solution was computed
	// with; Orders and Coeffs too, for a multi-term equation (Alpha is then
	// zero), and ShortMemory.
	Method         Method
	Alpha          float64
	T              float64
	Orders, Coeffs []float64
	ShortMemory    int
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
	y     []float64 // y_j, row-major, (Steps+1) × n (y_0 alone with a ring)
	fv    []float64 // f_j where the scheme sums field values
	// fv32 holds every f_j in float32 with Options.StoreFloat32; fv then
	// keeps only f_0..f_{first-1}, which the starting weights read.
	fv32 []float32
	pred [][]float64
	// scheme holds the weights of a fractional method for the gradient.
	scheme *scheme
	out    []float64 // outputs, len(Times) × n
	outJ   []int     // output i lies between grid points outJ[i] and outJ[i]+1
	outW   []float64 // with interpolation weight outW[i] on the later one
	// released is set by Release: the grid states are gone.
	released bool
	// noFields is set by ReleaseFieldValues.
	noFields bool
	// ring, when not zero, is the number of states kept for a
	// state-free field: y_0 in y and y_m (m ≥ 1) in row (m-1)%(ring-1)
	// of yr, a buffer of its own so that ReleaseOutputs can hand it back;
	// kept holds the states the outputs are interpolated from.
	ring int
	yr   []float64
	kept map[int][]float64
	// y32 holds every grid state in float32 with Options.StoreFloat32
	// (y is then the ring); nil otherwise.
	y32 []float32
}

// At returns the state at output time Times[i] as a view (rows × Dim,
// row-major) into the solution; copy it before changing it. It returns nil
// after Release.
func (s *Solution) At(i int) []float64 {
	if s.released || s.out == nil {
		return nil
	}
	n := s.Rows * s.Dim
	return s.out[i*n : (i+1)*n]
}

// Final returns the state at the last output time (T unless Options.Times
// said otherwise) as a view into the solution, nil after Release.
func (s *Solution) Final() []float64 { return s.At(len(s.Times) - 1) }

// Grid returns the grid times t_0 = 0 < t_1 < ... < t_Steps = T.
func (s *Solution) Grid() []float64 { return s.grid }

// Release hands the solution's storage (grid states, field values and the
// outputs) back to the package for reuse by later solves and gradients,
// which then allocate nothing for them: call it once neither the outputs
// nor a gradient will be asked of the solution; copy the outputs first to
// keep them. Grid keeps working; At, Final and State return nil and Grad
// an error afterwards. Calling it again does nothing.
func (s *Solution) Release() {
	if s.released {
		return
	}
	putFloats(s.theta)
	putFloats(s.out)
	putFloats(s.y)
	putFloats(s.yr)
	putFloats(s.fv)
	putFloats32(s.fv32)
	putFloats32(s.y32)
	for _, p := range s.pred {
		putFloats(p)
	}
	s.theta, s.out, s.y, s.yr, s.fv, s.fv32, s.y32, s.pred, s.scheme, s.kept = nil, nil, nil, nil, nil, nil, nil, nil, nil, nil
	s.released = true
}

// ReleaseOutputs hands the output states back to the package for reuse,
// as Release does for everything, together with the newest grid states
// that a solve of a StateFreeField kept only for its own steps: call it
// once the outputs are copied and a gradient may still follow, which then
// needs less memory and is the same. At and Final return nil afterwards,
// and State returns nil for the states Grad does not read; Grid and Grad
// keep working. With states stored in float32 (Options.StoreFloat32 and
// a field that is not state-free) the gradient reads the outputs' exact
// states, and nothing is released. Calling it again does nothing.
func (s *Solution) ReleaseOutputs() {
	if s.released || s.out == nil || s.y32 != nil {
		return
	}
	putFloats(s.out)
	putFloats(s.yr)
	s.out, s.yr = nil, nil
	clear(s.kept) // they may share the outputs' storage
}

// ReleaseFieldValues hands the solution's stored field values back to the
// package for reuse, as Release does for everything: only a gradient by
// the orders (GradOptions.GradAlpha) reads them, so call it once the
// solution will be differentiated without one. Grad then needs no more
// than the states (none, with a StateFreeField, beyond the few the solve
// kept) and the cotangent stream it builds, and refuses GradAlpha. At,
// Final, Grid and State keep working. Calling it again does nothing.
func (s *Solution) ReleaseFieldValues() {
	if s.released || !s.Method.Fractional() {
		return
	}
	putFloats(s.fv)
	putFloats32(s.fv32)
	s.fv, s.fv32 = nil, nil
	s.noFields = true
}

// State returns the state at grid time Grid()[j] as a view (nil after
// Release, and nil for the grid states that a solve with a
// StateFreeField did not keep). A state stored in float32
// (Options.StoreFloat32) comes back as a new float64 copy.
func (s *Solution) State(j int) []float64 {
	if s.released {
		return nil
	}
	if s.y32 != nil && j > 0 {
		if v, ok := s.kept[j]; ok {
			return v
		}
		return s.stateInto(make([]float64, s.Rows*s.Dim), j)
	}
	return s.stateInto(nil, j)
}

// stateInto returns state j: a view of the float64 storage, a kept
// output state, or the float32-stored state converted into dst; nil when
// the solve kept no copy of it.
func (s *Solution) stateInto(dst []float64, j int) []float64 {
	n := s.Rows * s.Dim
	if s.ring == 0 || j == 0 {
		return s.y[j*n : (j+1)*n]
	}
	if v, ok := s.kept[j]; ok {
		return v
	}
	if s.y32 == nil {
		return nil
	}
	return convert(dst, s.y32[j*n:(j+1)*n])
}

// fieldRow returns the stored field value f_j as float64: a view, or
// converted into dst when it is stored in float32.
func (s *Solution) fieldRow(dst []float64, j int) []float64 {
	n := s.Rows * s.Dim
	if s.fv32 == nil || (j+1)*n <= len(s.fv) {
		return s.fv[j*n : (j+1)*n]
	}
	return convert(dst, s.fv32[j*n:(j+1)*n])
}

// vjpStateInto returns the state at which the gradient evaluates the VJP
// of step j (converted into dst when stored in float32), or y_0 when the
// solve did not keep it (a state-free field, whose VJP does not read it).
func (s *Solution) vjpStateInto(dst []float64, j int) []float64 {
	if s.ring > 0 && s.y32 == nil {
		return s.State(0)
	}
	return s.stateInto(dst, j)
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
// f.Dim() states) and the parameters θ = theta (f.NumParams() values). At
// α = 1 it is the ordinary differential equation x' = f. The state comes
// first, as in every ODE library. The inputs are not modified; the
// Solution keeps copies, and the field, for Grad.
//
// Errors report invalid options, shapes that do not match the field,
// non-finite inputs, and the step at which a state or field value became
// NaN or Inf (wrapping ErrNotFinite) or an implicit step did not converge.
func Solve(f Field, x0, theta []float64, opt Options) (*Solution, error) {
	opt = opt.withDefaults()
	steps, h, err := opt.validate(f, x0, theta)
	if err != nil {
		return nil, err
	}
	// The solution keeps its own copies, so the caller may reuse them.
	opt.Orders = slices.Clone(opt.Orders)
	opt.Coeffs = slices.Clone(opt.Coeffs)
	opt.Times = slices.Clone(opt.Times)
	d := f.Dim()
	s := &solver{
		f: f, theta: cloneFloats(theta), opt: opt,
		alpha: opt.Alpha, h: h, steps: steps, d: d, n: len(x0),
	}
	s.sol = &Solution{
		Method: opt.Method, Alpha: opt.Alpha, T: opt.T,
		Orders: opt.Orders, Coeffs: opt.Coeffs, ShortMemory: opt.ShortMemory,
		Times: opt.Times,
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
	fp    *fixedPoint // for the implicit steps
	grow  growth      // the explicit schemes' stability check
	x0    []float64   // the initial state, before the states are allocated
	fcur  []float64   // the newest field value before its float32 store
}

// allocStates allocates the state storage: every grid state, or a ring
// of rows rows (y_0 and rows-1 recent states).
func (s *solver) allocStates(rows int) {
	N, n := s.steps, s.n
	if rows > 0 && rows < N+1 {
		s.sol.ring = rows
		s.sol.kept = make(map[int][]float64)
		s.sol.y = getFloats(n)
		s.sol.yr = getFloats((rows - 1) * n)
	} else {
		s.sol.y = getFloats((N + 1) * n)
	}
	copy(s.sol.y, s.x0)
	s.y0 = s.sol.y[:n]
}

// stateRow returns the row that holds (or will hold) state m.
func (s *solver) stateRow(m int) []float64 {
	if r := s.sol.ring; r > 0 && m > 0 {
		return s.row(s.sol.yr, (m-1)%(r-1))
	}
	return s.row(s.sol.y, m)
}

// ringRows returns the rows of state storage that the scheme needs with a
// state-free field, or 0 when it needs every state: the states of a step
// are read after it only by the history sums over the state stream, by
// PECE's gradient (its iterates) and by dL/dα where the field values are
// not stored, and an implicit step extrapolates from the last two.
func (s *solver) ringRows(sc *scheme) int {
	f, ok := s.f.(StateFreeField)
	if !ok || !f.StateFreeVJP() || !sc.storesFields() || sc.kind == correctorStep {
		return 0
	}
	for _, t := range sc.terms {
		if t.stream == stateStream {
			return 0
		}
	}
	return ringSize(sc.kind, sc.firstStep())
}

// ringSize returns the rows of a ring of states: y_0 and the newest state
// for an explicit or corrector step, which reads no earlier one; y_0 and
// the last three for an implicit step (it extrapolates from the last two)
// or the starting block's states.
func ringSize(kind stepKind, first int) int {
	if kind != implicitStep && first == 1 {
		return 2
	}
	return 1 + max(3, first)
}

// keepOutput copies state m aside when an output is interpolated from it
// and the states live in a ring, and into the float32 store.
func (s *solver) keepOutput(m int) {
	sol := s.sol
	if sol.ring == 0 {
		return
	}
	if sol.y32 != nil {
		convert(sol.y32[m*s.n:(m+1)*s.n], s.stateRow(m))
	}
	for i := range sol.outJ {
		j := sol.outJ[i]
		if m != j && (m != j+1 || sol.outW[i] == 0) {
			continue
		}
		if _, ok := sol.kept[m]; ok {
			continue
		}
		if m == j && sol.outW[i] == 0 {
			// The output is the state itself: its row is the copy.
			sol.kept[m] = copy2(sol.out[i*s.n:(i+1)*s.n], s.stateRow(m))
			continue
		}
		sol.kept[m] = append([]float64(nil), s.stateRow(m)...)
	}
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

// initGrowth starts the stability check from y_0 and f = |f(0, y_0)|∞.
func (s *solver) initGrowth(f float64) {
	_, m0 := maxAbsFinite(s.y0)
	var k float64
	if len(s.opt.Orders) == 0 {
		k = math.Pow(s.opt.T, s.alpha) / math.Gamma(s.alpha+1)
	}
	for i, a := range s.opt.Orders {
		// Each term alone bounds the growth by T^α_i/(c_i Γ(α_i+1)) |f|;
		// take the most generous.
		k = max(k, math.Pow(s.opt.T, a)/(s.opt.Coeffs[i]*math.Gamma(a+1)))
	}
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
	s.sol.grid = uniformGrid(s.steps, s.h, s.opt.T)
	s.x0 = x0
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

// eval32 evaluates a Float32Field at grid point m straight into row m of
// the float32 store and checks the result.
func (s *solver) eval32(f Float32Field, m int, x []float64) error {
	s.evals++
	t := s.sol.grid[m]
	dst := s.sol.fv32[m*s.n : (m+1)*s.n]
	if err := f.EvalFloat32(dst, t, x, s.theta); err != nil {
		return fmt.Errorf("fode: step %d (t = %g): field: %w", m, t, err)
	}
	if i := firstNonFinite32(dst); i >= 0 {
		return fmt.Errorf("fode: step %d (t = %g): field value %d = %v in float32: %w", m, t, i, dst[i], ErrNotFinite)
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
	case Euler:
		s.allocStates(0)
		return s.rk(eulerMethod)
	case RK4:
		s.allocStates(0)
		return s.rk(rk4Method)
	}
	sc, err := newScheme(&s.opt, s.h, s.steps, false)
	if err != nil {
		return err
	}
	s.sol.scheme = sc
	ring := s.ringRows(sc)
	if ring == 0 && s.opt.StoreFloat32 {
		// Every state in float32, the scheme working on a float64 ring.
		ring = ringSize(sc.kind, sc.firstStep())
		s.sol.y32 = getFloats32((s.steps + 1) * s.n)
	}
	s.allocStates(ring)
	s.planOutputs()
	if ring > 0 {
		// The outputs at grid points are kept in the output rows
		// themselves (see keepOutput).
		s.sol.out = getFloats(len(s.sol.Times) * s.n)
	}
	return s.fractional(sc)
}

// fractional runs a fractional scheme: the one forward loop of every
// scheme's weights (see scheme).
func (s *solver) fractional(sc *scheme) error {
	N, n := s.steps, s.n
	first := sc.firstStep()
	if N < first-1 {
		return fmt.Errorf("fode: method %v with alpha = %v needs at least %d steps for its starting weights, got %d", s.opt.Method, s.alpha, first-1, N)
	}
	// fprev is f_{m-1}: a row of the stored field values, or one buffer
	// for a scheme that reads only the previous one.
	var fprev []float64
	store32 := s.opt.StoreFloat32 && sc.storesFields()
	// f32 is the field when it writes the float32 store itself.
	f32 := sc.float32Direct(s.f, store32, s.pool != nil)
	switch {
	case f32 != nil:
		s.sol.fv32 = getFloats32((N + 1) * n)
	case store32:
		// The field values the starting weights read stay float64.
		s.sol.fv32 = getFloats32((N + 1) * n)
		s.fcur = getFloats(n) // a scratch row, back to the pools at the end
		defer putFloats(s.fcur)
		fprev = s.fcur
		if sc.start > 0 {
			s.sol.fv = getFloats(first * n)
			fprev = s.row(s.sol.fv, 0)
		}
	case sc.storesFields():
		s.sol.fv = getFloats((N + 1) * n)
		fprev = s.row(s.sol.fv, 0)
	case sc.usesFields():
		s.tmp2 = make([]float64, n)
		fprev = s.tmp2
	}
	if sc.kind != explicitStep {
		s.tmp = make([]float64, n)
		if s.tmp2 == nil {
			s.tmp2 = make([]float64, n)
		}
	}
	var f0 float64 // |f(0, y_0)|∞
	switch {
	case f32 != nil:
		if err := s.eval32(f32, 0, s.y0); err != nil {
			return err
		}
		f0 = maxAbs32(s.sol.fv32[:n])
	case fprev != nil:
		if err := s.eval(fprev, 0, s.y0, 0); err != nil {
			return err
		}
		_, f0 = maxAbsFinite(fprev)
	}
	if sc.kind != implicitStep {
		s.initGrowth(f0)
	}
	if sc.kind == correctorStep {
		// pred[0] holds the predictions and pred[k] the k-th corrected
		// iterate when μ > 1; the gradient re-linearises at each.
		s.sol.pred = make([][]float64, sc.correctors)
		for k := range s.sol.pred {
			s.sol.pred[k] = getFloats((N + 1) * n)
		}
	}
	if sc.kind == implicitStep {
		s.fp = newFixedPoint(n, s.opt.Iteration)
	}
	if err := s.startBlock(sc); err != nil {
		return err
	}
	for m := range first {
		if s.sol.ring > 0 && m > 0 {
			if err := s.checkState(s.stateRow(m), m); err != nil {
				return err
			}
		}
		s.keepOutput(m)
		switch {
		case store32 && sc.start > 0:
			s.store32(m, s.row(s.sol.fv, m))
		case store32:
			s.store32(m, fprev)
		}
	}
	// One History per stream serves all the terms over it.
	sums := &termSums{out: make([][]float64, len(sc.forms))}
	switch {
	case sc.kind != explicitStep:
		sums.out[0] = s.tmp2 // B, beside f(t_m, ·) in s.tmp
	case first <= N:
		sums.out[0] = s.stateRow(first) // each step points it at its state
	}
	if sc.kind == correctorStep && first <= N {
		sums.out[1] = s.row(s.sol.pred[0], first) // likewise, the prediction
	}
	for _, t := range sc.terms {
		sums.add(int(t.stream), t.w, t.form)
	}
	if store32 || s.sol.y32 != nil {
		sums.values32 = func(key int) []float32 {
			if stream(key) == fieldStream {
				return s.sol.fv32
			}
			return s.sol.y32
		}
	}
	if err := sums.start(s.opt.History, n, func(key int) []float64 {
		if stream(key) == fieldStream {
			return s.sol.fv
		}
		return s.sol.y
	}); err != nil {
		return err
	}
	defer sums.release()
	fy := s.tmp // f(t_m, ·) of an implicit or corrector step
	for m := first; m <= N; m++ {
		t := s.sol.grid[m]
		y := s.stateRow(m)
		switch sc.kind {
		case explicitStep:
			sums.out[0] = y // the combination is the new state
		case correctorStep:
			sums.out[1] = s.row(s.sol.pred[0], m) // the prediction
		}
		sums.sum(m)
		for l := range sc.forms {
			s.combine(sc, sums.out[l], l, m, fprev)
		}
		var err error
		switch sc.kind {
		case explicitStep:
			err = s.checkStep(y, m)
		case implicitStep:
			if sc.storesFields() && !store32 {
				fy = s.row(s.sol.fv, m)
			}
			if sc.extrapolate && m >= 2 {
				floats.ScaleTo(y, 2, s.stateRow(m-1))
				floats.Sub(y, s.stateRow(m-2))
			} else {
				copy(y, s.stateRow(m-1))
			}
			if err = s.implicit(y, fy, sums.out[0], sc.kappa, t, m); err == nil {
				err = s.checkState(y, m)
			}
		case correctorStep:
			if err = s.correct(sc, sums.out[0], fy, m); err == nil {
				err = s.checkStep(y, m)
			}
		}
		if err != nil {
			return err
		}
		s.keepOutput(m)
		if store32 && sc.kind == implicitStep {
			s.store32(m, fy)
		}
		// An explicit or corrector step evaluates the field at its new
		// state for the steps after it; an implicit one has it from its
		// solve.
		if f32 != nil && m < N {
			if err := s.eval32(f32, m, y); err != nil {
				return err
			}
		} else if sc.kind != implicitStep && fprev != nil && m < N {
			switch {
			case store32:
				fprev = s.fcur
			case sc.storesFields():
				fprev = s.row(s.sol.fv, m)
			}
			if err := s.eval(fprev, t, y, m); err != nil {
				return err
			}
			if store32 {
				s.store32(m, fprev)
			}
		}
	}
	return nil
}

// copy2 copies src into dst and returns dst.
func copy2(dst, src []float64) []float64 {
	copy(dst, src)
	return dst
}

// store32 rounds the field value f_m into the float32 store.
func (s *solver) store32(m int, f []float64) {
	convert(s.sol.fv32[m*s.n:(m+1)*s.n], f)
}

// combine completes combination l of step m from its history sums:
// B += a_m y_0 + Σ_{j<s} W_{m,j} f_j + e f_{m-1}.
func (s *solver) combine(sc *scheme, B []float64, l, m int, fprev []float64) {
	if a := sc.y0Coef(l, m, -1); a == 1 {
		floats.Add(B, s.y0)
	} else {
		floats.AddScaled(B, a, s.y0)
	}
	if l == 0 {
		for j := 0; j < sc.start; j++ {
			floats.AddScaled(B, sc.W[m*sc.start+j], s.row(s.sol.fv, j))
		}
	}
	if e := sc.forms[l].lag1; e != 0 {
		floats.AddScaled(B, e, fprev)
	}
}

// correct runs the μ corrector iterations of step m from the prediction
// in pred[0]: q_k = B + κ f(t_m, q_{k-1}), the last one into y_m.
func (s *solver) correct(sc *scheme, B, fq []float64, m int) error {
	t := s.sol.grid[m]
	cur := s.row(s.sol.pred[0], m)
	for k := range sc.correctors {
		if i := firstNonFinite(cur); i >= 0 {
			return fmt.Errorf("fode: step %d (t = %g): predictor or corrector iterate %d, component %d = %v: %w", m, t, k, i, cur[i], ErrNotFinite)
		}
		if err := s.eval(fq, t, cur, m); err != nil {
			return err
		}
		next := s.stateRow(m)
		if k+1 < sc.correctors {
			next = s.row(s.sol.pred[k+1], m)
		}
		floats.AddScaledTo(next, B, sc.kappa, fq)
		cur = next
	}
	return nil
}

// startBlock solves the coupled steps 1..s-1 of a scheme with s > 1
// starting weights together, by fixed-point iteration on all of them.
func (s *solver) startBlock(sc *scheme) error {
	first := sc.firstStep()
	if first < 2 {
		return nil
	}
	n := s.n
	for m := 1; m < first; m++ {
		copy(s.stateRow(m), s.y0)
	}
	g := func(gx, block []float64) error {
		for m := 1; m < first; m++ {
			if err := s.eval(s.row(s.sol.fv, m), s.sol.grid[m], block[(m-1)*n:m*n], m); err != nil {
				return err
			}
		}
		for m := 1; m < first; m++ {
			next := gx[(m-1)*n : m*n]
			floats.ScaleTo(next, sc.y0Coef(0, m, -1), s.y0)
			for j := 0; j < first; j++ {
				floats.AddScaled(next, sc.blockWeight(m, j, -1), s.row(s.sol.fv, j))
			}
		}
		return nil
	}
	var block []float64 // states 1..first-1, in consecutive rows of the ring too
	if s.sol.ring > 0 {
		block = s.sol.yr[:(first-1)*n]
	} else {
		block = s.sol.y[n : first*n]
	}
	fp := newFixedPoint((first-1)*n, s.opt.Iteration)
	return fp.solve(block, g, func() string {
		return fmt.Sprintf("fode: steps 1..%d (t = %g): the starting block of %v", first-1, s.sol.grid[first-1], s.opt.Method)
	})
}

// implicit solves y = B + κ f(t, y) by fixed-point iteration from the
// guess in y. On return fy holds the field value that produced y, so
// y = B + κ fy holds exactly.
func (s *solver) implicit(y, fy, B []float64, kappa, t float64, step int) error {
	g := func(gx, y []float64) error {
		if err := s.eval(fy, t, y, step); err != nil {
			return err
		}
		floats.AddScaledTo(gx, B, kappa, fy)
		return nil
	}
	return s.fp.solve(y, g, func() string { return fmt.Sprintf("fode: step %d (t = %g): implicit solve", step, t) })
}

// planOutputs finds, for every output time, the grid points it is
// interpolated from and the weight of the later one.
func (s *solver) planOutputs() {
	sol := s.sol
	sol.outJ = make([]int, len(sol.Times))
	sol.outW = make([]float64, len(sol.Times))
	for i, tau := range sol.Times {
		sol.outJ[i], sol.outW[i] = Locate(sol.grid, tau)
	}
}

// outputs fills the states at the output times, interpolating linearly
// between grid points, after checking that every grid state is finite
// (the schemes check each step; this also covers the starting steps and
// the interpolation).
func (s *solver) outputs() error {
	if i := firstNonFinite(s.sol.y); i >= 0 && s.sol.ring == 0 {
		j := i / s.n
		return fmt.Errorf("fode: step %d (t = %g): state component %d = %v: %w", j, s.sol.grid[j], i%s.n, s.sol.y[i], ErrNotFinite)
	}
	sol := s.sol
	n := s.n
	if sol.outJ == nil {
		s.planOutputs()
	}
	if sol.out == nil {
		sol.out = getFloats(len(sol.Times) * n)
	}
	for i, tau := range sol.Times {
		j, w := sol.outJ[i], sol.outW[i]
		dst := sol.out[i*n : (i+1)*n]
		copy(dst, sol.State(j))
		if w != 0 {
			next := sol.State(j + 1)
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
