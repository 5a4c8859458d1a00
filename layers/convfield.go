package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Activation is the pointwise nonlinearity of a ConvField's hidden layer.
type Activation int

const (
	// ActTanh is σ(p) = tanh(p), σ' = 1 - σ² (the default).
	ActTanh Activation = iota
	// ActReLU is σ(p) = max(p, 0), σ' = 1 for p > 0 and 0 otherwise.
	ActReLU
)

// String returns "tanh" or "relu".
func (a Activation) String() string {
	switch a {
	case ActTanh:
		return "tanh"
	case ActReLU:
		return "relu"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// ConvOptions configures a ConvField. The zero value is a tanh field
// without time input or normalisation.
type ConvOptions struct {
	// TimeInput appends a constant channel filled with t to the input of
	// the first convolution (zero-padded like the others), as
	// torchdiffeq's ConcatConv2d does; t is not differentiated.
	TimeInput bool
	// Groups, when positive, applies group normalisation with that many
	// groups (it must divide the hidden channels) and a learnable
	// per-channel scale γ and shift β after the first convolution.
	Groups int
	// Act is the hidden nonlinearity (default ActTanh).
	Act Activation
	// Eps is the ε of group normalisation (default 1e-5).
	Eps float64
}

// ConvField is a convolutional vector field on image-shaped states: each
// row of a batch is one sample x of C channels of H×W pixels, flattened
// row-major in CHW order (the batch is NCHW), and
//
//	f(t, x; θ) = K2 ⋆ σ(N(K1 ⋆ u + b1)) + b2,   u = x, or u = [x; t·1] with TimeInput,
//
// where ⋆ is a 3×3 convolution (cross-correlation, as in every deep
// learning library) with stride 1 and zero padding 1, K1 maps the
// Cin = C (+1 with TimeInput; the t channel is the last input channel)
// input channels to Ch hidden channels and K2 maps them back to C, b1 and
// b2 are per-channel biases and σ is the Activation. N is the identity, or
// with Groups = G > 0 group normalisation: the Ch channels split into G
// consecutive groups of Ch/G channels, and every hidden value z of a
// sample in group g becomes γ_c (z - μ_g)/√(v_g + ε) + β_c, with μ_g, v_g
// the mean and (biased) variance of z over the group's channels and
// pixels of that sample.
//
// θ is laid out, each tensor flattened row-major, as
//
//	θ = [ K1 (Ch×Cin×3×3) | b1 (Ch) | γ (Ch) | β (Ch) | K2 (C×Ch×3×3) | b2 (C) ],
//
// with γ and β present only when Groups > 0; K1[o][i][ky][kx] weighs
// input channel i at pixel (y+ky-1, x+kx-1) in output channel o at (y, x).
// Layout returns the offsets and shapes.
//
// The convolutions are im2col + gemm (gonum blas64) per sample, the VJPs
// the transposed gemms + col2im. A ConvField implements fode.Field,
// fode.RowwiseField and fode.JVPField; its scratch space comes from a pool,
// so Eval, VJP and JVP allocate nothing in steady state, and they are safe
// for concurrent use on disjoint destinations. A ConvField must not be
// copied after first use.
type ConvField struct {
	c, h, w, hw, ch, cin int
	opt                  ConvOptions
	offB1, offGamma      int
	offBeta, offK2       int
	offB2, np            int
	colLen               int
	scratch              scratchPool
}

// NewConvField returns the field f(x) = K2 ⋆ σ(N(K1 ⋆ [x; t?] + b1)) + b2
// on states of channels×height×width values with hidden channels (hidden
// = 0 means hidden = channels). It fails if channels, height or width is
// below 1, hidden is negative, opts.Groups is negative or does not divide
// hidden, opts.Act is unknown or opts.Eps is negative or not finite.
func NewConvField(channels, height, width, hidden int, opts ConvOptions) (*ConvField, error) {
	if channels < 1 || height < 1 || width < 1 {
		return nil, fmt.Errorf("layers: NewConvField: shape %d×%d×%d; all must be at least 1", channels, height, width)
	}
	if hidden == 0 {
		hidden = channels
	}
	if hidden < 0 {
		return nil, fmt.Errorf("layers: NewConvField: %d hidden channels", hidden)
	}
	if opts.Groups < 0 || (opts.Groups > 0 && hidden%opts.Groups != 0) {
		return nil, fmt.Errorf("layers: NewConvField: %d groups do not divide %d hidden channels", opts.Groups, hidden)
	}
	if opts.Act != ActTanh && opts.Act != ActReLU {
		return nil, fmt.Errorf("layers: NewConvField: unknown activation %v", opts.Act)
	}
	if opts.Eps < 0 || math.IsNaN(opts.Eps) || math.IsInf(opts.Eps, 0) {
		return nil, fmt.Errorf("layers: NewConvField: group-norm epsilon %v", opts.Eps)
	}
	if opts.Eps == 0 {
		opts.Eps = 1e-5
	}
	f := &ConvField{c: channels, h: height, w: width, hw: height * width, ch: hidden, cin: channels, opt: opts}
	if opts.TimeInput {
		f.cin++
	}
	f.offB1 = f.ch * f.cin * 9
	f.offGamma = f.offB1 + f.ch
	f.offBeta = f.offGamma
	f.offK2 = f.offGamma
	if opts.Groups > 0 {
		f.offBeta = f.offGamma + f.ch
		f.offK2 = f.offBeta + f.ch
	}
	f.offB2 = f.offK2 + f.c*f.ch*9
	f.np = f.offB2 + f.c
	f.colLen = max(f.cin, f.ch) * 9 * f.hw
	return f, nil
}

// Dim returns C·H·W, the number of values of one sample.
func (f *ConvField) Dim() int { return f.c * f.hw }

// Channels returns C, the channels of the state.
func (f *ConvField) Channels() int { return f.c }

// Height returns H, the image height.
func (f *ConvField) Height() int { return f.h }

// Width returns W, the image width.
func (f *ConvField) Width() int { return f.w }

// Hidden returns Ch, the channels of the hidden layer.
func (f *ConvField) Hidden() int { return f.ch }

// Options returns the options in effect (Eps filled in).
func (f *ConvField) Options() ConvOptions { return f.opt }

// NumParams returns len(θ) = 9·Ch·Cin + Ch (+ 2·Ch with Groups) + 9·C·Ch + C.
func (f *ConvField) NumParams() int { return f.np }

// Rowwise returns true: sample i of f(t, x) depends on sample i of x alone
// (the group statistics are per sample).
func (f *ConvField) Rowwise() bool { return true }

// Layout returns the parameter tensors in their order in θ: K1
// (Ch×Cin×3×3), b1 (Ch), with Groups γ "gamma" (Ch) and β "beta" (Ch),
// K2 (C×Ch×3×3), b2 (C).
func (f *ConvField) Layout() []ParamBlock {
	l := []ParamBlock{
		{Name: "K1", Offset: 0, Shape: []int{f.ch, f.cin, 3, 3}},
		{Name: "b1", Offset: f.offB1, Shape: []int{f.ch}},
	}
	if f.opt.Groups > 0 {
		l = append(l,
			ParamBlock{Name: "gamma", Offset: f.offGamma, Shape: []int{f.ch}},
			ParamBlock{Name: "beta", Offset: f.offBeta, Shape: []int{f.ch}})
	}
	return append(l,
		ParamBlock{Name: "K2", Offset: f.offK2, Shape: []int{f.c, f.ch, 3, 3}},
		ParamBlock{Name: "b2", Offset: f.offB2, Shape: []int{f.c}})
}

// Init writes initial parameters into theta: with tanh, K1 ~ U(±√(6/(9·Cin
// + 9·Ch))) (Glorot); with ReLU, K1 ~ U(±√(6/(9·Cin))) (He); K2 ~
// U(±√(6/(9·Ch + 9·C))) (Glorot), biases and β zero, γ one. A nil rng uses
// the top-level generator of math/rand/v2. A θ of the wrong length is an
// error.
func (f *ConvField) Init(theta []float64, rng *rand.Rand) error {
	if len(theta) != f.np {
		return fmt.Errorf("layers: ConvField.Init: θ of length %d, want %d", len(theta), f.np)
	}
	lim1 := math.Sqrt(6 / float64(9*(f.cin+f.ch)))
	if f.opt.Act == ActReLU {
		lim1 = math.Sqrt(6 / float64(9*f.cin))
	}
	fillUniform(theta[:f.offB1], lim1, rng)
	clear(theta[f.offB1:f.offK2])
	for i := f.offGamma; i < f.offBeta; i++ {
		theta[i] = 1
	}
	fillUniform(theta[f.offK2:f.offB2], math.Sqrt(6/float64(9*(f.ch+f.c))), rng)
	clear(theta[f.offB2:])
	return nil
}

func (f *ConvField) kernels(p []float64) (k1, k2 blas64.General) {
	return rowMajor(f.ch, f.cin*9, p[:f.offB1]), rowMajor(f.c, f.ch*9, p[f.offK2:f.offB2])
}

// conv1 writes z = K1 ⋆ [x; t?] + b1 (Ch×HW) for one sample x, leaving the
// im2col matrix of the input (Cin·9×HW) in col.
func (f *ConvField) conv1(z, col []float64, t float64, x, theta []float64) {
	im2col3(col, x, f.c, f.h, f.w)
	if f.opt.TimeInput {
		im2colConst(col[f.c*9*f.hw:f.cin*9*f.hw], t, f.h, f.w)
	}
	fillChannels(z, theta[f.offB1:f.offGamma], f.hw)
	k1, _ := f.kernels(theta)
	tiledGemm(blas.NoTrans, blas.NoTrans, 1, k1, rowMajor(f.cin*9, f.hw, col), 1, rowMajor(f.ch, f.hw, z))
}

// normAct overwrites z with the normalised N(z) (z - μ)/√(v+ε) when
// Groups > 0, storing the groups' 1/√(v+ε) in rstd, and writes
// a = σ(γ N + β) (a = σ(z) without groups). a may be z.
func (f *ConvField) normAct(z, a, rstd, theta []float64) {
	hw := f.hw
	if g := f.opt.Groups; g > 0 {
		n := len(z) / g
		for i := range g {
			seg := z[i*n : (i+1)*n]
			var mu float64
			for _, v := range seg {
				mu += v
			}
			mu /= float64(n)
			var vr float64
			for _, v := range seg {
				vr += (v - mu) * (v - mu)
			}
			rs := 1 / math.Sqrt(vr/float64(n)+f.opt.Eps)
			if rstd != nil {
				rstd[i] = rs
			}
			for j, v := range seg {
				seg[j] = (v - mu) * rs
			}
		}
		gamma, beta := theta[f.offGamma:f.offBeta], theta[f.offBeta:f.offK2]
		for c := range f.ch {
			gc, bc := gamma[c], beta[c]
			zc, ac := z[c*hw:(c+1)*hw], a[c*hw:(c+1)*hw]
			for j, v := range zc {
				ac[j] = gc*v + bc
			}
		}
		f.activate(a, a)
		return
	}
	f.activate(a, z)
}

// activate writes a = σ(p); a may be p.
func (f *ConvField) activate(a, p []float64) {
	p = p[:len(a)]
	if f.opt.Act == ActReLU {
		for i, v := range p {
			a[i] = max(v, 0)
		}
		return
	}
	for i, v := range p {
		a[i] = math.Tanh(v)
	}
}

// scaleByDeriv multiplies d by σ'(p) given a = σ(p).
func (f *ConvField) scaleByDeriv(d, a []float64) {
	a = a[:len(d)]
	if f.opt.Act == ActReLU {
		for i, v := range a {
			if v <= 0 {
				d[i] = 0
			}
		}
		return
	}
	for i, v := range a {
		d[i] *= 1 - v*v
	}
}

// normBack overwrites d with rstd (d - mean(d) - N mean(d·N)) per group,
// where N is the normalised hidden layer: the product of the Jacobian of
// the normalisation (symmetric) with d.
func (f *ConvField) normBack(d, nrm, rstd []float64) {
	g := f.opt.Groups
	n := len(d) / g
	for i := range g {
		ds, ns := d[i*n:(i+1)*n], nrm[i*n:(i+1)*n]
		var m1, m2 float64
		for j, v := range ds {
			m1 += v
			m2 += v * ns[j]
		}
		m1 /= float64(n)
		m2 /= float64(n)
		rs := rstd[i]
		for j, v := range ds {
			ds[j] = rs * (v - m1 - ns[j]*m2)
		}
	}
}

func (f *ConvField) check(x, theta []float64) error {
	return checkFieldState("ConvField", f.Dim(), f.np, x, theta)
}

// Eval writes f(t, x; θ) = K2 ⋆ σ(N(K1 ⋆ [x; t?] + b1)) + b2, sample by
// sample, into dst. It returns an error unless len(x) is a multiple of
// Dim(), len(dst) = len(x) and len(theta) = NumParams(). dst may be x.
func (f *ConvField) Eval(dst []float64, t float64, x, theta []float64) error {
	if err := f.check(x, theta); err != nil {
		return err
	}
	if err := checkFieldLen("ConvField.Eval", "dst", dst, len(x), false); err != nil {
		return err
	}
	dim, zl := f.Dim(), f.ch*f.hw
	rows := len(x) / dim
	if rows == 0 {
		return nil
	}
	buf := f.scratch.get(f.colLen + zl)
	defer f.scratch.put(buf)
	col, z := (*buf)[:f.colLen], (*buf)[f.colLen:]
	_, k2 := f.kernels(theta)
	b2 := theta[f.offB2:]
	for r := range rows {
		f.conv1(z, col, t, x[r*dim:(r+1)*dim], theta)
		f.normAct(z, z, nil, theta)
		im2col3(col, z, f.ch, f.h, f.w)
		out := dst[r*dim : (r+1)*dim]
		fillChannels(out, b2, f.hw)
		tiledGemm(blas.NoTrans, blas.NoTrans, 1, k2, rowMajor(f.ch*9, f.hw, col), 1, rowMajor(f.c, f.hw, out))
	}
	return nil
}

// VJP overwrites xbar with (∂f/∂x)ᵀ v and adds (∂f/∂θ)ᵀ v into thetabar,
// sample by sample: with u the input, z = K1 ⋆ u + b1, a = σ(N(z)),
// ā = K2ᵀ ⋆ v (col2im of K2ᵀ V), p̄ = ā ⊙ σ', z̄ = p̄ (or, with groups,
// γ̄ += Σ p̄ N, β̄ += Σ p̄ and z̄ = rstd (γp̄ - mean(γp̄) - N mean(γp̄ N)) per
// group), it adds K2 += V col(a)ᵀ, b2 += Σ v, K1 += Z̄ col(u)ᵀ, b1 += Σ z̄,
// and xbar = K1ᵀ ⋆ z̄ restricted to the x channels. t is not
// differentiated. Either destination may be nil. It returns an error on
// lengths that do not match: len(v) = len(xbar) = len(x), len(thetabar) =
// len(theta) = NumParams(). xbar may be x or v.
func (f *ConvField) VJP(xbar, thetabar []float64, t float64, x, theta, v []float64) error {
	if err := f.check(x, theta); err != nil {
		return err
	}
	const name = "ConvField.VJP"
	if err := checkFieldLen(name, "v", v, len(x), false); err != nil {
		return err
	}
	if err := checkFieldLen(name, "xbar", xbar, len(x), true); err != nil {
		return err
	}
	if err := checkFieldLen(name, "thetabar", thetabar, f.np, true); err != nil {
		return err
	}
	dim, zl := f.Dim(), f.ch*f.hw
	rows := len(x) / dim
	if rows == 0 || (xbar == nil && thetabar == nil) {
		return nil
	}
	col1Len, col2Len := f.cin*9*f.hw, f.ch*9*f.hw
	buf := f.scratch.get(col1Len + col2Len + 3*zl + f.opt.Groups)
	defer f.scratch.put(buf)
	s := *buf
	col1, s := s[:col1Len], s[col1Len:]
	col2, s := s[:col2Len], s[col2Len:]
	z, s := s[:zl], s[zl:]
	a, s := s[:zl], s[zl:]
	da, rstd := s[:zl], s[zl:]
	k1, k2 := f.kernels(theta)
	k1x := blas64.General{Rows: f.ch, Cols: f.c * 9, Stride: f.cin * 9, Data: k1.Data}
	for r := range rows {
		xr, vr := x[r*dim:(r+1)*dim], v[r*dim:(r+1)*dim]
		f.conv1(z, col1, t, xr, theta)
		f.normAct(z, a, rstd, theta)
		im2col3(col2, a, f.ch, f.h, f.w)
		vm := rowMajor(f.c, f.hw, vr)
		if thetabar != nil {
			_, gk2 := f.kernels(thetabar)
			tiledGemm(blas.NoTrans, blas.Trans, 1, vm, rowMajor(f.ch*9, f.hw, col2), 1, gk2)
			addChannelSums(thetabar[f.offB2:], vr, f.hw)
		}
		// ā = col2im(K2ᵀ V), then p̄ = ā ⊙ σ'.
		tiledGemm(blas.Trans, blas.NoTrans, 1, k2, vm, 0, rowMajor(f.ch*9, f.hw, col2))
		col2im3(da, col2, f.ch, f.h, f.w)
		f.scaleByDeriv(da, a)
		if f.opt.Groups > 0 {
			gamma := theta[f.offGamma:f.offBeta]
			for c := range f.ch {
				dc, nc := da[c*f.hw:(c+1)*f.hw], z[c*f.hw:(c+1)*f.hw]
				if thetabar != nil {
					var sg, sb float64
					for j, dv := range dc {
						sg += dv * nc[j]
						sb += dv
					}
					thetabar[f.offGamma+c] += sg
					thetabar[f.offBeta+c] += sb
				}
				gc := gamma[c]
				for j := range dc {
					dc[j] *= gc
				}
			}
			f.normBack(da, z, rstd)
		}
		dz := rowMajor(f.ch, f.hw, da)
		if thetabar != nil {
			gk1, _ := f.kernels(thetabar)
			tiledGemm(blas.NoTrans, blas.Trans, 1, dz, rowMajor(f.cin*9, f.hw, col1), 1, gk1)
			addChannelSums(thetabar[f.offB1:f.offGamma], da, f.hw)
		}
		if xbar != nil {
			tiledGemm(blas.Trans, blas.NoTrans, 1, k1x, dz, 0, rowMajor(f.c*9, f.hw, col1))
			col2im3(xbar[r*dim:(r+1)*dim], col1, f.c, f.h, f.w)
		}
	}
	return nil
}

// JVP writes (∂f/∂x) xdot + (∂f/∂θ) thetadot into dst, sample by sample:
// ż = K1 ⋆ [ẋ; 0] + K̇1 ⋆ u + ḃ1, Ṅ = rstd (ż - mean(ż) - N mean(ż N))
// per group (Ṅ = ż without groups), ȧ = σ' ⊙ (γṄ + γ̇N + β̇), and dst =
// K2 ⋆ ȧ + K̇2 ⋆ a + ḃ2, where the dotted parameters are the blocks of
// thetadot (nil meaning zero). t is not differentiated. It returns an
// error on lengths that do not match: len(dst) = len(xdot) = len(x),
// len(thetadot) = len(theta) = NumParams(). dst may be x or xdot.
func (f *ConvField) JVP(dst []float64, t float64, x, theta, xdot, thetadot []float64) error {
	if err := f.check(x, theta); err != nil {
		return err
	}
	const name = "ConvField.JVP"
	if err := checkFieldLen(name, "dst", dst, len(x), false); err != nil {
		return err
	}
	if err := checkFieldLen(name, "xdot", xdot, len(x), false); err != nil {
		return err
	}
	if err := checkFieldLen(name, "thetadot", thetadot, f.np, true); err != nil {
		return err
	}
	dim, zl := f.Dim(), f.ch*f.hw
	rows := len(x) / dim
	if rows == 0 {
		return nil
	}
	buf := f.scratch.get(f.colLen + 4*zl + f.opt.Groups)
	defer f.scratch.put(buf)
	s := *buf
	col, s := s[:f.colLen], s[f.colLen:]
	z, s := s[:zl], s[zl:]
	zd, s := s[:zl], s[zl:]
	a, s := s[:zl], s[zl:]
	ad, rstd := s[:zl], s[zl:]
	k1, k2 := f.kernels(theta)
	col1 := rowMajor(f.cin*9, f.hw, col[:f.cin*9*f.hw])
	col2 := rowMajor(f.ch*9, f.hw, col[:f.ch*9*f.hw])
	zdm := rowMajor(f.ch, f.hw, zd)
	for r := range rows {
		xr, xdr := x[r*dim:(r+1)*dim], xdot[r*dim:(r+1)*dim]
		f.conv1(z, col, t, xr, theta)
		beta := 0.0
		if thetadot != nil {
			dk1, _ := f.kernels(thetadot)
			fillChannels(zd, thetadot[f.offB1:f.offGamma], f.hw)
			tiledGemm(blas.NoTrans, blas.NoTrans, 1, dk1, col1, 1, zdm)
			beta = 1
		}
		im2col3(col, xdr, f.c, f.h, f.w)
		if f.opt.TimeInput {
			clear(col[f.c*9*f.hw : f.cin*9*f.hw])
		}
		tiledGemm(blas.NoTrans, blas.NoTrans, 1, k1, col1, beta, zdm)
		f.normAct(z, a, rstd, theta)
		if f.opt.Groups > 0 {
			f.normBack(zd, z, rstd)
			gamma := theta[f.offGamma:f.offBeta]
			for c := range f.ch {
				zc, dc := z[c*f.hw:(c+1)*f.hw], zd[c*f.hw:(c+1)*f.hw]
				gc := gamma[c]
				if thetadot != nil {
					dg, db := thetadot[f.offGamma+c], thetadot[f.offBeta+c]
					for j, nv := range zc {
						dc[j] = gc*dc[j] + dg*nv + db
					}
				} else {
					for j := range dc {
						dc[j] *= gc
					}
				}
			}
		}
		copy(ad, zd)
		f.scaleByDeriv(ad, a)
		out := dst[r*dim : (r+1)*dim]
		om := rowMajor(f.c, f.hw, out)
		beta = 0
		if thetadot != nil {
			_, dk2 := f.kernels(thetadot)
			im2col3(col, a, f.ch, f.h, f.w)
			fillChannels(out, thetadot[f.offB2:], f.hw)
			tiledGemm(blas.NoTrans, blas.NoTrans, 1, dk2, col2, 1, om)
			beta = 1
		}
		im2col3(col, ad, f.ch, f.h, f.w)
		tiledGemm(blas.NoTrans, blas.NoTrans, 1, k2, col2, beta, om)
	}
	return nil
}

// fillChannels sets every value of channel c of dst (len(b) channels of
// hw values) to b[c].
func fillChannels(dst, b []float64, hw int) {
	for c, bc := range b {
		s := dst[c*hw : (c+1)*hw]
		for i := range s {
			s[i] = bc
		}
	}
}

// addChannelSums adds the sum of channel c of x to dst[c].
func addChannelSums(dst, x []float64, hw int) {
	for c := range dst {
		var s float64
		for _, v := range x[c*hw : (c+1)*hw] {
			s += v
		}
		dst[c] += s
	}
}

// im2col3 writes the 3×3, stride 1, padding 1 patches of the nch channels
// of h×w pixels in in: col[((c·3+ky)·3+kx)·h·w + y·w + x] = in[c][y+ky-1][x+kx-1],
// zero outside the image. col is (nch·9)×(h·w), row-major.
func im2col3(col, in []float64, nch, h, w int) {
	hw := h * w
	for c := range nch {
		src := in[c*hw : (c+1)*hw]
		for ky := range 3 {
			for kx := range 3 {
				row := col[((c*3+ky)*3+kx)*hw:][:hw]
				for y := range h {
					seg := row[y*w : (y+1)*w]
					sy := y + ky - 1
					if sy < 0 || sy >= h {
						clear(seg)
						continue
					}
					s := src[sy*w : (sy+1)*w]
					switch kx {
					case 0:
						seg[0] = 0
						copy(seg[1:], s[:w-1])
					case 1:
						copy(seg, s)
					case 2:
						copy(seg[:w-1], s[1:])
						seg[w-1] = 0
					}
				}
			}
		}
	}
}

// im2colConst writes the 9 im2col rows of one channel of h×w pixels all
// equal to v (zero padding) into col.
func im2colConst(col []float64, v float64, h, w int) {
	hw := h * w
	for ky := range 3 {
		for kx := range 3 {
			row := col[(ky*3+kx)*hw:][:hw]
			for y := range h {
				seg := row[y*w : (y+1)*w]
				sy := y + ky - 1
				if sy < 0 || sy >= h {
					clear(seg)
					continue
				}
				for i := range seg {
					seg[i] = v
				}
				switch kx {
				case 0:
					seg[0] = 0
				case 2:
					seg[w-1] = 0
				}
			}
		}
	}
}

// col2im3 is the transpose of im2col3: it overwrites out (nch channels of
// h×w) with the sums of the entries of col at the positions im2col3 reads
// each pixel into.
func col2im3(out, col []float64, nch, h, w int) {
	hw := h * w
	clear(out[:nch*hw])
	for c := range nch {
		dst := out[c*hw : (c+1)*hw]
		for ky := range 3 {
			for kx := range 3 {
				row := col[((c*3+ky)*3+kx)*hw:][:hw]
				for y := range h {
					sy := y + ky - 1
					if sy < 0 || sy >= h {
						continue
					}
					seg, d := row[y*w:(y+1)*w], dst[sy*w:(sy+1)*w]
					switch kx {
					case 0:
						addInto(d[:w-1], seg[1:])
					case 1:
						addInto(d, seg)
					case 2:
						addInto(d[1:], seg[:w-1])
					}
				}
			}
		}
	}
}

// addInto adds s into d (len(s) ≥ len(d)).
func addInto(d, s []float64) {
	s = s[:len(d)]
	for i, v := range s {
		d[i] += v
	}
}
