package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gofde/gofde/conv"
	"github.com/gofde/gofde/internal/scratch"
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
	// Float32 makes Eval and VJP compute in float32: the state, θ and the
	// cotangent are rounded to float32 on the way in and the results
	// widened on the way out, so the solver's states, history sums and
	// gradient accumulators stay float64 while the convolutions, which
	// hold nearly all the arithmetic, run at float32 speed. JVP, a
	// reference for checking, stays float64.
	Float32 bool
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
// Each convolution of a batch runs as a few large matrix products for the
// whole batch (package conv), the VJPs as their transposes.
// A ConvField implements fode.Field,
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
	c64                  *convCore[float64]
	c32                  *convCore[float32] // with Float32
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
	var err error
	if f.c64, err = newConvCore[float64](f); err != nil {
		return nil, fmt.Errorf("layers: NewConvField: %w", err)
	}
	if opts.Float32 {
		if f.c32, err = newConvCore[float32](f); err != nil {
			return nil, fmt.Errorf("layers: NewConvField: %w", err)
		}
	}
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

func (f *ConvField) check(x, theta []float64) error {
	return checkFieldState("ConvField", f.Dim(), f.np, x, theta)
}

// Eval writes f(t, x; θ) = K2 ⋆ σ(N(K1 ⋆ [x; t?] + b1)) + b2 for the batch
// x into dst: each convolution a few matrix products for the whole
// batch. It returns an error unless len(x) is a multiple of Dim(),
// len(dst) = len(x) and len(theta) = NumParams(). dst may be x.
func (f *ConvField) Eval(dst []float64, t float64, x, theta []float64) error {
	if err := f.check(x, theta); err != nil {
		return err
	}
	if err := checkFieldLen("ConvField.Eval", "dst", dst, len(x), false); err != nil {
		return err
	}
	if len(x) == 0 {
		return nil
	}
	if f.c32 != nil {
		return evalIn32(f.c32, &f.c32.pool, dst, t, x, theta)
	}
	return f.c64.eval(dst, t, x, theta)
}

// VJP overwrites xbar with (∂f/∂x)ᵀ v and adds (∂f/∂θ)ᵀ v into thetabar:
// with u the input, z = K1 ⋆ u + b1, a = σ(N(z)), ā = K2ᵀ ⋆ v, p̄ = ā ⊙ σ',
// z̄ = p̄ (or, with groups, γ̄ += Σ p̄ N, β̄ += Σ p̄ and z̄ = rstd (γp̄ -
// mean(γp̄) - N mean(γp̄ N)) per group), it adds K2 += V ⋆ᵀ a, b2 += Σ v,
// K1 += Z̄ ⋆ᵀ u, b1 += Σ z̄, and xbar = K1ᵀ ⋆ z̄ restricted to the x
// channels. t is not differentiated. Either destination may be nil. It
// returns an error on lengths that do not match: len(v) = len(xbar) =
// len(x), len(thetabar) = len(theta) = NumParams(). xbar may be x or v.
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
	if len(x) == 0 || (xbar == nil && thetabar == nil) {
		return nil
	}
	if f.c32 != nil {
		return vjpIn32(f.c32, &f.c32.pool, xbar, thetabar, t, x, theta, v)
	}
	return f.c64.vjp(xbar, thetabar, t, x, theta, v)
}

// JVP writes (∂f/∂x) xdot + (∂f/∂θ) thetadot into dst: ż = K1 ⋆ [ẋ; 0] +
// K̇1 ⋆ u + ḃ1, Ṅ = rstd (ż - mean(ż) - N mean(ż N)) per group (Ṅ = ż
// without groups), ȧ = σ' ⊙ (γṄ + γ̇N + β̇), and dst = K2 ⋆ ȧ + K̇2 ⋆ a +
// ḃ2, where the dotted parameters are the blocks of thetadot (nil meaning
// zero). t is not differentiated. It always computes in float64 (it
// serves as a reference). It returns an error on lengths that do not
// match: len(dst) = len(xdot) = len(x), len(thetadot) = len(theta) =
// NumParams(). dst may be x or xdot.
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
	if len(x) == 0 {
		return nil
	}
	return f.c64.jvp(dst, t, x, theta, xdot, thetadot)
}

// convCore is the arithmetic of a ConvField in one float type: the two
// batched convolutions and the pointwise layers between them.
type convCore[T conv.Float] struct {
	f            *ConvField
	conv1, conv2 *conv.Conv[T]
	pool         scratch.Pool[T]
}

func newConvCore[T conv.Float](f *ConvField) (*convCore[T], error) {
	// The solvers split a batch across goroutines themselves (the field is
	// row-wise), so each call runs on its caller's goroutine.
	c1, err := conv.New[T](conv.Geometry{InC: f.cin, H: f.h, W: f.w, OutC: f.ch, Kernel: 3, Stride: 1, Padding: 1}, 1)
	if err != nil {
		return nil, err
	}
	c2, err := conv.New[T](conv.Geometry{InC: f.ch, H: f.h, W: f.w, OutC: f.c, Kernel: 3, Stride: 1, Padding: 1}, 1)
	if err != nil {
		return nil, err
	}
	return &convCore[T]{f: f, conv1: c1, conv2: c2}, nil
}

// params splits θ into K1, b1, γ, β, K2, b2 (γ, β empty without groups).
func (c *convCore[T]) params(theta []T) (k1, b1, gamma, beta, k2, b2 []T) {
	f := c.f
	return theta[:f.offB1], theta[f.offB1:f.offGamma], theta[f.offGamma:f.offBeta], theta[f.offBeta:f.offK2], theta[f.offK2:f.offB2], theta[f.offB2:]
}

// input returns u = x, or with TimeInput x with a channel of t appended to
// every sample, written into buf.
func (c *convCore[T]) input(buf []T, t float64, x []T) []T {
	f := c.f
	if !f.opt.TimeInput {
		return x
	}
	rows, dim, ud := len(x)/f.Dim(), f.Dim(), f.cin*f.hw
	u := buf[:rows*ud]
	for r := range rows {
		copy(u[r*ud:], x[r*dim:(r+1)*dim])
		tc := u[r*ud+dim : (r+1)*ud]
		for i := range tc {
			tc[i] = T(t)
		}
	}
	return u
}

func (c *convCore[T]) eval(dst []T, t float64, x, theta []T) error {
	f := c.f
	rows, zl := len(x)/f.Dim(), f.ch*f.hw
	buf := c.pool.Get(rows * (zl + f.cin*f.hw))
	defer c.pool.Put(buf)
	z, ubuf := (*buf)[:rows*zl], (*buf)[rows*zl:]
	k1, b1, _, _, k2, b2 := c.params(theta)
	if err := c.conv1.Forward(z, c.input(ubuf, t, x), k1, b1); err != nil {
		return err
	}
	for r := range rows {
		c.normAct(z[r*zl:(r+1)*zl], z[r*zl:(r+1)*zl], nil, theta)
	}
	return c.conv2.Forward(dst, z, k2, b2)
}

func (c *convCore[T]) vjp(xbar, thetabar []T, t float64, x, theta, v []T) error {
	f := c.f
	rows, zl, ul, g := len(x)/f.Dim(), f.ch*f.hw, f.cin*f.hw, f.opt.Groups
	cl := c.conv1.KeepLen(rows)
	buf := c.pool.Get(rows*(3*zl+2*ul+g) + cl)
	defer c.pool.Put(buf)
	s := *buf
	planes, s := s[:cl], s[cl:]
	z, s := s[:rows*zl], s[rows*zl:]
	a, s := s[:rows*zl], s[rows*zl:]
	da, s := s[:rows*zl], s[rows*zl:]
	ubuf, s := s[:rows*ul], s[rows*ul:]
	du, rstd := s[:rows*ul], s[rows*ul:]
	k1, b1, gamma, _, k2, _ := c.params(theta)
	u := c.input(ubuf, t, x)
	// The first convolution's input planes serve its kernel gradient.
	if err := c.conv1.ForwardKeep(z, planes, u, k1, b1); err != nil {
		return err
	}
	for r := range rows {
		c.normAct(z[r*zl:(r+1)*zl], a[r*zl:(r+1)*zl], rstd[r*g:(r+1)*g], theta)
	}
	var gk1, gb1, gk2, gb2 []T
	if thetabar != nil {
		gk1, gb1, _, _, gk2, gb2 = c.params(thetabar)
	}
	if err := c.conv2.Backward(da, gk2, gb2, a, k2, nil, v); err != nil {
		return err
	}
	scaleByDeriv(f.opt.Act, da, a)
	if g > 0 {
		for r := range rows {
			dr, nr := da[r*zl:(r+1)*zl], z[r*zl:(r+1)*zl]
			for ch := range f.ch {
				dc, nc := dr[ch*f.hw:(ch+1)*f.hw], nr[ch*f.hw:(ch+1)*f.hw]
				if thetabar != nil {
					var sg, sb T
					for j, dv := range dc {
						sg += dv * nc[j]
						sb += dv
					}
					thetabar[f.offGamma+ch] += sg
					thetabar[f.offBeta+ch] += sb
				}
				gc := gamma[ch]
				for j := range dc {
					dc[j] *= gc
				}
			}
			normBack(dr, nr, rstd[r*g:(r+1)*g], g)
		}
	}
	dx := xbar
	if f.opt.TimeInput && xbar != nil {
		dx = du
	}
	if err := c.conv1.BackwardFrom(dx, gk1, gb1, planes, k1, nil, da); err != nil {
		return err
	}
	if f.opt.TimeInput && xbar != nil {
		dim := f.Dim()
		for r := range rows {
			copy(xbar[r*dim:(r+1)*dim], du[r*ul:])
		}
	}
	return nil
}

func (c *convCore[T]) jvp(dst []T, t float64, x, theta, xdot, thetadot []T) error {
	f := c.f
	rows, zl, ul, g := len(x)/f.Dim(), f.ch*f.hw, f.cin*f.hw, f.opt.Groups
	buf := c.pool.Get(rows * (4*zl + 2*ul + f.Dim() + g))
	defer c.pool.Put(buf)
	s := *buf
	z, s := s[:rows*zl], s[rows*zl:]
	zd, s := s[:rows*zl], s[rows*zl:]
	a, s := s[:rows*zl], s[rows*zl:]
	tmp, s := s[:rows*zl], s[rows*zl:]
	ubuf, s := s[:rows*ul], s[rows*ul:]
	udot, s := s[:rows*ul], s[rows*ul:]
	out, rstd := s[:rows*f.Dim()], s[rows*f.Dim():]
	k1, b1, gamma, _, k2, _ := c.params(theta)
	u := c.input(ubuf, t, x)
	if err := c.conv1.Forward(z, u, k1, b1); err != nil {
		return err
	}
	// u̇ = [ẋ; 0]: the time channel is not differentiated.
	ud := c.input(udot, 0, xdot)
	if err := c.conv1.Forward(zd, ud, k1, nil); err != nil {
		return err
	}
	if thetadot != nil {
		dk1, db1, _, _, _, _ := c.params(thetadot)
		if err := c.conv1.Forward(tmp, u, dk1, db1); err != nil {
			return err
		}
		addTo(zd, tmp)
	}
	for r := range rows {
		zr, zdr := z[r*zl:(r+1)*zl], zd[r*zl:(r+1)*zl]
		c.normAct(zr, a[r*zl:(r+1)*zl], rstd[r*g:(r+1)*g], theta)
		if g == 0 {
			continue
		}
		normBack(zdr, zr, rstd[r*g:(r+1)*g], g)
		for ch := range f.ch {
			zc, dc := zr[ch*f.hw:(ch+1)*f.hw], zdr[ch*f.hw:(ch+1)*f.hw]
			gc := gamma[ch]
			var dg, db T
			if thetadot != nil {
				dg, db = thetadot[f.offGamma+ch], thetadot[f.offBeta+ch]
			}
			for j, nv := range zc {
				dc[j] = gc*dc[j] + dg*nv + db
			}
		}
	}
	scaleByDeriv(f.opt.Act, zd, a)
	if thetadot != nil {
		_, _, _, _, dk2, db2 := c.params(thetadot)
		if err := c.conv2.Forward(out, a, dk2, db2); err != nil {
			return err
		}
	}
	if err := c.conv2.Forward(dst, zd, k2, nil); err != nil {
		return err
	}
	if thetadot != nil {
		addTo(dst, out)
	}
	return nil
}

// convert copies src into dst, converting the element type.
func convert[D, S conv.Float](dst []D, src []S) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = D(v)
	}
}

func addTo[T conv.Float](dst, src []T) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// normAct overwrites z with the normalised N(z) = (z - μ)/√(v+ε) when
// Groups > 0, storing the groups' 1/√(v+ε) in rstd, and writes a =
// σ(γ N + β) (a = σ(z) without groups), for one sample. a may be z.
func (c *convCore[T]) normAct(z, a, rstd, theta []T) {
	f := c.f
	hw := f.hw
	g := f.opt.Groups
	if g == 0 {
		activate(f.opt.Act, a, z)
		return
	}
	n := len(z) / g
	for i := range g {
		seg := z[i*n : (i+1)*n]
		var mu float64
		for _, v := range seg {
			mu += float64(v)
		}
		mu /= float64(n)
		var vr float64
		for _, v := range seg {
			d := float64(v) - mu
			vr += d * d
		}
		rs := 1 / math.Sqrt(vr/float64(n)+f.opt.Eps)
		if rstd != nil {
			rstd[i] = T(rs)
		}
		for j, v := range seg {
			seg[j] = T((float64(v) - mu) * rs)
		}
	}
	_, _, gamma, beta, _, _ := c.params(theta)
	for ch := range f.ch {
		gc, bc := gamma[ch], beta[ch]
		zc, ac := z[ch*hw:(ch+1)*hw], a[ch*hw:(ch+1)*hw]
		for j, v := range zc {
			ac[j] = gc*v + bc
		}
	}
	activate(f.opt.Act, a, a)
}

// activate writes a = σ(p); a may be p.
func activate[T conv.Float](act Activation, a, p []T) {
	p = p[:len(a)]
	if act == ActReLU {
		for i, v := range p {
			a[i] = max(v, 0)
		}
		return
	}
	tanhTo(a, p)
}

// scaleByDeriv multiplies d by σ'(p) given a = σ(p).
func scaleByDeriv[T conv.Float](act Activation, d, a []T) {
	a = a[:len(d)]
	if act == ActReLU {
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

// normBack overwrites d with rstd (d - mean(d) - N mean(d·N)) per group of
// one sample, where N is the normalised hidden layer: the product of the
// Jacobian of the normalisation (symmetric) with d.
func normBack[T conv.Float](d, nrm, rstd []T, g int) {
	n := len(d) / g
	for i := range g {
		ds, ns := d[i*n:(i+1)*n], nrm[i*n:(i+1)*n]
		var m1, m2 float64
		for j, v := range ds {
			m1 += float64(v)
			m2 += float64(v) * float64(ns[j])
		}
		m1 /= float64(n)
		m2 /= float64(n)
		rs := float64(rstd[i])
		for j, v := range ds {
			ds[j] = T(rs * (float64(v) - m1 - float64(ns[j])*m2))
		}
	}
}
