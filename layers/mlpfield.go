package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gofde/gofde/conv"
	"github.com/gofde/gofde/internal/gemm"
	"github.com/gofde/gofde/internal/scratch"
)

// mlpChunk is the number of rows an MLPField processes per block of gemms.
// It bounds the scratch space (2·mlpChunk·hidden values) and keeps the
// hidden activations in cache.
const mlpChunk = 128

// MLPField is the one-hidden-layer tanh network
//
//	f(t, x; θ) = W2 tanh(W1 u + b1) + b2,   u = x, or u = [x; t] with TimeInput,
//
// applied to every row x ∈ R^Dim of a batch. W1 is Hidden×In with
// In = Dim (+1 with TimeInput), b1 ∈ R^Hidden, W2 is Dim×Hidden, b2 ∈ R^Dim.
//
// θ is laid out, each tensor flattened row-major, as
//
//	θ = [ W1 (Hidden×In) | b1 (Hidden) | W2 (Dim×Hidden) | b2 (Dim) ],
//
// so W1[i][j] = θ[i·In + j] and, with TimeInput, the weight of t in hidden
// unit i is the last column, W1[i][Dim] = θ[i·In + Dim]. Layout returns the
// offsets and shapes.
//
// An MLPField implements fode.Field, fode.RowwiseField and fode.JVPField.
// Its batched products are matrix products on chunks of 128 rows; its
// scratch space comes from a pool, so Eval, VJP and JVP allocate nothing
// in steady state, and they are safe for concurrent use on disjoint
// destinations. An MLPField must not be copied after first use.
type MLPField struct {
	dim, hidden, in int
	timeInput       bool
	offB1, offW2    int
	offB2, np       int
	f32             bool
	pool64          scratch.Pool[float64]
	pool32          scratch.Pool[float32]
}

// NewMLPField returns the field f(t, x) = W2 tanh(W1 [x; t?] + b1) + b2 on
// states of dimension dim with hidden tanh units; timeInput feeds t to the
// hidden layer as an extra input. It fails if dim or hidden is below 1.
// Eval and VJP compute in float64; SetFloat32 switches them to float32.
func NewMLPField(dim, hidden int, timeInput bool) (*MLPField, error) {
	if dim < 1 || hidden < 1 {
		return nil, fmt.Errorf("layers: NewMLPField(dim %d, hidden %d): both must be at least 1", dim, hidden)
	}
	in := dim
	if timeInput {
		in++
	}
	m := &MLPField{dim: dim, hidden: hidden, in: in, timeInput: timeInput}
	m.offB1 = hidden * in
	m.offW2 = m.offB1 + hidden
	m.offB2 = m.offW2 + dim*hidden
	m.np = m.offB2 + dim
	return m, nil
}

// Dim returns the state dimension d of one sample (a row).
func (m *MLPField) Dim() int { return m.dim }

// Hidden returns the number of hidden tanh units.
func (m *MLPField) Hidden() int { return m.hidden }

// TimeInput reports whether t is an input of the hidden layer.
func (m *MLPField) TimeInput() bool { return m.timeInput }

// NumParams returns len(θ) = Hidden·In + Hidden + Dim·Hidden + Dim.
func (m *MLPField) NumParams() int { return m.np }

// Rowwise returns true: row i of f(t, x) depends on row i of x alone.
func (m *MLPField) Rowwise() bool { return true }

// Layout returns the parameter tensors in their order in θ: W1
// (Hidden×In), b1 (Hidden), W2 (Dim×Hidden), b2 (Dim).
func (m *MLPField) Layout() []ParamBlock {
	return []ParamBlock{
		{Name: "W1", Offset: 0, Shape: []int{m.hidden, m.in}},
		{Name: "b1", Offset: m.offB1, Shape: []int{m.hidden}},
		{Name: "W2", Offset: m.offW2, Shape: []int{m.dim, m.hidden}},
		{Name: "b2", Offset: m.offB2, Shape: []int{m.dim}},
	}
}

// Init writes Glorot (Xavier) uniform initial parameters into theta:
// W1 ~ U(±√(6/(In+Hidden))), W2 ~ U(±√(6/(Hidden+Dim))), b1 = b2 = 0.
// A nil rng uses the top-level generator of math/rand/v2. A θ of the wrong
// length is an error.
func (m *MLPField) Init(theta []float64, rng *rand.Rand) error {
	if len(theta) != m.np {
		return fmt.Errorf("layers: MLPField.Init: θ of length %d, want %d", len(theta), m.np)
	}
	fillUniform(theta[:m.offB1], math.Sqrt(6/float64(m.in+m.hidden)), rng)
	clear(theta[m.offB1:m.offW2])
	fillUniform(theta[m.offW2:m.offB2], math.Sqrt(6/float64(m.hidden+m.dim)), rng)
	clear(theta[m.offB2:])
	return nil
}

// fillUniform fills s with independent U(-lim, lim) values.
func fillUniform(s []float64, lim float64, rng *rand.Rand) {
	for i := range s {
		var u float64
		if rng != nil {
			u = rng.Float64()
		} else {
			u = rand.Float64()
		}
		s[i] = lim * (2*u - 1)
	}
}

// fillNormal fills s with independent N(0, sd²) values.
func fillNormal(s []float64, sd float64, rng *rand.Rand) {
	for i := range s {
		var z float64
		if rng != nil {
			z = rng.NormFloat64()
		} else {
			z = rand.NormFloat64()
		}
		s[i] = sd * z
	}
}

// SetFloat32 makes Eval and VJP compute in float32 (on) or float64 (off,
// the default): in float32 the state, θ and the cotangent are rounded to
// float32 on the way in and the results widened on the way out, so the
// solver's states, history sums and gradient accumulators stay float64
// while the matrix products and tanh run at float32 speed. JVP, a
// reference for checking, stays float64. Call it before the field is used.
func (m *MLPField) SetFloat32(on bool) { m.f32 = on }

// Float32 reports whether Eval and VJP compute in float32.
func (m *MLPField) Float32() bool { return m.f32 }

func (m *MLPField) check(x, theta []float64) error {
	return checkFieldState("MLPField", m.dim, m.np, x, theta)
}

// Eval writes f(t, x; θ) = W2 tanh(W1 [x; t?] + b1) + b2, row by row, into
// dst. It returns an error unless len(x) is a multiple of Dim(),
// len(dst) = len(x) and len(theta) = NumParams(). dst may be x itself.
func (m *MLPField) Eval(dst []float64, t float64, x, theta []float64) error {
	if err := m.check(x, theta); err != nil {
		return err
	}
	if err := checkFieldLen("MLPField.Eval", "dst", dst, len(x), false); err != nil {
		return err
	}
	if len(x) == 0 {
		return nil
	}
	if m.f32 {
		return evalIn32((*mlp32)(m), &m.pool32, dst, t, x, theta)
	}
	mlpEval(m, &m.pool64, dst, t, x, theta)
	return nil
}

// VJP computes, for each row with cotangent v, h = tanh(W1 u + b1) and
// g = (W2ᵀ v) ⊙ (1 - h²); it overwrites xbar with (∂f/∂x)ᵀ v = W1xᵀ g (W1x:
// the Dim columns of W1 that multiply x) and adds (∂f/∂θ)ᵀ v into
// thetabar: W1 += g uᵀ (the t column gets t·g), b1 += g, W2 += v hᵀ,
// b2 += v, summed over the rows. t is not differentiated. Either
// destination may be nil. It returns an error on lengths that do not
// match: len(v) = len(xbar) = len(x), len(thetabar) = len(theta) =
// NumParams(). xbar may be x or v.
func (m *MLPField) VJP(xbar, thetabar []float64, t float64, x, theta, v []float64) error {
	if err := m.check(x, theta); err != nil {
		return err
	}
	const name = "MLPField.VJP"
	if err := checkFieldLen(name, "v", v, len(x), false); err != nil {
		return err
	}
	if err := checkFieldLen(name, "xbar", xbar, len(x), true); err != nil {
		return err
	}
	if err := checkFieldLen(name, "thetabar", thetabar, m.np, true); err != nil {
		return err
	}
	if len(x) == 0 || (xbar == nil && thetabar == nil) {
		return nil
	}
	if m.f32 {
		return vjpIn32((*mlp32)(m), &m.pool32, xbar, thetabar, t, x, theta, v)
	}
	mlpVJP(m, &m.pool64, xbar, thetabar, t, x, theta, v)
	return nil
}

// mlp32 is an MLPField's float32 arithmetic (core32).
type mlp32 MLPField

func (m *mlp32) eval(dst []float32, t float64, x, theta []float32) error {
	f := (*MLPField)(m)
	mlpEval(f, &f.pool32, dst, t, x, theta)
	return nil
}

func (m *mlp32) vjp(xbar, thetabar []float32, t float64, x, theta, v []float32) error {
	f := (*MLPField)(m)
	mlpVJP(f, &f.pool32, xbar, thetabar, t, x, theta, v)
	return nil
}

// JVP writes (∂f/∂x) xdot + (∂f/∂θ) thetadot into dst: per row, with
// h = tanh(W1 u + b1) and ḣ = (1 - h²) ⊙ (W1x ẋ + Ẇ1 u + ḃ1), it is
// W2 ḣ + Ẇ2 h + ḃ2, where Ẇ1, ḃ1, Ẇ2, ḃ2 are the blocks of thetadot (nil
// meaning zero). t is not differentiated. It computes in float64. It
// returns an error on lengths that do not match: len(dst) = len(xdot) =
// len(x), len(thetadot) = len(theta) = NumParams(). dst may be x or xdot.
func (m *MLPField) JVP(dst []float64, t float64, x, theta, xdot, thetadot []float64) error {
	if err := m.check(x, theta); err != nil {
		return err
	}
	const name = "MLPField.JVP"
	if err := checkFieldLen(name, "dst", dst, len(x), false); err != nil {
		return err
	}
	if err := checkFieldLen(name, "xdot", xdot, len(x), false); err != nil {
		return err
	}
	if err := checkFieldLen(name, "thetadot", thetadot, m.np, true); err != nil {
		return err
	}
	if len(x) == 0 {
		return nil
	}
	mlpJVP(m, &m.pool64, dst, t, x, theta, xdot, thetadot)
	return nil
}

// mlpHidden writes H = tanh(X W1xᵀ + b1 + t·w1t) for the nr rows of xs
// into h (nr×Hidden, row-major).
func mlpHidden[T conv.Float](m *MLPField, h []T, t float64, xs []T, nr int, theta []T) {
	k := m.hidden
	mlpBias(m, h, t, nr, theta)
	gemm.Mul(false, true, nr, k, m.dim, xs, m.dim, theta, m.in, 1, h, k)
	tanhTo(h, h)
}

// mlpBias fills the nr rows of h with b1 + t·w1t taken from p (θ or θ̇).
func mlpBias[T conv.Float](m *MLPField, h []T, t float64, nr int, p []T) {
	k := m.hidden
	copy(h[:k], p[m.offB1:m.offW2])
	if m.timeInput {
		for i := range k {
			h[i] += T(t) * p[i*m.in+m.dim]
		}
	}
	for r := 1; r < nr; r++ {
		copy(h[r*k:(r+1)*k], h[:k])
	}
}

func mlpEval[T conv.Float](m *MLPField, pool *scratch.Pool[T], dst []T, t float64, x, theta []T) {
	d, k := m.dim, m.hidden
	rows := len(x) / d
	buf := pool.Get(min(rows, mlpChunk) * k)
	defer pool.Put(buf)
	w2, b2 := theta[m.offW2:m.offB2], theta[m.offB2:]
	for r0 := 0; r0 < rows; r0 += mlpChunk {
		nr := min(mlpChunk, rows-r0)
		h := (*buf)[:nr*k]
		mlpHidden(m, h, t, x[r0*d:(r0+nr)*d], nr, theta)
		out := dst[r0*d : (r0+nr)*d]
		for r := range nr {
			copy(out[r*d:(r+1)*d], b2)
		}
		gemm.Mul(false, true, nr, d, k, h, k, w2, k, 1, out, d)
	}
}

func mlpVJP[T conv.Float](m *MLPField, pool *scratch.Pool[T], xbar, thetabar []T, t float64, x, theta, v []T) {
	d, k := m.dim, m.hidden
	rows := len(x) / d
	n := min(rows, mlpChunk)
	buf := pool.Get(2 * n * k)
	defer pool.Put(buf)
	w2 := theta[m.offW2:m.offB2]
	for r0 := 0; r0 < rows; r0 += mlpChunk {
		nr := min(mlpChunk, rows-r0)
		h, g := (*buf)[:nr*k], (*buf)[n*k:n*k+nr*k]
		xs, vs := x[r0*d:(r0+nr)*d], v[r0*d:(r0+nr)*d]
		mlpHidden(m, h, t, xs, nr, theta)
		// G = (V W2) ⊙ (1 - H²).
		gemm.Mul(false, false, nr, k, d, vs, d, w2, k, 0, g, k)
		for i, hv := range h {
			g[i] *= 1 - hv*hv
		}
		if thetabar != nil {
			gemm.Mul(true, false, d, k, nr, vs, d, h, k, 1, thetabar[m.offW2:m.offB2], k)
			gemm.Mul(true, false, k, d, nr, g, k, xs, d, 1, thetabar, m.in)
			gb1, gb2 := thetabar[m.offB1:m.offW2], thetabar[m.offB2:]
			for r := range nr {
				gr := g[r*k : (r+1)*k]
				for i, gv := range gr {
					gb1[i] += gv
				}
				if m.timeInput {
					for i, gv := range gr {
						thetabar[i*m.in+d] += T(t) * gv
					}
				}
				for i, vv := range vs[r*d : (r+1)*d] {
					gb2[i] += vv
				}
			}
		}
		if xbar != nil {
			gemm.Mul(false, false, nr, d, k, g, k, theta, m.in, 0, xbar[r0*d:(r0+nr)*d], d)
		}
	}
}

func mlpJVP[T conv.Float](m *MLPField, pool *scratch.Pool[T], dst []T, t float64, x, theta, xdot, thetadot []T) {
	d, k := m.dim, m.hidden
	rows := len(x) / d
	n := min(rows, mlpChunk)
	buf := pool.Get(2 * n * k)
	defer pool.Put(buf)
	w2 := theta[m.offW2:m.offB2]
	for r0 := 0; r0 < rows; r0 += mlpChunk {
		nr := min(mlpChunk, rows-r0)
		h, hd := (*buf)[:nr*k], (*buf)[n*k:n*k+nr*k]
		xs, xds := x[r0*d:(r0+nr)*d], xdot[r0*d:(r0+nr)*d]
		mlpHidden(m, h, t, xs, nr, theta)
		var beta T
		if thetadot != nil {
			// Ḣ = X Ẇ1xᵀ + ḃ1 + t ẇ1t before the ẋ term.
			mlpBias(m, hd, t, nr, thetadot)
			gemm.Mul(false, true, nr, k, d, xs, d, thetadot, m.in, 1, hd, k)
			beta = 1
		}
		gemm.Mul(false, true, nr, k, d, xds, d, theta, m.in, beta, hd, k)
		for i, hv := range h {
			hd[i] *= 1 - hv*hv
		}
		out := dst[r0*d : (r0+nr)*d]
		beta = 0
		if thetadot != nil {
			db2 := thetadot[m.offB2:]
			for r := range nr {
				copy(out[r*d:(r+1)*d], db2)
			}
			gemm.Mul(false, true, nr, d, k, h, k, thetadot[m.offW2:m.offB2], k, 1, out, d)
			beta = 1
		}
		gemm.Mul(false, true, nr, d, k, hd, k, w2, k, beta, out, d)
	}
}
