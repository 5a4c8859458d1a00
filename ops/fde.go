package ops

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/scratch"
	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/internal/vec"
)

// Config describes the solve an FDE node performs.
type Config struct {
	// Field is the vector field f(t, x; θ); θ is the concatenation of the
	// parameter nodes' values, each flattened row-major, in order.
	Field fode.Field
	// Solve holds the method, order α (when it is not a node), horizon T,
	// steps and output times. With several output times the node's value
	// is stacked along a new leading axis: (len(Times), x0's shape...).
	Solve fode.Options
	// Grad selects the backward pass: fode.Adjoint (the exact discrete
	// adjoint, ACA for Dopri5) or fode.Continuous.
	Grad fode.GradMode
}

// opIDs gives every FDE op and every matrix of the sparse ops a distinct
// identity, so that Gorgonia never merges two of them (an FDE op may hold
// a field with internal state, and two sparse ops of equal shapes may hold
// different matrices).
var opIDs atomic.Uint64

// fdeOp solves the FDE from its inputs (x0, parameters..., [α]).
type fdeOp struct {
	id          uint64
	cfg         Config
	xShape      tensor.Shape
	paramShapes []tensor.Shape
	learnAlpha  bool
	// terms is K, the length of the learnable orders and coefficients
	// vectors (0 when neither is a node).
	terms                    int
	learnOrders, learnCoeffs bool
	dtype                    tensor.Dtype
	store                    *solutionStore
	out                      *outBuf
	// keep is set once a backward pass may read the forward solution:
	// by SymDiff (a gradient node exists) or by a first DoDiff (a
	// LispMachine differentiates the graph). Until then the forward
	// pass stores nothing, so an inference graph pins no solution.
	keep atomic.Bool
	// wide holds the float64 copies of a float32 node's initial state and
	// output cotangent while fode reads them.
	wide scratch.Buffer[float64]
	// params holds θ gathered from the parameter nodes while Solve copies it.
	params scratch.Buffer[float64]
}

// FDE returns a node holding x(T) (or the states at cfg.Solve.Times) for
// the solve of D^α x = f(t, x; θ) from x0, with θ the parameter nodes'
// values. α is the node alpha when it is not nil (a scalar, so α can be
// learned), cfg.Solve.Alpha otherwise. x0 holds any batch of states whose
// total size is a multiple of the field's Dim (batch × features, or batch
// × C × H × W for an image field).
//
// The node's gradient is one backward node that runs the adjoint solve of
// package fode; the forward pass keeps the states the adjoint needs and
// no activation of the field. It keeps them only when a backward pass
// will read them: once G.Grad (or any SymDiff) has built the node's
// gradient, or once a LispMachine has differentiated the node (its first
// DoDiff solves again). A forward-only graph keeps nothing. A float32
// node whose solve would take 32 MiB or more in float64 stores its states
// and field values in float32 (fode.Options.StoreFloat32, with the
// package's own history engines); set StoreFloat32 in cfg.Solve to store
// in float32 whatever the size. Errors report shape, size and
// dtype mismatches at graph-construction time.
func FDE(x0 *G.Node, params []*G.Node, alpha *G.Node, cfg Config) (*G.Node, error) {
	return FDETerms(x0, params, Learn{Alpha: alpha}, cfg)
}

// Learn names the nodes that hold learnable parts of the equation's
// left-hand side; nil ones are taken from Config.Solve.
type Learn struct {
	// Alpha is the order α of a single-term equation, a scalar.
	Alpha *G.Node
	// Orders and Coeffs are the orders α_i and coefficients c_i of a
	// multi-term equation Σ_i c_i D^{α_i} x = f, vectors of one length K
	// (fode.Options.Orders and Coeffs). A node replaces the
	// corresponding option; with only Coeffs a node, Config.Solve.Orders
	// must hold K fixed orders. Their values must stay valid orders
	// (0 < α_i ≤ 1) and coefficients (c_i > 0): an optimiser step that
	// leaves them makes the next run fail with fode's error, so keep them
	// in range (clip, or parametrise, e.g. coefficients by fode.Softmax).
	Orders, Coeffs *G.Node
}

// FDETerms is FDE with the learnable parts of the left-hand side in
// learn: the order of a single-term equation, or the orders and the
// coefficients of a multi-term one (methods gl, gl-implicit and l1). The
// node's value is x(T) (or the states at cfg.Solve.Times) as for FDE, and
// its gradient is still one backward node: the exact adjoint gives dL/dα,
// dL/dα_i and dL/dc_i with dL/dx0 and dL/dθ in one reverse sweep.
func FDETerms(x0 *G.Node, params []*G.Node, learn Learn, cfg Config) (*G.Node, error) {
	op, err := newFDEOp(x0, params, learn, cfg)
	if err != nil {
		return nil, err
	}
	children := append([]*G.Node{x0}, params...)
	for _, n := range []*G.Node{learn.Alpha, learn.Orders, learn.Coeffs} {
		if n != nil {
			children = append(children, n)
		}
	}
	n, err := G.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("ops: FDE: %w", err)
	}
	return n, nil
}

func newFDEOp(x0 *G.Node, params []*G.Node, learn Learn, cfg Config) (*fdeOp, error) {
	alpha := learn.Alpha
	if x0 == nil {
		return nil, errors.New("ops: FDE: nil initial state")
	}
	if cfg.Field == nil {
		return nil, errors.New("ops: FDE: nil field")
	}
	dt := x0.Dtype()
	if dt != tensor.Float64 && dt != tensor.Float32 {
		return nil, fmt.Errorf("ops: FDE: initial state of dtype %v; want float64 or float32", dt)
	}
	shape := x0.Shape()
	if shape.TotalSize() == 0 || shape.TotalSize()%cfg.Field.Dim() != 0 {
		return nil, fmt.Errorf("ops: FDE: initial state of shape %v (%d values) does not fit the field's dimension %d", shape, shape.TotalSize(), cfg.Field.Dim())
	}
	op := &fdeOp{id: opIDs.Add(1), cfg: cfg, xShape: shape.Clone(), dtype: dt, store: &solutionStore{}, out: new(outBuf)}
	total := 0
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("ops: FDE: parameter %d is nil", i)
		}
		if p.Dtype() != dt {
			return nil, fmt.Errorf("ops: FDE: parameter %d (%s) has dtype %v, the initial state %v", i, p.Name(), p.Dtype(), dt)
		}
		op.paramShapes = append(op.paramShapes, p.Shape().Clone())
		total += max(1, p.Shape().TotalSize())
	}
	if total != cfg.Field.NumParams() {
		return nil, fmt.Errorf("ops: FDE: the parameter nodes hold %d values, the field needs %d", total, cfg.Field.NumParams())
	}
	if alpha != nil {
		if !alpha.IsScalar() {
			return nil, fmt.Errorf("ops: FDE: alpha node must be a scalar, has shape %v", alpha.Shape())
		}
		if alpha.Dtype() != dt {
			return nil, fmt.Errorf("ops: FDE: alpha node has dtype %v, the initial state %v", alpha.Dtype(), dt)
		}
		if cfg.Grad != fode.Adjoint || !cfg.Solve.Method.Fractional() {
			return nil, fmt.Errorf("ops: FDE: a learnable alpha needs a fractional method and the adjoint gradient, got %v with %v", cfg.Solve.Method, cfg.Grad)
		}
		op.learnAlpha = true
	}
	if err := op.checkTerms(learn, dt); err != nil {
		return nil, err
	}
	if cfg.Grad != fode.Adjoint && cfg.Grad != fode.Continuous {
		return nil, fmt.Errorf("ops: FDE: gradient mode %v is not available in a graph (want adjoint or continuous)", cfg.Grad)
	}
	// Check the options once now with a probe, so that a bad α, T or step
	// count is an error when the graph is built, not when it runs.
	probe := cfg.Solve
	if op.learnAlpha {
		probe.Alpha = 1
		if probe.Method.Fractional() {
			probe.Alpha = 0.5
		}
	}
	if op.learnOrders {
		probe.Alpha, probe.Orders = 0, make([]float64, op.terms)
		for i := range probe.Orders {
			probe.Orders[i] = 0.5
		}
	}
	if op.learnCoeffs {
		probe.Coeffs = make([]float64, op.terms)
		for i := range probe.Coeffs {
			probe.Coeffs[i] = 1
		}
	}
	if err := fode.CheckOptions(probe); err != nil {
		return nil, fmt.Errorf("ops: FDE: %w", err)
	}
	return op, nil
}

// checkTerms checks the orders and coefficients nodes of learn.
func (op *fdeOp) checkTerms(learn Learn, dt tensor.Dtype) error {
	for _, c := range []struct {
		name string
		n    *G.Node
		flag *bool
	}{{"orders", learn.Orders, &op.learnOrders}, {"coeffs", learn.Coeffs, &op.learnCoeffs}} {
		if c.n == nil {
			continue
		}
		if c.n.Shape().Dims() != 1 {
			return fmt.Errorf("ops: FDE: %s node must be a vector, has shape %v", c.name, c.n.Shape())
		}
		if c.n.Dtype() != dt {
			return fmt.Errorf("ops: FDE: %s node has dtype %v, the initial state %v", c.name, c.n.Dtype(), dt)
		}
		k := c.n.Shape().TotalSize()
		if op.terms != 0 && k != op.terms {
			return fmt.Errorf("ops: FDE: %d orders but %d coefficients", op.terms, k)
		}
		op.terms, *c.flag = k, true
	}
	if op.terms == 0 {
		return nil
	}
	switch {
	case learn.Alpha != nil:
		return errors.New("ops: FDE: a learnable alpha and learnable orders or coefficients exclude each other")
	case op.cfg.Grad != fode.Adjoint:
		return fmt.Errorf("ops: FDE: learnable orders or coefficients need the adjoint gradient, got %v", op.cfg.Grad)
	case !op.learnOrders && len(op.cfg.Solve.Orders) != op.terms:
		return fmt.Errorf("ops: FDE: %d learnable coefficients need %d orders in Config.Solve.Orders, got %d", op.terms, op.terms, len(op.cfg.Solve.Orders))
	case op.learnOrders && !op.learnCoeffs && op.cfg.Solve.Coeffs != nil && len(op.cfg.Solve.Coeffs) != op.terms:
		return fmt.Errorf("ops: FDE: %d learnable orders but %d coefficients in Config.Solve.Coeffs", op.terms, len(op.cfg.Solve.Coeffs))
	}
	return nil
}

// learned returns the number of packed cotangent values after x0 and θ:
// α, or the orders and the coefficients.
func (op *fdeOp) learned() int {
	n := 0
	if op.learnAlpha {
		n++
	}
	if op.learnOrders {
		n += op.terms
	}
	if op.learnCoeffs {
		n += op.terms
	}
	return n
}

func (op *fdeOp) Arity() int {
	n := 1 + len(op.paramShapes)
	for _, b := range []bool{op.learnAlpha, op.learnOrders, op.learnCoeffs} {
		if b {
			n++
		}
	}
	return n
}

func (op *fdeOp) outDims() int {
	if len(op.cfg.Solve.Times) > 1 {
		return op.xShape.Dims() + 1
	}
	return op.xShape.Dims()
}

// Type: every input is a tensor of its own rank over one element type,
// which the output shares.
func (op *fdeOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := []hm.Type{G.TensorType{Dims: op.xShape.Dims(), Of: a}}
	for _, s := range op.paramShapes {
		if s.IsScalar() {
			ts = append(ts, a)
		} else {
			ts = append(ts, G.TensorType{Dims: s.Dims(), Of: a})
		}
	}
	if op.learnAlpha {
		ts = append(ts, a)
	}
	for _, b := range []bool{op.learnOrders, op.learnCoeffs} {
		if b {
			ts = append(ts, G.TensorType{Dims: 1, Of: a})
		}
	}
	return hm.NewFnType(append(ts, G.TensorType{Dims: op.outDims(), Of: a})...)
}

func (op *fdeOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) == 0 {
		return nil, errors.New("ops: FDE: no inputs")
	}
	s, ok := inputs[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("ops: FDE: cannot infer the shape from %T", inputs[0])
	}
	if k := len(op.cfg.Solve.Times); k > 1 {
		return append(tensor.Shape{k}, s...), nil
	}
	return s.Clone(), nil
}

func (op *fdeOp) ReturnsPtr() bool     { return false }
func (op *fdeOp) CallsExtern() bool    { return false }
func (op *fdeOp) OverwritesInput() int { return -1 }

func (op *fdeOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "fde#%d(%v, alpha=%v learn=%v, orders=%v learn=%v, coeffs=%v learn=%v, memory=%d, T=%v, N=%d, times=%v, grad=%v)",
		op.id, op.cfg.Solve.Method, op.cfg.Solve.Alpha, op.learnAlpha, op.cfg.Solve.Orders, op.learnOrders,
		op.cfg.Solve.Coeffs, op.learnCoeffs, op.cfg.Solve.ShortMemory, op.cfg.Solve.T, op.cfg.Solve.Steps, op.cfg.Solve.Times, op.cfg.Grad)
}

func (op *fdeOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *fdeOp) String() string {
	return fmt.Sprintf("FDE{%v, alpha=%v, T=%v, steps=%d}", op.cfg.Solve.Method, op.cfg.Solve.Alpha, op.cfg.Solve.T, op.cfg.Solve.Steps)
}

// storeFloat32Bytes is the estimated float64 memory of a solve
// (fode.Options.Memory) from which a float32 FDE node stores in float32.
const storeFloat32Bytes = 32 << 20

// widen returns v's elements as float64: a Float64 tensor's backing slice
// itself, or a Float32 tensor's values widened into a slice of op.wide,
// which done hands back. An op without a gradient (an evaluation graph,
// which runs once in a while) lets the slice go instead of holding it.
func (op *fdeOp) widen(v G.Value) (x []float64, done func(), err error) {
	if d, ok := v.Data().([]float32); ok {
		x = op.wide.Get(len(d))
		vec.Widen(x, d)
		return x, func() {
			if op.keep.Load() {
				op.wide.Put(x)
			}
		}, nil
	}
	x, err = value.Float64s(v)
	return x, func() {}, err
}

// inputs unpacks the input values into x0, θ and the solve options; done
// releases x0 and θ once the solve has read them.
func (op *fdeOp) inputs(vals []G.Value) (x0, theta []float64, opt fode.Options, done func(), err error) {
	if len(vals) < op.Arity() {
		return nil, nil, opt, nil, fmt.Errorf("ops: FDE: %d inputs, want %d", len(vals), op.Arity())
	}
	x0, release, err := op.widen(vals[0])
	if err != nil {
		return nil, nil, opt, nil, fmt.Errorf("ops: FDE: initial state: %w", err)
	}
	// θ is gathered into a kept buffer: Solve copies it.
	params := op.params.Get(op.cfg.Field.NumParams())
	cleanup := func() {
		release()
		op.params.Put(params)
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	theta = params[:0]
	for i := range op.paramShapes {
		if theta, err = value.AppendFloat64s(theta, vals[1+i]); err != nil {
			return nil, nil, opt, nil, fmt.Errorf("ops: FDE: parameter %d: %w", i, err)
		}
	}
	opt = op.cfg.Solve
	if h := opt.History; op.dtype == tensor.Float32 && (h == nil || h == fode.Auto || h == fode.Direct || h == fode.FFT) {
		// A float32 model with a large solve keeps the states and field
		// values it stores in float32: half their memory, within the
		// model's own precision, and as fast from about 100 steps of the
		// benchmark block (128 × 64 states: 100 and 400 steps ran as fast
		// as with float64 storage, 20 steps 10–15 % slower, where the
		// widening of the float32 rows in the direct history sums costs
		// more than the memory is worth). A smaller solve stays float64.
		if m, err := opt.Memory(len(x0)); err != nil || m >= storeFloat32Bytes {
			opt.StoreFloat32 = true
		}
	}
	next := 1 + len(op.paramShapes)
	if op.learnAlpha {
		a, err := value.Float64s(vals[next])
		if err != nil || len(a) != 1 {
			return nil, nil, opt, nil, fmt.Errorf("ops: FDE: alpha value: %v", err)
		}
		opt.Alpha = a[0]
		next++
	}
	for _, c := range []struct {
		name  string
		learn bool
		dst   *[]float64
	}{{"orders", op.learnOrders, &opt.Orders}, {"coeffs", op.learnCoeffs, &opt.Coeffs}} {
		if !c.learn {
			continue
		}
		v, err := value.Float64s(vals[next])
		if err != nil || len(v) != op.terms {
			return nil, nil, opt, nil, fmt.Errorf("ops: FDE: %s value of %d values (want %d): %v", c.name, len(v), op.terms, err)
		}
		*c.dst = v
		next++
	}
	if op.learnOrders {
		opt.Alpha = 0
	}
	return x0, theta, opt, cleanup, nil
}

func (op *fdeOp) solve(vals []G.Value) (*fode.Solution, error) {
	x0, theta, opt, done, err := op.inputs(vals)
	if err != nil {
		return nil, err
	}
	defer done()
	sol, err := fode.Solve(op.cfg.Field, x0, theta, opt)
	if err != nil {
		return nil, fmt.Errorf("ops: FDE: %w", err)
	}
	return sol, nil
}

func (op *fdeOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo solves and writes the output states into prealloc when it
// is a tensor of the output's dtype and shape (a TapeMachine passes the
// previous run's value), into a new tensor otherwise.
func (op *fdeOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	sol, err := op.solve(vals)
	if err != nil {
		return nil, err
	}
	shape := vals[0].Shape().Clone()
	if k := len(sol.Times); k > 1 {
		shape = append(tensor.Shape{k}, shape...)
	}
	v := op.out.output(prealloc, op.dtype, shape)
	n := sol.Rows * sol.Dim
	for i := range sol.Times {
		switch d := v.Data().(type) {
		case []float64:
			copy(d[i*n:], sol.At(i))
		case []float32:
			vec.Narrow(d[i*n:(i+1)*n], sol.At(i))
		}
	}
	if op.keep.Load() {
		if op.learned() == 0 {
			// Only a gradient by the orders reads the field values.
			sol.ReleaseFieldValues()
		}
		sol.ReleaseOutputs() // copied into v
		op.store.put(v, sol)
	} else {
		sol.Release() // nothing will read the states back
	}
	return v, nil
}

// gradients computes the input cotangents, one slice per input in input
// order (x0, the parameters, then the learned α, orders, coefficients),
// from the input values, the output value and its cotangent. It uses the
// solution the forward pass stored for this output, or solves again when
// there is none (a graph run twice without a backward pass in between).
// The caller calls release once it has read the parts.
func (op *fdeOp) gradients(vals []G.Value, out, gout G.Value) (parts [][]float64, release func(), err error) {
	sol := op.store.take(out)
	if sol == nil {
		if sol, err = op.solve(vals); err != nil {
			return nil, nil, err
		}
	}
	gy, done, err := op.widen(gout)
	if err != nil {
		return nil, nil, fmt.Errorf("ops: FDE gradient: output cotangent: %w", err)
	}
	defer done()
	// The solution's storage goes back to fode for the next solve.
	defer sol.Release()
	g, err := fode.Grad(sol, gy, fode.GradOptions{Mode: op.cfg.Grad, GradAlpha: op.learned() > 0})
	if err != nil {
		return nil, nil, fmt.Errorf("ops: FDE gradient: %w", err)
	}
	parts = make([][]float64, 0, op.Arity())
	parts = append(parts, g.X0)
	off := 0
	for _, s := range op.paramShapes {
		k := max(1, s.TotalSize())
		parts = append(parts, g.Theta[off:off+k])
		off += k
	}
	if op.learnAlpha {
		parts = append(parts, []float64{g.Alpha})
	}
	if op.learnOrders {
		parts = append(parts, g.Orders)
	}
	if op.learnCoeffs {
		parts = append(parts, g.Coeffs)
	}
	return parts, g.Release, nil
}

// solutionStore keeps the solutions of the last few forward passes, keyed
// by the output tensor's memory, until their backward pass takes them.
// Keying by the output value makes concurrent runs of different graphs
// (and of the same op on different values) safe.
type solutionStore struct {
	mu      sync.Mutex
	entries []storeEntry
}

type storeEntry struct {
	key uintptr
	sol *fode.Solution
}

// storeDepth bounds the retained solutions: a forward pass whose backward
// never runs (inference) must not pin memory forever.
const storeDepth = 4

func memKey(v G.Value) uintptr {
	if m, ok := v.(tensor.Memory); ok && v.Shape().TotalSize() > 0 {
		return m.Uintptr()
	}
	return 0
}

func (s *solutionStore) put(v G.Value, sol *fode.Solution) {
	k := memKey(v)
	if k == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.entries {
		if e.key == k {
			e.sol.Release()
			s.entries = append(s.entries[:i], s.entries[i+1:]...)
			break
		}
	}
	if len(s.entries) == storeDepth {
		s.entries[0].sol.Release()
		s.entries = s.entries[1:]
	}
	s.entries = append(s.entries, storeEntry{key: k, sol: sol})
}

// take removes and returns the solution stored for output v, after
// checking that v still holds that solution's states.
func (s *solutionStore) take(v G.Value) *fode.Solution {
	k := memKey(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.entries {
		if e.key != k {
			continue
		}
		s.entries = append(s.entries[:i], s.entries[i+1:]...)
		if !holds(v, e.sol) {
			e.sol.Release()
			return nil
		}
		return e.sol
	}
	return nil
}

// holds reports whether v's values equal the solution's outputs (as the
// forward pass wrote them, in v's dtype).
func holds(v G.Value, sol *fode.Solution) bool {
	switch d := v.Data().(type) {
	case []float64:
		return holdsAs(d, sol)
	case []float32:
		return holdsAs(d, sol)
	}
	return false
}

func holdsAs[E float32 | float64](d []E, sol *fode.Solution) bool {
	n := sol.Rows * sol.Dim
	if len(d) != len(sol.Times)*n {
		return false
	}
	for i := range sol.Times {
		for j, x := range sol.At(i) {
			if d[i*n+j] != E(x) {
				return false
			}
		}
	}
	return true
}
