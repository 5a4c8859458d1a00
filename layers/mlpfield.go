package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
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
// Its batched products are gonum BLAS gemms (blas64), on chunks of 128
// rows; its scratch space comes from a pool, so Eval, VJP and JVP allocate
// nothing in steady state, and they are safe for concurrent use on
// disjoint destinations. An MLPField must not be copied after first use.
type MLPField struct {
	dim, hidden, in int
	timeInput       bool
	offB1, offW2    int
	offB2, np       int
	scratch         scratchPool
}

// NewMLPField returns the field f(t, x) = W2 tanh(W1 [x; t?] + b1) + b2 on
// states of dimension dim with hidden tanh units; timeInput feeds t to the
// hidden layer as an extra input. It fails if dim or hidden is below 1.
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

func (m *MLPField) check(x, theta []float64) error {
	return checkFieldState("MLPField", m.dim, m.np, x, theta)
}

// views returns the gemm views of W1 restricted to the x columns
// (Hidden×Dim, stride In) and of W2 (Dim×Hidden) in the parameter vector p.
func (m *MLPField) views(p []float64) (w1x, w2 blas64.General) {
	w1x = blas64.General{Rows: m.hidden, Cols: m.dim, Stride: m.in, Data: p[:m.offB1]}
	w2 = rowMajor(m.dim, m.hidden, p[m.offW2:m.offB2])
	return
}

// hiddenLayer writes H = tanh(X W1ᵀ + b1 + t·w1t) for the nr rows of xs into h
// (nr×Hidden, row-major).
func (m *MLPField) hiddenLayer(h []float64, t float64, xs []float64, nr int, theta []float64) {
	k := m.hidden
	b1 := theta[m.offB1:m.offW2]
	copy(h[:k], b1)
	if m.timeInput {
		for i := range k {
			h[i] += t * theta[i*m.in+m.dim]
		}
	}
	for r := 1; r < nr; r++ {
		copy(h[r*k:(r+1)*k], h[:k])
	}
	w1x, _ := m.views(theta)
	tiledGemm(blas.NoTrans, blas.Trans, 1, rowMajor(nr, m.dim, xs), w1x, 1, rowMajor(nr, k, h))
	for i, z := range h {
		h[i] = math.Tanh(z)
	}
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
	d, k := m.dim, m.hidden
	rows := len(x) / d
	if rows == 0 {
		return nil
	}
	buf := m.scratch.get(min(rows, mlpChunk) * k)
	defer m.scratch.put(buf)
	_, w2 := m.views(theta)
	b2 := theta[m.offB2:]
	for r0 := 0; r0 < rows; r0 += mlpChunk {
		nr := min(mlpChunk, rows-r0)
		h := (*buf)[:nr*k]
		m.hiddenLayer(h, t, x[r0*d:(r0+nr)*d], nr, theta)
		out := dst[r0*d : (r0+nr)*d]
		for r := range nr {
			copy(out[r*d:(r+1)*d], b2)
		}
		tiledGemm(blas.NoTrans, blas.Trans, 1, rowMajor(nr, k, h), w2, 1, rowMajor(nr, d, out))
	}
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
	d, k := m.dim, m.hidden
	rows := len(x) / d
	if rows == 0 || (xbar == nil && thetabar == nil) {
		return nil
	}
	n := min(rows, mlpChunk)
	buf := m.scratch.get(2 * n * k)
	defer m.scratch.put(buf)
	w1x, w2 := m.views(theta)
	for r0 := 0; r0 < rows; r0 += mlpChunk {
		nr := min(mlpChunk, rows-r0)
		h, g := (*buf)[:nr*k], (*buf)[n*k:n*k+nr*k]
		xs, vs := x[r0*d:(r0+nr)*d], v[r0*d:(r0+nr)*d]
		m.hiddenLayer(h, t, xs, nr, theta)
		// G = (V W2) ⊙ (1 - H²).
		tiledGemm(blas.NoTrans, blas.NoTrans, 1, rowMajor(nr, d, vs), w2, 0, rowMajor(nr, k, g))
		for i, hv := range h {
			g[i] *= 1 - hv*hv
		}
		if thetabar != nil {
			gw1x, gw2 := m.views(thetabar)
			tiledGemm(blas.Trans, blas.NoTrans, 1, rowMajor(nr, d, vs), rowMajor(nr, k, h), 1, gw2)
			tiledGemm(blas.Trans, blas.NoTrans, 1, rowMajor(nr, k, g), rowMajor(nr, d, xs), 1, gw1x)
			gb1, gb2 := thetabar[m.offB1:m.offW2], thetabar[m.offB2:]
			for r := range nr {
				gr := g[r*k : (r+1)*k]
				for i, gv := range gr {
					gb1[i] += gv
				}
				if m.timeInput {
					for i, gv := range gr {
						thetabar[i*m.in+d] += t * gv
					}
				}
				for i, vv := range vs[r*d : (r+1)*d] {
					gb2[i] += vv
				}
			}
		}
		if xbar != nil {
			tiledGemm(blas.NoTrans, blas.NoTrans, 1, rowMajor(nr, k, g), w1x, 0, rowMajor(nr, d, xbar[r0*d:(r0+nr)*d]))
		}
	}
	return nil
}

// JVP writes (∂f/∂x) xdot + (∂f/∂θ) thetadot into dst: per row, with
// h = tanh(W1 u + b1) and ḣ = (1 - h²) ⊙ (W1x ẋ + Ẇ1 u + ḃ1), it is
// W2 ḣ + Ẇ2 h + ḃ2, where Ẇ1, ḃ1, Ẇ2, ḃ2 are the blocks of thetadot (nil
// meaning zero). t is not differentiated. It returns an error on lengths
// that do not match: len(dst) = len(xdot) = len(x), len(thetadot) =
// len(theta) = NumParams(). dst may be x or xdot.
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
	d, k := m.dim, m.hidden
	rows := len(x) / d
	if rows == 0 {
		return nil
	}
	n := min(rows, mlpChunk)
	buf := m.scratch.get(2 * n * k)
	defer m.scratch.put(buf)
	w1x, w2 := m.views(theta)
	for r0 := 0; r0 < rows; r0 += mlpChunk {
		nr := min(mlpChunk, rows-r0)
		h, hd := (*buf)[:nr*k], (*buf)[n*k:n*k+nr*k]
		xs, xds := x[r0*d:(r0+nr)*d], xdot[r0*d:(r0+nr)*d]
		m.hiddenLayer(h, t, xs, nr, theta)
		if thetadot != nil {
			// Ḣ = X Ẇ1xᵀ + ḃ1 + t ẇ1t before the ẋ term.
			dw1x, _ := m.views(thetadot)
			db1 := thetadot[m.offB1:m.offW2]
			copy(hd[:k], db1)
			if m.timeInput {
				for i := range k {
					hd[i] += t * thetadot[i*m.in+d]
				}
			}
			for r := 1; r < nr; r++ {
				copy(hd[r*k:(r+1)*k], hd[:k])
			}
			tiledGemm(blas.NoTrans, blas.Trans, 1, rowMajor(nr, d, xs), dw1x, 1, rowMajor(nr, k, hd))
			tiledGemm(blas.NoTrans, blas.Trans, 1, rowMajor(nr, d, xds), w1x, 1, rowMajor(nr, k, hd))
		} else {
			tiledGemm(blas.NoTrans, blas.Trans, 1, rowMajor(nr, d, xds), w1x, 0, rowMajor(nr, k, hd))
		}
		for i, hv := range h {
			hd[i] *= 1 - hv*hv
		}
		out := dst[r0*d : (r0+nr)*d]
		if thetadot != nil {
			_, dw2 := m.views(thetadot)
			db2 := thetadot[m.offB2:]
			for r := range nr {
				copy(out[r*d:(r+1)*d], db2)
			}
			tiledGemm(blas.NoTrans, blas.Trans, 1, rowMajor(nr, k, h), dw2, 1, rowMajor(nr, d, out))
			tiledGemm(blas.NoTrans, blas.Trans, 1, rowMajor(nr, k, hd), w2, 1, rowMajor(nr, d, out))
		} else {
			tiledGemm(blas.NoTrans, blas.Trans, 1, rowMajor(nr, k, hd), w2, 0, rowMajor(nr, d, out))
		}
	}
	return nil
}
