package optim

import (
	"errors"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GradFunc recomputes the gradients of a graph's learnables at the values
// their nodes hold: the Solver writes a stage's parameters into the nodes'
// values, calls the GradFunc, then reads the nodes' Grad(). For a Gorgonia
// VM it is RunVM(vm); any function that re-runs the forward and backward
// pass (a new minibatch must not be loaded in between) will do.
type GradFunc func() error

// RunVM returns the GradFunc that re-runs a Gorgonia VM on the current
// parameter values: vm.Reset(), then vm.RunAll(). The VM is left after a
// run, as after the caller's own RunAll, so the usual loop RunAll, Step,
// Reset is unchanged. It is tested with TapeMachines, with and without
// BindDualValues. (Gorgonia v0.9.18's LispMachine returns zero gradients
// once a solver has zeroed them, with Gorgonia's own solvers too.)
func RunVM(vm G.VM) GradFunc {
	return func() error {
		vm.Reset()
		return vm.RunAll()
	}
}

// Solver adapts an Optimizer to Gorgonia: it implements G.Solver, and its
// Step re-runs the graph through a GradFunc for every stage after the
// first. It is a drop-in replacement of Gorgonia's solvers:
//
//	solver, err := optim.NewSolver(optim.RK4(), optim.RunVM(vm), optim.WithLearnRate(0.1))
//	for … {
//		vm.RunAll()                                   // loss and ∇L at θ: stage 1
//		solver.Step(G.NodesToValueGrads(learnables))  // stages 2 … s re-run vm
//		vm.Reset()
//	}
//
// The parameters of all nodes form one vector θ (in the order of the
// model, each node's values in row-major order); float64 and float32
// values (tensors or scalars) are supported, float32 ones are updated in
// float64 and rounded. The solver keeps its state for one model; change
// the model only after Reset. It is not safe for concurrent use.
type Solver struct {
	opt  *Optimizer
	grad GradFunc

	model             []G.ValueGrad
	theta, theta0, g0 []float64
	eval              Func
}

var _ G.Solver = (*Solver)(nil)

// NewSolver returns a Solver for the method t with the options opts (see
// New); grad re-runs the graph and may be nil only for single-stage
// methods (Euler without Embedded control, which never re-runs).
// NewSolver(Euler(), nil, WithLearnRate(h)) equals
// G.NewVanillaSolver(G.WithLearnRate(h)) step for step.
func NewSolver(t Tableau, grad GradFunc, opts ...Option) (*Solver, error) {
	o, err := New(t, opts...)
	if err != nil {
		return nil, err
	}
	if grad == nil && o.used > 1 {
		return nil, fmt.Errorf("optim: %s takes %d stages a step and needs a GradFunc to re-run the graph", t.Name, o.used)
	}
	s := &Solver{opt: o, grad: grad}
	s.eval = s.stage
	return s, nil
}

// Optimizer returns the underlying optimizer (Stats, LearnRate,
// SetLearnRate).
func (s *Solver) Optimizer() *Optimizer { return s.opt }

// Stats returns the optimizer's statistics; Evals counts the caller's run
// before each Step as the first stage's evaluation.
func (s *Solver) Stats() Stats { return s.opt.Stats() }

// Reset forgets the optimizer's state (see Optimizer.Reset).
func (s *Solver) Reset() { s.opt.Reset() }

// Step takes one Runge-Kutta step on the model's nodes. On entry the
// nodes' gradients must hold ∇L at their current values (the caller has
// just run the graph, as for every Gorgonia solver); they serve as the
// first stage. For each later stage Step writes the stage's parameters
// into the nodes' values, zeroes the gradients (a TapeMachine with
// BindDualValues adds into them), calls the GradFunc and reads the
// gradients back. At the end it writes the new parameters and
// zeroes the gradients (as VanillaSolver does). On error (a failing
// GradFunc, a NaN or Inf gradient: a *StageError naming the stage) it
// writes the parameters from before the step back, so the nodes' values
// are unchanged.
func (s *Solver) Step(model []G.ValueGrad) error {
	s.model = model
	defer func() { s.model = nil }()
	n := 0
	for i, nd := range model {
		val, err := values(nd, i)
		if err != nil {
			return err
		}
		if _, err := grads(nd, i, val); err != nil {
			return err
		}
		n += val.len()
	}
	if cap(s.theta) < n {
		s.theta = make([]float64, n)
		s.theta0 = make([]float64, n)
		s.g0 = make([]float64, n)
	}
	s.theta, s.theta0, s.g0 = s.theta[:n], s.theta0[:n], s.g0[:n]
	if err := s.gather(s.theta, false); err != nil {
		return err
	}
	if err := s.gather(s.g0, true); err != nil {
		return err
	}
	copy(s.theta0, s.theta)
	var f Func
	if s.grad != nil {
		f = s.eval
	}
	if err := s.opt.StepGrad(s.theta, s.g0, f); err != nil {
		if werr := s.scatter(s.theta0); werr != nil {
			return errors.Join(err, werr)
		}
		return err
	}
	return s.scatter(s.theta)
}

// stage is the Func of the later stages: write p, re-run, read the
// gradients into g.
func (s *Solver) stage(p, g []float64) (float64, error) {
	if err := s.scatter(p); err != nil {
		return math.NaN(), err
	}
	if err := s.grad(); err != nil {
		return math.NaN(), fmt.Errorf("re-running the graph: %w", err)
	}
	return math.NaN(), s.gather(g, true)
}

// gather copies the model's values (or gradients) into dst.
func (s *Solver) gather(dst []float64, grad bool) error {
	off := 0
	for i, nd := range s.model {
		v, err := values(nd, i)
		if err != nil {
			return err
		}
		if grad {
			if v, err = grads(nd, i, v); err != nil {
				return err
			}
		}
		if off+v.len() > len(dst) {
			return fmt.Errorf("optim: node %s changed size during the step", nodeName(nd, i))
		}
		v.get(dst[off : off+v.len()])
		off += v.len()
	}
	if off != len(dst) {
		return errors.New("optim: the model changed size during the step")
	}
	return nil
}

// scatter writes src into the model's values and zeroes the gradients.
func (s *Solver) scatter(src []float64) error {
	off := 0
	for i, nd := range s.model {
		v, err := values(nd, i)
		if err != nil {
			return err
		}
		g, err := grads(nd, i, v)
		if err != nil {
			return err
		}
		if off+v.len() > len(src) {
			return fmt.Errorf("optim: node %s changed size during the step", nodeName(nd, i))
		}
		v.set(src[off : off+v.len()])
		g.zero()
		off += v.len()
	}
	return nil
}

// flat is a float64 or float32 value seen as a flat vector.
type flat struct {
	f64 []float64
	f32 []float32
	s64 *G.F64
	s32 *G.F32
}

func (v flat) len() int {
	switch {
	case v.s64 != nil, v.s32 != nil:
		return 1
	case v.f32 != nil:
		return len(v.f32)
	}
	return len(v.f64)
}

func (v flat) get(dst []float64) {
	switch {
	case v.s64 != nil:
		dst[0] = float64(*v.s64)
	case v.s32 != nil:
		dst[0] = float64(*v.s32)
	case v.f32 != nil:
		for i, x := range v.f32 {
			dst[i] = float64(x)
		}
	default:
		copy(dst, v.f64)
	}
}

func (v flat) set(src []float64) {
	switch {
	case v.s64 != nil:
		*v.s64 = G.F64(src[0])
	case v.s32 != nil:
		*v.s32 = G.F32(src[0])
	case v.f32 != nil:
		for i, x := range src {
			v.f32[i] = float32(x)
		}
	default:
		copy(v.f64, src)
	}
}

func (v flat) zero() {
	switch {
	case v.s64 != nil:
		*v.s64 = 0
	case v.s32 != nil:
		*v.s32 = 0
	case v.f32 != nil:
		clear(v.f32)
	default:
		clear(v.f64)
	}
}

func (v flat) is32() bool { return v.s32 != nil || v.f32 != nil }

// nodeName returns the node's name, or its index in the model.
func nodeName(nd G.ValueGrad, i int) string {
	if nm, ok := nd.(G.Namer); ok {
		return fmt.Sprintf("%q", nm.Name())
	}
	return fmt.Sprintf("#%d", i)
}

// asFlat views a Gorgonia value as a flat vector.
func asFlat(v G.Value) (flat, error) {
	switch w := v.(type) {
	case *G.F64:
		return flat{s64: w}, nil
	case *G.F32:
		return flat{s32: w}, nil
	case *tensor.Dense:
		if w.IsView() || w.RequiresIterator() {
			return flat{}, errors.New("a view or non-contiguous tensor")
		}
		switch w.Dtype() {
		case tensor.Float64:
			d := w.Float64s()
			if len(d) != w.Size() {
				return flat{}, fmt.Errorf("%d stored values for %d elements", len(d), w.Size())
			}
			return flat{f64: d}, nil
		case tensor.Float32:
			d := w.Float32s()
			if len(d) != w.Size() {
				return flat{}, fmt.Errorf("%d stored values for %d elements", len(d), w.Size())
			}
			return flat{f32: d}, nil
		}
		return flat{}, fmt.Errorf("dtype %v, want float64 or float32", w.Dtype())
	case nil:
		return flat{}, errors.New("no value")
	}
	return flat{}, fmt.Errorf("value of type %T, want *tensor.Dense, *G.F64 or *G.F32", v)
}

// values returns the node's value as a flat vector.
func values(nd G.ValueGrad, i int) (flat, error) {
	if nd == nil {
		return flat{}, fmt.Errorf("optim: node #%d is nil", i)
	}
	v, err := asFlat(nd.Value())
	if err != nil {
		return flat{}, fmt.Errorf("optim: node %s: %w", nodeName(nd, i), err)
	}
	return v, nil
}

// grads returns the node's gradient as a flat vector of the value's size
// and precision.
func grads(nd G.ValueGrad, i int, val flat) (flat, error) {
	gv, err := nd.Grad()
	if err != nil {
		return flat{}, fmt.Errorf("optim: node %s: no gradient: %w", nodeName(nd, i), err)
	}
	g, err := asFlat(gv)
	if err != nil {
		return flat{}, fmt.Errorf("optim: gradient of node %s: %w", nodeName(nd, i), err)
	}
	if g.len() != val.len() || g.is32() != val.is32() {
		return flat{}, fmt.Errorf("optim: node %s: gradient of %d values (float32 %v) for %d values (float32 %v)", nodeName(nd, i), g.len(), g.is32(), val.len(), val.is32())
	}
	return g, nil
}
