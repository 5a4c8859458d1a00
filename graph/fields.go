package graph

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/floats"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/csrpair"
	"github.com/gofde/gofde/internal/scratch"
	"github.com/gofde/gofde/internal/spmm"
	"github.com/gofde/gofde/internal/vec"
	"github.com/gofde/gofde/ops"
	"github.com/gofde/gofde/sparse"
)

// LinearDiffusion is the graph diffusion field f(X) = (Â - I) X on a fixed
// n × n matrix Â (normally NormalizeSym or NormalizeRW of the adjacency),
// for the node-feature matrix X of shape (n, d) as one state of dimension
// n·d. It has no parameters. With α = 1 it is GRAND-l's linear diffusion,
// with α < 1 FROND's fractional F-GRAND-l diffusion D^α X = (Â - I) X.
//
// It implements layers.ParamField and layers.GraphField (Dim = n·d, not
// row-wise: every node's derivative depends on its neighbours), and
// fode.Float32Field and fode.StateFreeField.
//
// The sparse products run on all cores. SetFloat32 makes them run in
// float32, which halves the memory traffic of a large graph's products.
type LinearDiffusion struct {
	sp   *csrpair.Pair
	d    int
	f32  bool
	x32  scratch.Buffer[float32] // the state rounded to float32, in float32 mode
	wide scratch.Buffer[float64] // the float32 methods' float64 value in float64 mode
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
func NewLinearDiffusion(adj *sparse.CSR, d int) (*LinearDiffusion, error) {
	if err := adj.Validate(); err != nil {
		return nil, fmt.Errorf("graph: NewLinearDiffusion: %w", err)
	}
	if adj.Rows != adj.Cols || adj.Rows == 0 {
		return nil, errors.New("graph: NewLinearDiffusion needs a non-empty square matrix")
	}
	if d < 1 {
		return nil, fmt.Errorf("graph: NewLinearDiffusion: %d features per node; want at least 1", d)
	}
	sp, err := csrpair.New(adj, false)
	if err != nil {
		return nil, err
	}
	return &LinearDiffusion{sp: sp, d: d}, nil
}

// Dim returns n·d.
func (f *LinearDiffusion) Dim() int { return f.sp.A.Rows * f.d }

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
	a, n := f.sp.A, f.Dim()
	a32, _ := f.vals32()
	var x32 []float32
	if f.f32 {
		x32 = f.x32.Get(n)
		defer f.x32.Put(x32)
	}
	for r := 0; r < len(x); r += n {
		if f.f32 {
			spmm.Diffuse32(dst[r:r+n], a.Ptr, a.Col, a32, x[r:r+n], x32, f.d)
		} else {
			diffuse(dst[r:r+n], a.Ptr, a.Col, a.Val, x[r:r+n], f.d)
		}
	}
	return nil
}

// EvalFloat32 writes (Â - I) X rounded to float32 into dst. In float32
// mode (SetFloat32) it computes it in float32 arithmetic, (Â X₃₂ - X₃₂)
// for X₃₂ the state rounded to float32, which forms no float64 value at
// all; otherwise it rounds Eval's value.
func (f *LinearDiffusion) EvalFloat32(dst []float32, _ float64, x, theta []float64) error {
	if err := checkState("LinearDiffusion", f.Dim(), 0, x, theta, x); err != nil {
		return err
	}
	return f.diffuseTo32(dst, x, false)
}

// VJPFloat32 writes (Âᵀ - I) v rounded to float32 into xbar, computed as
// EvalFloat32 computes its value; there is no θ.
func (f *LinearDiffusion) VJPFloat32(xbar []float32, _ []float64, _ float64, x, theta, v []float64) error {
	if err := checkState("LinearDiffusion", f.Dim(), 0, x, theta, v); err != nil {
		return err
	}
	return f.diffuseTo32(xbar, v, true)
}

// diffuseTo32 writes (M - I) v rounded to float32 into dst, for M = Â or,
// with transpose, Âᵀ.
func (f *LinearDiffusion) diffuseTo32(dst []float32, v []float64, transpose bool) error {
	if len(dst) != len(v) {
		return fmt.Errorf("graph: LinearDiffusion: float32 destination of length %d, want %d", len(dst), len(v))
	}
	m, n := f.sp.A, f.Dim()
	a32, t32 := f.vals32()
	if transpose {
		m, a32 = f.sp.T, t32
	}
	if !f.f32 {
		w := f.wide.Get(len(v))
		defer f.wide.Put(w)
		for r := 0; r < len(v); r += n {
			diffuse(w[r:r+n], m.Ptr, m.Col, m.Val, v[r:r+n], f.d)
		}
		vec.Narrow(dst, w)
		return nil
	}
	x32 := f.x32.Get(n)
	defer f.x32.Put(x32)
	for r := 0; r < len(v); r += n {
		spmm.DiffuseTo32(dst[r:r+n], m.Ptr, m.Col, a32, v[r:r+n], x32, f.d)
	}
	return nil
}

// vals32 returns Â's and Âᵀ's float32 values in float32 mode.
func (f *LinearDiffusion) vals32() (a32, t32 []float32) {
	if !f.f32 {
		return nil, nil
	}
	return f.sp.Vals32()
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
	t, n := f.sp.T, f.Dim()
	var x32 []float32
	if f.f32 {
		x32 = f.x32.Get(n)
		defer f.x32.Put(x32)
	}
	_, t32 := f.vals32()
	for r := 0; r < len(x); r += n {
		if f.f32 {
			spmm.Diffuse32(xbar[r:r+n], t.Ptr, t.Col, t32, v[r:r+n], x32, f.d)
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
	return graphDiffusion(f.sp.A, f.d, nil, x)
}

// EdgeDiffusion is the diffusion field f(X; w) = (A(w) - I) X, where
// A(w) has the fixed sparsity pattern of an n × n matrix and its NNZ
// values w, in the pattern's storage order, are the parameter vector θ.
// X has shape (n, d), one state of dimension n·d. Its vector-Jacobian
// products are x̄ = (A(w)ᵀ - I) v and θ̄_k += ⟨v_i, x_j⟩ (summed over the
// d features) for the entry k = (i, j).
//
// With w from ops.EdgeAttention it is the attention diffusion of GRAND /
// F-GRAND; as a layers.ParamField (one parameter tensor of shape (NNZ))
// Init starts from the random-walk weights 1/deg(i).
type EdgeDiffusion struct {
	sp *csrpair.Pair
	d  int
}

// NewEdgeDiffusion returns the field (A(w) - I) X on the pattern of a
// square matrix (its values are ignored) for d features per node.
func NewEdgeDiffusion(pattern *sparse.CSR, d int) (*EdgeDiffusion, error) {
	if err := pattern.Validate(); err != nil {
		return nil, fmt.Errorf("graph: NewEdgeDiffusion: %w", err)
	}
	if pattern.Rows != pattern.Cols || pattern.Rows == 0 {
		return nil, errors.New("graph: NewEdgeDiffusion needs a non-empty square pattern")
	}
	if d < 1 {
		return nil, fmt.Errorf("graph: NewEdgeDiffusion: %d features per node; want at least 1", d)
	}
	sp, err := csrpair.New(pattern, true)
	if err != nil {
		return nil, err
	}
	return &EdgeDiffusion{sp: sp, d: d}, nil
}

// Pattern returns the sparsity pattern whose values θ holds.
func (f *EdgeDiffusion) Pattern() *sparse.CSR { return f.sp.A }

// Dim returns n·d.
func (f *EdgeDiffusion) Dim() int { return f.sp.A.Rows * f.d }

// NumParams returns the number of stored entries of the pattern.
func (f *EdgeDiffusion) NumParams() int { return f.sp.A.NNZ() }

// ParamShapes returns the one parameter shape (NNZ).
func (f *EdgeDiffusion) ParamShapes() []tensor.Shape { return []tensor.Shape{{f.NumParams()}} }

// Init writes the random-walk weights w_k = 1/deg(i) of entry k = (i, j).
func (f *EdgeDiffusion) Init(theta []float64, _ *rand.Rand) error {
	if len(theta) != f.NumParams() {
		return fmt.Errorf("graph: EdgeDiffusion.Init: θ of length %d, want %d", len(theta), f.NumParams())
	}
	a := f.sp.A
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
	a, n := f.sp.A, f.Dim()
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
	a, t, n := f.sp.A, f.sp.T, f.Dim()
	var tv, e []float64
	if xbar != nil {
		tv = make([]float64, len(theta))
		for k, p := range f.sp.Perm {
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
			spmm.EdgeDots(e, a.Ptr, a.Col, v[r:r+n], x[r:r+n], f.d)
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
	return graphDiffusion(f.sp.A, f.d, params[0], x)
}

// graphDiffusion builds A X - X from a sparse product node of a, with the
// values node vals (nil: a's own values), for a state x of n·d values.
func graphDiffusion(a *sparse.CSR, d int, vals, x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, errors.New("graph: diffusion graph of a nil state")
	}
	shape := x.Shape().Clone()
	if shape.TotalSize() != a.Rows*d {
		return nil, fmt.Errorf("graph: diffusion of a state of shape %v, want %d×%d values", shape, a.Rows, d)
	}
	xm := x
	if x.Dims() != 2 || shape[0] != a.Rows {
		var err error
		if xm, err = G.Reshape(x, tensor.Shape{a.Rows, d}); err != nil {
			return nil, err
		}
	}
	var ax *G.Node
	var err error
	if vals != nil {
		ax, err = ops.SpMMValues(a, vals, xm)
	} else {
		ax, err = ops.SpMM(a, xm)
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
	spmm.Product(dst, ptr, col, val, x, d, false)
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

// AttentionDiffusion is the diffusion field whose edge weights are
// recomputed from the state at every evaluation (GRAND-nl; FROND's
// F-GRAND-nl with α < 1):
//
//	f(X; W_K, W_Q) = (A(w(X)) - I) X,   w(X) = attention(X W_K, X W_Q),
//
// with the scaled dot-product attention of ops.EdgeAttentionWith (row
// softmax or its symmetric normalisation) on a fixed pattern, X of shape
// (n, d) and the key and query projections W_K, W_Q of shape (d, d_k) as
// θ (W_K first, row-major). Its VJP differentiates through the attention: x̄ =
// (A(w)ᵀ - I) v + dK W_Kᵀ + dQ W_Qᵀ and θ̄ += (Xᵀ dK, Xᵀ dQ), where dK and
// dQ are the attention's gradients for the cotangent ⟨v_i, x_j⟩ of the
// weight of entry (i, j).
type AttentionDiffusion struct {
	sp     *csrpair.Pair
	d, dk  int
	mirror []int // ops.SymSoftmax: the index of entry (j, i) for entry (i, j)
}

// NewAttentionDiffusion returns the field on the pattern of a square
// matrix (its values are ignored; every row needs an entry, normally a
// self-loop) for d features per node and key dimension dk.
func NewAttentionDiffusion(pattern *sparse.CSR, d, dk int, norm ops.AttentionNorm) (*AttentionDiffusion, error) {
	if err := pattern.Validate(); err != nil {
		return nil, fmt.Errorf("graph: NewAttentionDiffusion: %w", err)
	}
	if pattern.Rows != pattern.Cols || pattern.Rows == 0 {
		return nil, errors.New("graph: NewAttentionDiffusion needs a non-empty square pattern")
	}
	if d < 1 || dk < 1 {
		return nil, fmt.Errorf("graph: NewAttentionDiffusion: %d features per node and key dimension %d; want at least 1", d, dk)
	}
	if norm != ops.RowSoftmax && norm != ops.SymSoftmax {
		return nil, fmt.Errorf("graph: NewAttentionDiffusion: unknown normalisation %v", norm)
	}
	for i := 0; i < pattern.Rows; i++ {
		if pattern.Ptr[i+1] == pattern.Ptr[i] {
			return nil, fmt.Errorf("graph: NewAttentionDiffusion: node %d has no neighbours (add self-loops)", i)
		}
	}
	sp, err := csrpair.New(pattern, true)
	if err != nil {
		return nil, err
	}
	f := &AttentionDiffusion{sp: sp, d: d, dk: dk}
	if norm == ops.SymSoftmax {
		if !slices.Equal(sp.A.Ptr, sp.T.Ptr) || !slices.Equal(sp.A.Col, sp.T.Col) {
			return nil, errors.New("graph: NewAttentionDiffusion: the symmetric normalisation needs a symmetric pattern")
		}
		f.mirror = sp.Perm
	}
	return f, nil
}

// Dim returns n·d.
func (f *AttentionDiffusion) Dim() int { return f.sp.A.Rows * f.d }

// NumParams returns 2·d·d_k.
func (f *AttentionDiffusion) NumParams() int { return 2 * f.d * f.dk }

// ParamShapes returns the shapes (d, d_k) of W_K and W_Q.
func (f *AttentionDiffusion) ParamShapes() []tensor.Shape {
	return []tensor.Shape{{f.d, f.dk}, {f.d, f.dk}}
}

// Init draws W_K and W_Q uniformly from ±√(6/(d + d_k)) (Glorot).
func (f *AttentionDiffusion) Init(theta []float64, rng *rand.Rand) error {
	if len(theta) != f.NumParams() {
		return fmt.Errorf("graph: AttentionDiffusion.Init: θ of length %d, want %d", len(theta), f.NumParams())
	}
	if rng == nil {
		return errors.New("graph: AttentionDiffusion.Init needs a random source")
	}
	lim := math.Sqrt(6 / float64(f.d+f.dk))
	for i := range theta {
		theta[i] = lim * (2*rng.Float64() - 1)
	}
	return nil
}

// attention returns K = X W_K, Q = X W_Q and the attention's row softmax
// p and weights w for one n × d state x.
func (f *AttentionDiffusion) attention(x, theta []float64) (k, q, p, w []float64, err error) {
	n, d, dk := f.sp.A.Rows, f.d, f.dk
	k, q = make([]float64, n*dk), make([]float64, n*dk)
	wk, wq := theta[:d*dk], theta[d*dk:]
	for i := range n {
		xi, ki, qi := x[i*d:(i+1)*d], k[i*dk:(i+1)*dk], q[i*dk:(i+1)*dk]
		for c, v := range xi {
			if v == 0 {
				continue
			}
			floats.AddScaled(ki, v, wk[c*dk:(c+1)*dk])
			floats.AddScaled(qi, v, wq[c*dk:(c+1)*dk])
		}
	}
	p, w, err = spmm.AttentionWeights(f.sp.A.Ptr, f.sp.A.Col, f.mirror, k, q, nil, dk)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("graph: AttentionDiffusion: %w", err)
	}
	return k, q, p, w, nil
}

// Eval writes (A(w(X)) - I) X for every n·d block of x into dst.
func (f *AttentionDiffusion) Eval(dst []float64, _ float64, x, theta []float64) error {
	if err := checkState("AttentionDiffusion", f.Dim(), f.NumParams(), x, theta, dst); err != nil {
		return err
	}
	a, n := f.sp.A, f.Dim()
	for r := 0; r < len(x); r += n {
		_, _, _, w, err := f.attention(x[r:r+n], theta)
		if err != nil {
			return err
		}
		diffuse(dst[r:r+n], a.Ptr, a.Col, w, x[r:r+n], f.d)
	}
	return nil
}

// VJP overwrites xbar with (∂f/∂x)ᵀ v and adds (∂f/∂θ)ᵀ v into thetabar
// (see the type's doc).
func (f *AttentionDiffusion) VJP(xbar, thetabar []float64, _ float64, x, theta, v []float64) error {
	if err := checkState("AttentionDiffusion", f.Dim(), f.NumParams(), x, theta, v); err != nil {
		return err
	}
	if xbar != nil && len(xbar) != len(x) {
		return fmt.Errorf("graph: AttentionDiffusion.VJP: xbar of length %d, want %d", len(xbar), len(x))
	}
	if thetabar != nil && len(thetabar) != len(theta) {
		return fmt.Errorf("graph: AttentionDiffusion.VJP: thetabar of length %d, want %d", len(thetabar), len(theta))
	}
	if xbar == nil && thetabar == nil {
		return nil
	}
	a, t, n, d, dk := f.sp.A, f.sp.T, f.Dim(), f.d, f.dk
	wk, wq := theta[:d*dk], theta[d*dk:]
	gw := make([]float64, a.NNZ())
	tv := make([]float64, a.NNZ())
	for r := 0; r < len(x); r += n {
		xr, vr := x[r:r+n], v[r:r+n]
		k, q, p, w, err := f.attention(xr, theta)
		if err != nil {
			return err
		}
		spmm.EdgeDots(gw, a.Ptr, a.Col, vr, xr, d)
		dK, dQ := spmm.AttentionGrads(a.Ptr, a.Col, f.mirror, k, q, p, w, gw, dk)
		if xbar != nil {
			xb := xbar[r : r+n]
			for e, pe := range f.sp.Perm {
				tv[e] = w[pe]
			}
			diffuse(xb, t.Ptr, t.Col, tv, vr, d)
			for i := range a.Rows {
				xi, dki, dqi := xb[i*d:(i+1)*d], dK[i*dk:(i+1)*dk], dQ[i*dk:(i+1)*dk]
				for c := range xi {
					xi[c] += floats.Dot(wk[c*dk:(c+1)*dk], dki) + floats.Dot(wq[c*dk:(c+1)*dk], dqi)
				}
			}
		}
		if thetabar != nil {
			tk, tq := thetabar[:d*dk], thetabar[d*dk:]
			for i := range a.Rows {
				xi, dki, dqi := xr[i*d:(i+1)*d], dK[i*dk:(i+1)*dk], dQ[i*dk:(i+1)*dk]
				for c, xv := range xi {
					if xv == 0 {
						continue
					}
					floats.AddScaled(tk[c*dk:(c+1)*dk], xv, dki)
					floats.AddScaled(tq[c*dk:(c+1)*dk], xv, dqi)
				}
			}
		}
	}
	return nil
}
