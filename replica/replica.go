// Package replica trains one Gorgonia model on several cores at once by
// data parallelism: k copies of the model's graph (replicas) each take a
// slice of the minibatch, run forward and backward concurrently on their
// own tape machines, and their gradients are averaged into the first
// replica, whose learnables an optimizer then updates as usual.
//
// A Gorgonia tape machine runs its graph's operations one after another,
// so a single machine keeps one core busy outside the parallel parts of
// its ops; k replicas keep k cores busy. If replica i holds n_i of the
// minibatch's n examples and its loss is the mean over its own examples,
// the minibatch loss and gradient are
//
//	L = Σ_i (n_i/n) L_i,   ∇L = Σ_i (n_i/n) ∇L_i,
//
// which is what RunAll leaves in the first replica: the same gradient as
// one machine on the whole minibatch, up to rounding.
//
// A Set implements gorgonia.VM, so an optimizer that re-runs the machine
// for its later stages (the Runge-Kutta solvers of package optim) drives
// all replicas: every RunAll first copies the first replica's parameter
// values into the others.
package replica

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Model is one replica: a graph, its learnable nodes (in the same order
// in every replica, with the same shapes and dtype), its scalar loss node
// (the mean over the replica's examples) and the number of examples it
// takes from each minibatch.
type Model struct {
	Graph *G.ExprGraph
	Learn G.Nodes
	Loss  *G.Node
	Batch int
}

// Set runs the replicas of one model. It is not safe for concurrent use.
type Set struct {
	models   []Model
	machines []G.VM
	weights  []float64 // n_i / n
	errs     []error
}

// New builds one tape machine per replica, with the learnables' values and
// gradients bound (gorgonia.BindDualValues). Each model must already hold
// its gradient nodes (gorgonia.Grad of Loss with respect to Learn). The
// replicas' parameter values need not agree: RunAll copies the first
// replica's into the others.
func New(models []Model) (s *Set, err error) {
	if len(models) == 0 {
		return nil, errors.New("replica: no models")
	}
	total := 0
	for i, m := range models {
		if err := check(m, models[0]); err != nil {
			return nil, fmt.Errorf("replica: model %d: %w", i, err)
		}
		total += m.Batch
	}
	s = &Set{models: models, errs: make([]error, len(models))}
	for _, m := range models {
		s.weights = append(s.weights, float64(m.Batch)/float64(total))
	}
	// NewTapeMachine panics when a graph does not compile.
	defer func() {
		if r := recover(); r != nil {
			s.Close()
			s, err = nil, fmt.Errorf("replica: building machine %d: %v", len(s.machines), r)
		}
	}()
	for _, m := range models {
		s.machines = append(s.machines, G.NewTapeMachine(m.Graph, G.BindDualValues(m.Learn...)))
	}
	return s, nil
}

// check reports whether m can be a replica of first.
func check(m, first Model) error {
	switch {
	case m.Graph == nil || m.Loss == nil:
		return errors.New("nil graph or loss node")
	case m.Batch < 1:
		return fmt.Errorf("batch %d, want at least 1", m.Batch)
	case len(m.Learn) != len(first.Learn):
		return fmt.Errorf("%d learnables, the first model has %d", len(m.Learn), len(first.Learn))
	}
	for j, n := range m.Learn {
		f := first.Learn[j]
		if n.Dtype() != f.Dtype() || !n.Shape().Eq(f.Shape()) {
			return fmt.Errorf("learnable %d (%s): %v %v, the first model has %v %v", j, n.Name(), n.Dtype(), n.Shape(), f.Dtype(), f.Shape())
		}
		if n.Dtype() != tensor.Float64 && n.Dtype() != tensor.Float32 {
			return fmt.Errorf("learnable %d (%s): dtype %v, want float64 or float32", j, n.Name(), n.Dtype())
		}
	}
	return nil
}

// Len returns the number of replicas.
func (s *Set) Len() int { return len(s.models) }

// Model returns replica i.
func (s *Set) Model(i int) Model { return s.models[i] }

// Learnables returns the first replica's learnable nodes: after RunAll
// their gradients are the minibatch's, and an optimizer updates their
// values.
func (s *Set) Learnables() G.Nodes { return s.models[0].Learn }

// RunAll copies the first replica's parameters into the others, runs
// every replica's forward and backward pass concurrently, and adds the
// weighted mean of their gradients to the first replica's learnables'
// gradients, as one tape machine on the whole minibatch would (optimizers
// zero the gradients after each step).
func (s *Set) RunAll() error {
	for i := 1; i < len(s.models); i++ {
		for j, p := range s.models[0].Learn {
			if _, err := G.Copy(s.models[i].Learn[j].Value(), p.Value()); err != nil {
				return fmt.Errorf("replica %d: copying %s: %w", i, p.Name(), err)
			}
		}
	}
	// A tape machine adds gradients to what its learnables hold (optimizers
	// zero them after a step). The set does the same for the first replica:
	// its held gradient h is divided by w_0 here and the weighted sum below
	// multiplies it back, giving h + Σ w_i ∇L_i; the other replicas' are
	// zeroed after each run.
	if len(s.models) > 1 {
		for _, p := range s.models[0].Learn {
			if err := s.scaleGrad(p, 1/s.weights[0]); err != nil {
				return fmt.Errorf("replica: gradient of %s: %w", p.Name(), err)
			}
		}
	}
	var wg sync.WaitGroup
	for i := 1; i < len(s.machines); i++ {
		wg.Go(func() { s.errs[i] = s.machines[i].RunAll() })
	}
	s.errs[0] = s.machines[0].RunAll()
	wg.Wait()
	for i, err := range s.errs {
		if err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
	}
	if len(s.models) == 1 {
		return nil
	}
	for j, p := range s.models[0].Learn {
		if err := s.average(j, p); err != nil {
			return fmt.Errorf("replica: gradient of %s: %w", p.Name(), err)
		}
	}
	return nil
}

// average replaces learnable j's gradient in the first replica by the
// weighted sum of every replica's.
func (s *Set) average(j int, p *G.Node) error {
	g0, err := p.Grad()
	if err != nil {
		return err
	}
	dst, err := view(g0)
	if err != nil {
		return err
	}
	switch dst := dst.(type) {
	case []float64:
		return accumulate(s, j, dst)
	default:
		return accumulate(s, j, dst.([]float32))
	}
}

// view returns the elements of a float64 or float32 tensor or scalar value
// as a slice that writes through to it.
func view(v G.Value) (any, error) {
	switch x := v.(type) {
	case *G.F64:
		return unsafe.Slice((*float64)(x), 1), nil
	case *G.F32:
		return unsafe.Slice((*float32)(x), 1), nil
	case tensor.Tensor:
		switch d := x.Data().(type) {
		case []float64, []float32:
			return d, nil
		}
	}
	return nil, fmt.Errorf("value of type %T, want a float64 or float32 tensor or scalar", v)
}

func accumulate[E float32 | float64](s *Set, j int, dst []E) error {
	w0 := E(s.weights[0])
	for k := range dst {
		dst[k] *= w0
	}
	for i := 1; i < len(s.models); i++ {
		g, err := s.models[i].Learn[j].Grad()
		if err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
		v, err := view(g)
		if err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
		src, ok := v.([]E)
		if !ok || len(src) != len(dst) {
			return fmt.Errorf("replica %d: gradient %T of the wrong type or length", i, v)
		}
		w := E(s.weights[i])
		for k, v := range src {
			dst[k] += w * v
			src[k] = 0
		}
	}
	return nil
}

// scaleGrad multiplies p's gradient by c.
func (s *Set) scaleGrad(p *G.Node, c float64) error {
	g, err := p.Grad()
	if err != nil || g == nil {
		return nil // no gradient held yet: nothing to scale
	}
	v, err := view(g)
	if err != nil {
		return err
	}
	switch d := v.(type) {
	case []float64:
		for k := range d {
			d[k] *= c
		}
	case []float32:
		for k := range d {
			d[k] *= float32(c)
		}
	}
	return nil
}

// Loss returns the minibatch loss of the last RunAll: the weighted mean of
// the replicas' losses.
func (s *Set) Loss() (float64, error) {
	var sum float64
	for i, m := range s.models {
		v := m.Loss.Value()
		if v == nil {
			return 0, fmt.Errorf("replica %d: the loss has no value; call RunAll first", i)
		}
		var l float64
		switch x := v.Data().(type) {
		case float64:
			l = x
		case float32:
			l = float64(x)
		case []float64:
			if len(x) != 1 {
				return 0, fmt.Errorf("replica %d: loss of %d elements, want a scalar", i, len(x))
			}
			l = x[0]
		case []float32:
			if len(x) != 1 {
				return 0, fmt.Errorf("replica %d: loss of %d elements, want a scalar", i, len(x))
			}
			l = float64(x[0])
		default:
			return 0, fmt.Errorf("replica %d: loss data of type %T", i, x)
		}
		sum += s.weights[i] * l
	}
	return sum, nil
}

// Reset resets every replica's machine for the next RunAll.
func (s *Set) Reset() {
	for _, m := range s.machines {
		m.Reset()
	}
}

// Close releases every replica's machine and returns the first error.
func (s *Set) Close() error {
	var first error
	for _, m := range s.machines {
		if err := m.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

var _ G.VM = (*Set)(nil)
