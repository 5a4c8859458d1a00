package layers

import (
	"errors"
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/ops"
)

// ParamField is a vector field whose flat parameter vector θ splits into
// named tensors, which an FDEBlock holds as Gorgonia nodes.
type ParamField interface {
	fode.Field
	// ParamShapes returns the shapes of the parameter tensors in the
	// order they are concatenated (each flattened row-major) into θ.
	ParamShapes() []tensor.Shape
	// Init writes initial parameters into theta (len NumParams()).
	Init(theta []float64, rng *rand.Rand) error
}

// GraphField is a field that can also build f(t, x) from Gorgonia's own
// operations, which the Unrolled mode needs.
type GraphField interface {
	ParamField
	// Graph returns the node f(t, x; params) for a state node x of shape
	// (rows, ...) whose size per row is Dim().
	Graph(t float64, x *G.Node, params G.Nodes) (*G.Node, error)
}

// Mode selects how an FDEBlock is differentiated.
type Mode int

const (
	// Adjoint makes the solve one node whose backward pass is fode's exact
	// discrete adjoint (ACA for Dopri5): memory O(N·n) for the stored
	// states, nothing per step of the field's activations.
	Adjoint Mode = iota
	// Continuous uses the continuous adjoint equation (first order in h).
	Continuous
	// Unrolled builds the solver's steps from primitive Gorgonia
	// operations and lets Gorgonia differentiate them:
	// backpropagation through the solver, the baseline the adjoint is
	// measured against. It supports Rectangle, PECE (with any
	// PECE.Correctors) and Euler, takes its weights from fode, and needs a
	// GraphField. It builds the model fode solves: the same grid (Steps,
	// or StepSize rounded up as fode does) and the states at Solve.Times,
	// interpolated between grid points as fode interpolates them.
	Unrolled
)

var modeNames = [...]string{Adjoint: "adjoint", Continuous: "continuous", Unrolled: "unrolled"}

// String returns "adjoint", "continuous" or "unrolled".
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode parses "adjoint", "continuous" or "unrolled".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "adjoint":
		return Adjoint, nil
	case "continuous":
		return Continuous, nil
	case "unrolled":
		return Unrolled, nil
	}
	return 0, fmt.Errorf("layers: unknown gradient mode %q (want adjoint, continuous or unrolled)", s)
}

// BlockConfig configures an FDEBlock.
type BlockConfig struct {
	// Solve holds the method, α, T, steps (or step size) and output
	// times of the solve.
	Solve fode.Options
	// Grad is how the block is differentiated (default Adjoint).
	Grad Mode
	// LearnAlpha makes α a learnable scalar node, initialised to
	// Solve.Alpha (Adjoint mode with a fractional method only).
	LearnAlpha bool
	// LearnOrders and LearnCoeffs make the orders and the coefficients of
	// a multi-term equation Σ_i c_i D^{α_i} x = f learnable vector nodes,
	// initialised to Solve.Orders and Solve.Coeffs (all 1 when nil);
	// Solve.Orders must hold the K initial orders (Adjoint mode, methods
	// gl, gl-implicit and l1). The block stays one forward and one
	// backward node. Keep the values valid between optimiser steps
	// (0 < α_i ≤ 1, c_i > 0): the next solve fails otherwise.
	LearnOrders, LearnCoeffs bool
	// Dtype is the dtype of the parameter nodes (default Float64).
	Dtype tensor.Dtype
	// Seed seeds the parameter initialisation.
	Seed uint64
}

// FDEBlock is a continuous-depth block with memory: Fwd(x) returns x(T)
// of D^α x = f(t, x; θ) with x(0) = x, where θ are the block's learnable
// nodes. It sits between ordinary Gorgonia layers.
type FDEBlock struct {
	field  ParamField
	cfg    BlockConfig
	params G.Nodes
	alpha  *G.Node
	orders *G.Node
	coeffs *G.Node
}

// NewFDEBlock creates the block's parameter nodes in g, named
// name_0, name_1, ... (and name_alpha), initialised by the field.
func NewFDEBlock(g *G.ExprGraph, name string, field ParamField, cfg BlockConfig) (*FDEBlock, error) {
	if g == nil || field == nil {
		return nil, errors.New("layers: NewFDEBlock needs a graph and a field")
	}
	if cfg.Dtype == (tensor.Dtype{}) {
		cfg.Dtype = tensor.Float64
	}
	if cfg.Dtype != tensor.Float64 && cfg.Dtype != tensor.Float32 {
		return nil, fmt.Errorf("layers: block %s: dtype %v; want float64 or float32", name, cfg.Dtype)
	}
	if cfg.Grad < 0 || int(cfg.Grad) >= len(modeNames) {
		return nil, fmt.Errorf("layers: block %s: unknown mode %v", name, cfg.Grad)
	}
	if err := fode.CheckOptions(cfg.Solve); err != nil {
		return nil, fmt.Errorf("layers: block %s: %w", name, err)
	}
	if cfg.Grad == Unrolled {
		if _, ok := field.(GraphField); !ok {
			return nil, fmt.Errorf("layers: block %s: the unrolled mode needs a field with a Gorgonia graph; %T has none", name, field)
		}
		switch cfg.Solve.Method {
		case fode.Rectangle, fode.PECE, fode.Euler:
		default:
			return nil, fmt.Errorf("layers: block %s: the unrolled mode supports rect, pece and euler, not %v", name, cfg.Solve.Method)
		}
		if cfg.LearnAlpha || cfg.LearnOrders || cfg.LearnCoeffs {
			return nil, fmt.Errorf("layers: block %s: a learnable alpha, orders or coefficients need the adjoint mode", name)
		}
		if cfg.Solve.ShortMemory > 0 {
			return nil, fmt.Errorf("layers: block %s: the unrolled mode has no short memory", name)
		}
	}
	if (cfg.LearnOrders || cfg.LearnCoeffs) && len(cfg.Solve.Orders) == 0 {
		return nil, fmt.Errorf("layers: block %s: learnable orders or coefficients need the initial orders in Solve.Orders", name)
	}
	if (cfg.LearnOrders || cfg.LearnCoeffs) && cfg.Grad != Adjoint {
		return nil, fmt.Errorf("layers: block %s: learnable orders or coefficients need the adjoint mode, got %v", name, cfg.Grad)
	}
	theta := make([]float64, field.NumParams())
	if err := field.Init(theta, rand.New(rand.NewPCG(cfg.Seed, 0x6f6465))); err != nil {
		return nil, fmt.Errorf("layers: block %s: %w", name, err)
	}
	b := &FDEBlock{field: field, cfg: cfg}
	off := 0
	for i, s := range field.ParamShapes() {
		size := max(1, s.TotalSize())
		if off+size > len(theta) {
			return nil, fmt.Errorf("layers: block %s: parameter shapes exceed the field's %d parameters", name, len(theta))
		}
		p, err := paramNode(g, cfg.Dtype, fmt.Sprintf("%s_%d", name, i), s, append([]float64(nil), theta[off:off+size]...))
		if err != nil {
			return nil, fmt.Errorf("layers: block %s: parameter %d: %w", name, i, err)
		}
		b.params = append(b.params, p)
		off += size
	}
	if off != len(theta) {
		return nil, fmt.Errorf("layers: block %s: parameter shapes hold %d values, the field has %d", name, off, len(theta))
	}
	if cfg.LearnAlpha {
		var v any = cfg.Solve.Alpha
		if cfg.Dtype == tensor.Float32 {
			v = float32(cfg.Solve.Alpha)
		}
		b.alpha = G.NewScalar(g, cfg.Dtype, G.WithName(name+"_alpha"), G.WithValue(v))
	}
	var err error
	if cfg.LearnOrders {
		if b.orders, err = paramNode(g, cfg.Dtype, name+"_orders", tensor.Shape{len(cfg.Solve.Orders)}, append([]float64(nil), cfg.Solve.Orders...)); err != nil {
			return nil, fmt.Errorf("layers: block %s: orders: %w", name, err)
		}
	}
	if cfg.LearnCoeffs {
		c := append([]float64(nil), cfg.Solve.Coeffs...)
		if c == nil {
			c = make([]float64, len(cfg.Solve.Orders))
			for i := range c {
				c[i] = 1
			}
		}
		if b.coeffs, err = paramNode(g, cfg.Dtype, name+"_coeffs", tensor.Shape{len(c)}, c); err != nil {
			return nil, fmt.Errorf("layers: block %s: coefficients: %w", name, err)
		}
	}
	return b, nil
}

// Learnables returns the parameter nodes (and α, the orders and the
// coefficients when they are learned, in that order).
func (b *FDEBlock) Learnables() G.Nodes {
	out := append(G.Nodes{}, b.params...)
	for _, n := range []*G.Node{b.alpha, b.orders, b.coeffs} {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// Orders returns the learnable orders node (a vector), or nil when the
// orders are fixed.
func (b *FDEBlock) Orders() *G.Node { return b.orders }

// Coeffs returns the learnable coefficients node (a vector), or nil when
// the coefficients are fixed.
func (b *FDEBlock) Coeffs() *G.Node { return b.coeffs }

// Alpha returns the learnable α node, or nil when α is fixed.
func (b *FDEBlock) Alpha() *G.Node { return b.alpha }

// Field returns the block's vector field.
func (b *FDEBlock) Field() ParamField { return b.field }

// Fwd returns the node x(T) (or the states at Solve.Times, stacked along
// a new leading axis) for the initial state x, of shape (batch, ...) with
// Dim() values per sample.
func (b *FDEBlock) Fwd(x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, errors.New("layers: FDEBlock.Fwd: nil input")
	}
	if b.cfg.Grad == Unrolled {
		return b.unrolled(x)
	}
	grad := fode.Adjoint
	if b.cfg.Grad == Continuous {
		grad = fode.Continuous
	}
	learn := ops.Learn{Alpha: b.alpha, Orders: b.orders, Coeffs: b.coeffs}
	out, err := ops.FDETerms(x, b.params, learn, ops.Config{Field: b.field, Solve: b.cfg.Solve, Grad: grad})
	if err != nil {
		return nil, fmt.Errorf("layers: FDEBlock: %w", err)
	}
	return out, nil
}
