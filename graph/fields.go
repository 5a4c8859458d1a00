package graph

import (
	"errors"
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LinearDiffusion is the graph diffusion field f(X) = (Â - I) X on a fixed
// n × n matrix Â (normally NormalizeSym or NormalizeRW of the adjacency),
// for the node-feature matrix X of shape (n, d) as one state of dimension
// n·d. It has no parameters. With α = 1 it is GRAND-l's linear diffusion,
// with α < 1 FROND's fractional F-GRAND-l diffusion D^α X = (Â - I) X.
//
// It implements layers.ParamField and layers.GraphField (Dim = n·d, not
// row-wise: every node's derivative depends on its neighbours).
//
// The sparse products run on all cores. SetFloat32 makes them run in
// float32, which halves the memory traffic of a large graph's products.
type LinearDiffusion struct {
	sp  *sparse
	d   int
	f32 bool
}

// SetFloat32 makes Eval and VJP compute the sparse product in float32
// (on) or float64 (off, the default): the state is rounded to float32,
// Â's rows are summed in float32 and the result is widened to float64
// before X is subtracted, so the field's values carry float32 rounding
// errors (a relative 1e-7 of ‖Â X‖). Set it before the field is used.
func (f *LinearDiffusion) SetFloat32(on bool) { f.f32 = on }

// Float32 reports whether Eval and VJP compute in float32.
func (f *LinearDiffusion) Float32() bool { return f.f32 }

// NewLinearDiffusion returns the field (Â - I) X for a square Â and d
// features per node.
func NewLinearDiffusion(adj *CSR, d int) (*LinearDiffusion, error) {
	if err := adj.Validate(); err != nil {
		return nil, fmt.Errorf("graph: NewLinearDiffusion: %w", err)
	}
	if adj.Rows != adj.Cols || adj.Rows == 0 {
		return nil, errors.New("graph: NewLinearDiffusion needs a non-empty square matrix")
	}
	if d < 1 {
		return nil, fmt.Errorf("graph: NewLinearDiffusion: %d features per node; want at least 1", d)
	}
	sp, err := newSparse(adj, false)
	if err != nil {
		return nil, err
	}
	return &LinearDiffusion{sp: sp, d: d}, nil
}

// Dim returns n·d.
func (f *LinearDiffusion) Dim() int { return f.sp.a.Rows * f.d }

// NumParams returns 0.
func (f *LinearDiffusion) NumParams() int { return 0 }

// ParamShapes returns no shapes.
func (f *LinearDiffusion) ParamShapes() []tensor.Shape { return nil }

// Init does nothing (there are no parameters).
func (f *LinearDiffusion) Init(theta []float64, _ *rand.Rand) error {
	if len(theta) != 0 {
		return fmt.Errorf("graph: LinearDiffusion.Init: θ of length %d, want 0", len(theta))
	}
	return nil
}

// Eval writes (Â - I) X for every n·d block of x into dst.
func (f *LinearDiffusion) Eval(dst []float64, _ float64, x, theta []float64) error {
	if err := checkState("LinearDiffusion", f.Dim(), 0, x, theta, dst); err != nil {
		return err
	}
	a, n := f.sp.a, f.Dim()
	a32, _ := f.vals32()
	for r := 0; r < len(x); r += n {
		if f.f32 {
			diffuse32(dst[r:r+n], a.Ptr, a.Col, a32, x[r:r+n], f.d)
		} else {
			diffuse(dst[r:r+n], a.Ptr, a.Col, a.Val, x[r:r+n], f.d)
		}
	}
	return nil
}

// vals32 returns Â's and Âᵀ's float32 values in float32 mode.
func (f *LinearDiffusion) vals32() (a32, t32 []float32) {
	if !f.f32 {
		return nil, nil
	}
	return f.sp.vals32()
}

// VJP overwrites xbar with (Âᵀ - I) v; there is no θ.
func (f *LinearDiffusion) VJP(xbar, thetabar []float64, _ float64, x, theta, v []float64) error {
	if err := checkState("LinearDiffusion", f.Dim(), 0, x, theta, v); err != nil {
		return err
	}
	if xbar == nil {
		return nil
	}
	if len(xbar) != len(x) {
		return fmt.Errorf("graph: LinearDiffusion.VJP: xbar of length %d, want %d", len(xbar), len(x))
	}
	t, n := f.sp.t, f.Dim()
	_, t32 := f.vals32()
	for r := 0; r < len(x); r += n {
		if f.f32 {
			diffuse32(xbar[r:r+n], t.Ptr, t.Col, t32, v[r:r+n], f.d)
		} else {
			diffuse(xbar[r:r+n], t.Ptr, t.Col, t.Val, v[r:r+n], f.d)
		}
	}
	return nil
}

// Graph builds Â X - X from a sparse product node, for the unrolled mode;
// x has shape (n, d) (or any shape of n·d values).
func (f *LinearDiffusion) Graph(_ float64, x *G.Node, params G.Nodes) (*G.Node, error) {
	if len(params) != 0 {
		return nil, fmt.Errorf("graph: LinearDiffusion.Graph: %d parameter nodes, want 0", len(params))
	}
	return graphDiffusion(f.sp, f.d, nil, x)
}

// EdgeDiffusion is the diffusion field f(X; w) = (A(w) - I) X, where
// A(w) has the fixed sparsity pattern of an n × n matrix and its NNZ
// values w, in the pattern's storage order, are the parameter vector θ.
// X has shape (n, d), one state of dimension n·d. Its vector-Jacobian
// products are x̄ = (A(w)ᵀ - I) v and θ̄_k += ⟨v_i, x_j⟩ (summed over the
// d features) for the entry k = (i, j).
//
// With w from EdgeAttention it is the attention diffusion of GRAND /
// F-GRAND; as a layers.ParamField (one parameter tensor of shape (NNZ))
// Init starts from the random-walk weights 1/deg(i).
type EdgeDiffusion struct {
	sp *sparse
	d  int
}

// NewEdgeDiffusion returns the field (A(w) - I) X on the pattern of a
// square matrix (its values are ignored) for d features per node.
func NewEdgeDiffusion(pattern *CSR, d int) (*EdgeDiffusion, error) {
	if err := pattern.Validate(); err != nil {
		return nil, fmt.Errorf("graph: NewEdgeDiffusion: %w", err)
	}
	if pattern.Rows != pattern.Cols || pattern.Rows == 0 {
		return nil, errors.New("graph: NewEdgeDiffusion needs a non-empty square pattern")
	}
	if d < 1 {
		return nil, fmt.Errorf("graph: NewEdgeDiffusion: %d features per node; want at least 1", d)
	}
	sp, err := newSparse(pattern, true)
	if err != nil {
		return nil, err
	}
	return &EdgeDiffusion{sp: sp, d: d}, nil
}

// Pattern returns the sparsity pattern whose values θ holds.
func (f *EdgeDiffusion) Pattern() *CSR { return f.sp.a }

// Dim returns n·d.
func (f *EdgeDiffusion) Dim() int { return f.sp.a.Rows * f.d }

// NumParams returns the number of stored entries of the pattern.
func (f *EdgeDiffusion) NumParams() int { return f.sp.a.NNZ() }

// ParamShapes returns the one parameter shape (NNZ).
func (f *EdgeDiffusion) ParamShapes() []tensor.Shape { return []tensor.Shape{{f.NumParams()}} }

// Init writes the random-walk weights w_k = 1/deg(i) of entry k = (i, j).
func (f *EdgeDiffusion) Init(theta []float64, _ *rand.Rand) error {
	if len(theta) != f.NumParams() {
		return fmt.Errorf("graph: EdgeDiffusion.Init: θ of length %d, want %d", len(theta), f.NumParams())
	}
	a := f.sp.a
	for i := 0; i < a.Rows; i++ {
		for k := a.Ptr[i]; k < a.Ptr[i+1]; k++ {
			theta[k] = 1 / float64(a.Ptr[i+1]-a.Ptr[i])
		}
	}
	return nil
}

// Eval writes (A(θ) - I) X for every n·d block of x into dst.
func (f *EdgeDiffusion) Eval(dst []float64, _ float64, x, theta []float64) error {
	if err := checkState("EdgeDiffusion", f.Dim(), f.NumParams(), x, theta, dst); err != nil {
		return err
	}
	a, n := f.sp.a, f.Dim()
	for r := 0; r < len(x); r += n {
		diffuse(dst[r:r+n], a.Ptr, a.Col, theta, x[r:r+n], f.d)
	}
	return nil
}

// VJP overwrites xbar with (A(θ)ᵀ - I) v and adds ⟨v_i, x_j⟩ into
// thetabar[k] for every entry k = (i, j).
func (f *EdgeDiffusion) VJP(xbar, thetabar []float64, _ float64, x, theta, v []float64) error {
	if err := checkState("EdgeDiffusion", f.Dim(), f.NumParams(), x, theta, v); err != nil {
		return err
	}
	if xbar != nil && len(xbar) != len(x) {
		return fmt.Errorf("graph: EdgeDiffusion.VJP: xbar of length %d, want %d", len(xbar), len(x))
	}
	if thetabar != nil && len(thetabar) != len(theta) {
		return fmt.Errorf("graph: EdgeDiffusion.VJP: thetabar of length %d, want %d", len(thetabar), len(theta))
	}
	a, t, n := f.sp.a, f.sp.t, f.Dim()
	var tv, e []float64
	if xbar != nil {
		tv = make([]float64, len(theta))
		for k, p := range f.sp.perm {
			tv[k] = theta[p]
		}
	}
	if thetabar != nil {
		e = make([]float64, len(theta))
	}
	for r := 0; r < len(x); r += n {
		if xbar != nil {
			diffuse(xbar[r:r+n], t.Ptr, t.Col, tv, v[r:r+n], f.d)
		}
		if thetabar != nil {
			edgeDots(e, a.Ptr, a.Col, v[r:r+n], x[r:r+n], f.d)
			for k, s := range e {
				thetabar[k] += s
			}
		}
	}
	return nil
}

// Graph builds A(w) X - X from a sparse product node whose values are
// params[0], for the unrolled mode.
func (f *EdgeDiffusion) Graph(_ float64, x *G.Node, params G.Nodes) (*G.Node, error) {
	if len(params) != 1 {
		return nil, fmt.Errorf("graph: EdgeDiffusion.Graph: %d parameter nodes, want 1", len(params))
	}
	return graphDiffusion(f.sp, f.d, params[0], x)
}

func graphDiffusion(sp *sparse, d int, vals, x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, errors.New("graph: diffusion graph of a nil state")
	}
	shape := x.Shape().Clone()
	if shape.TotalSize() != sp.a.Rows*d {
		return nil, fmt.Errorf("graph: diffusion of a state of shape %v, want %d×%d values", shape, sp.a.Rows, d)
	}
	xm := x
	if x.Dims() != 2 || shape[0] != sp.a.Rows {
		var err error
		if xm, err = G.Reshape(x, tensor.Shape{sp.a.Rows, d}); err != nil {
			return nil, err
		}
	}
	op, err := newSpmmOp(sp, false, vals != nil, xm)
	if err != nil {
		return nil, err
	}
	var ax *G.Node
	if vals != nil {
		ax, err = apply(op, vals, xm)
	} else {
		ax, err = apply(op, xm)
	}
	if err != nil {
		return nil, err
	}
	out, err := G.Sub(ax, xm)
	if err != nil {
		return nil, err
	}
	if !out.Shape().Eq(shape) {
		return G.Reshape(out, shape)
	}
	return out, nil
}

// diffuse writes dst = A x - x for one n × d state.
func diffuse(dst []float64, ptr, col []int, val, x []float64, d int) {
	spmm(dst, ptr, col, val, x, d, false)
	for i, v := range x {
		dst[i] -= v
	}
}

func checkState(name string, dim, np int, x, theta, other []float64) error {
	if len(x) == 0 || len(x)%dim != 0 {
		return fmt.Errorf("graph: %s: state of length %d is not a positive multiple of the dimension %d", name, len(x), dim)
	}
	if len(theta) != np {
		return fmt.Errorf("graph: %s: θ of length %d, want %d", name, len(theta), np)
	}
	if len(other) != len(x) {
		return fmt.Errorf("graph: %s: slice of length %d, want %d", name, len(other), len(x))
	}
	return nil
}
