// Package conv holds batched 2-D convolution and max-pooling kernels on
// NCHW buffers, in float32 or float64, with their gradients. They are the
// arithmetic behind the Gorgonia convolution and pooling ops of package ops
// and behind the convolutional vector field of package layers; the package
// itself does not depend on Gorgonia.
//
// A convolution of a batch runs as a few large matrix products for the
// whole batch (or for each of a few slices of it, one per worker), not
// small products per image, and without an im2col matrix. The images are
// first copied into zero-padded channel planes in which every kernel tap
// is a constant shift: with stride S > 1 the planes are the S² phases of
// the padded image (space-to-depth), which turns the strided convolution
// into a stride-1 convolution with a ⌈K/S⌉×⌈K/S⌉ kernel on S²·C
// channels. The output of every image is then the sum over the taps of
// (out × channels) kernel slices times shifted views of the planes, each a
// plain matrix product on contiguous rows; the input gradient is the same
// sum with transposed slices and opposite shifts. Scratch space comes from
// pools, so steady-state calls allocate nothing.
package conv

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gofde/gofde/internal/gemm"
	"github.com/gofde/gofde/internal/scratch"
)

// Float is the element type of the kernels.
type Float interface{ float32 | float64 }

// maxSize bounds every dimension product the package allocates for
// (2^40 elements): beyond it the sizes are a mistake, not a model.
const maxSize = 1 << 40

// Geometry describes a 2-D convolution with a square kernel on images of
// InC channels of H×W pixels: OutC output channels, a Kernel×Kernel
// kernel, the given Stride and zero Padding on every side.
type Geometry struct {
	InC, H, W                     int
	OutC, Kernel, Stride, Padding int
}

// OutH returns the output height (H + 2·Padding - Kernel)/Stride + 1.
func (g Geometry) OutH() int { return (g.H+2*g.Padding-g.Kernel)/g.Stride + 1 }

// OutW returns the output width (W + 2·Padding - Kernel)/Stride + 1.
func (g Geometry) OutW() int { return (g.W+2*g.Padding-g.Kernel)/g.Stride + 1 }

// InSize returns InC·H·W, the values of one input image.
func (g Geometry) InSize() int { return g.InC * g.H * g.W }

// OutSize returns OutC·OutH·OutW, the values of one output image.
func (g Geometry) OutSize() int { return g.OutC * g.OutH() * g.OutW() }

// KernelSize returns OutC·InC·Kernel², the values of the kernel tensor
// (OutC × InC × Kernel × Kernel, row-major).
func (g Geometry) KernelSize() int { return g.OutC * g.InC * g.Kernel * g.Kernel }

// Validate reports whether the geometry is usable: positive channels,
// sizes, kernel and stride, a non-negative padding smaller than the
// kernel, a kernel that fits the padded image, and sizes below 2^40.
func (g Geometry) Validate() error {
	switch {
	case g.InC < 1 || g.H < 1 || g.W < 1 || g.OutC < 1:
		return fmt.Errorf("conv: %d channels of %d×%d to %d channels: all must be at least 1", g.InC, g.H, g.W, g.OutC)
	case g.Kernel < 1 || g.Stride < 1 || g.Padding < 0 || g.Padding >= g.Kernel:
		return fmt.Errorf("conv: kernel %d, stride %d, padding %d: want kernel, stride ≥ 1 and 0 ≤ padding < kernel", g.Kernel, g.Stride, g.Padding)
	case g.H+2*g.Padding < g.Kernel || g.W+2*g.Padding < g.Kernel:
		return fmt.Errorf("conv: a %d×%d kernel does not fit a %d×%d image padded by %d", g.Kernel, g.Kernel, g.H, g.W, g.Padding)
	}
	if !fits(g.InC, g.H, g.W) || !fits(g.OutC, g.InC, g.Kernel, g.Kernel) || !fits(g.InC, g.Kernel, g.Kernel, g.OutH(), g.OutW()) {
		return errors.New("conv: sizes beyond 2^40 values")
	}
	return nil
}

// fits reports whether the product of the factors stays below maxSize.
func fits(f ...int) bool {
	p := 1
	for _, v := range f {
		if v < 0 || (v > 0 && p > maxSize/v) {
			return false
		}
		p *= v
	}
	return p <= maxSize
}

// Conv is a convolution of one Geometry on batches of any size. Its
// methods are safe for concurrent use; each call takes its scratch space
// from a pool.
type Conv[T Float] struct {
	g       Geometry
	lay     layout
	workers int
	relu    bool
	// Two pools: kernel-sized buffers and per-part working space, each
	// by size class, so that no size displaces another and steady-state
	// calls allocate nothing.
	kpool, pool scratch.Pool[T]
}

// Option configures a Conv.
type Option func(*options)

type options struct{ relu bool }

// WithReLU fuses a ReLU into the convolution: Forward writes
// max(x ⋆ kernel + bias, 0), and Backward, given that output, passes the
// cotangent only where it is positive. It saves the separate passes of an
// activation over the output, forward and backward.
func WithReLU() Option { return func(o *options) { o.relu = true } }

// New returns a convolution for g that splits a batch across up to
// workers goroutines (0 means GOMAXPROCS; 1 runs on the caller's
// goroutine, for callers that parallelise themselves).
func New[T Float](g Geometry, workers int, opts ...Option) (*Conv[T], error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if workers < 0 {
		return nil, fmt.Errorf("conv: %d workers", workers)
	}
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return &Conv[T]{g: g, lay: newLayout(g), workers: workers, relu: o.relu}, nil
}

// ReLU reports whether the convolution has a fused ReLU (WithReLU).
func (c *Conv[T]) ReLU() bool { return c.relu }

// Geometry returns the convolution's geometry.
func (c *Conv[T]) Geometry() Geometry { return c.g }

// sized is a buffer to check: it must hold n values, or be nil when
// nilOK.
type sized[T Float] struct {
	name  string
	s     []T
	n     int
	nilOK bool
}

func (o sized[T]) check() error {
	if o.s == nil {
		if o.nilOK {
			return nil
		}
		return fmt.Errorf("conv: %s is missing", o.name)
	}
	if len(o.s) != o.n {
		return fmt.Errorf("conv: %s of %d values, want %d", o.name, len(o.s), o.n)
	}
	return nil
}

// parts splits n images into at most c.workers contiguous slices.
func (c *Conv[T]) parts(n int) int { return max(1, min(c.workers, n)) }

// span returns the images [n0, n1) of part i of p and the offset of their
// planes in a keep buffer.
func (c *Conv[T]) span(n, p, i int) (n0, n1, off int) {
	n0, n1 = i*n/p, (i+1)*n/p
	return n0, n1, c.lay.cp * (n0*c.lay.is + i*c.lay.margin)
}

// Forward writes y = x ⋆ kernel + bias for a batch x (images of InC×H×W,
// NCHW) into y (OutC×OutH×OutW each); kernel is OutC×InC×K×K row-major,
// bias has OutC values or is nil.
func (c *Conv[T]) Forward(y, x, kernel, bias []T) error {
	return c.ForwardKeep(y, nil, x, kernel, bias)
}

// KeepLen returns the number of values of the padded input planes of a
// batch of n images, the length of the keep buffer of ForwardKeep.
func (c *Conv[T]) KeepLen(n int) int {
	p := c.parts(n)
	_, _, off := c.span(n, p, p)
	return off
}

// ForwardKeep is Forward that also leaves the batch's padded input planes
// in keep (KeepLen(batch) values; nil keeps nothing), so that
// BackwardFrom can compute the kernel gradient without forming them
// again.
func (c *Conv[T]) ForwardKeep(y, keep, x, kernel, bias []T) error {
	g := c.g
	if len(x) == 0 || len(x)%g.InSize() != 0 {
		return fmt.Errorf("conv: input of %d values is not a batch of images of %d", len(x), g.InSize())
	}
	n := len(x) / g.InSize()
	for _, o := range []sized[T]{{"kernel", kernel, g.KernelSize(), false}, {"bias", bias, g.OutC, true},
		{"output", y, n * g.OutSize(), false}, {"keep buffer", keep, c.KeepLen(n), true}} {
		if err := o.check(); err != nil {
			return err
		}
	}
	wp := c.kpool.Get(c.lay.kernelLen(g))
	defer c.kpool.Put(wp)
	toTaps(c.lay, *wp, kernel)
	a := pass[T]{y: y, keep: keep, x: x, wp: *wp, bias: bias}
	c.run(n, false, &a)
	return nil
}

// Backward computes the gradients of a Forward pass from the output
// cotangent dy (a batch of OutC×OutH×OutW images): it ADDS the kernel
// gradient into dkernel and the bias gradient into dbias, and OVERWRITES
// dx with the input gradient. Any of dx, dkernel and dbias may be nil; x,
// the forward input, is needed only for dkernel and kernel only for dx;
// y, the forward output, only with a fused ReLU (nil otherwise).
func (c *Conv[T]) Backward(dx, dkernel, dbias, x, kernel, y, dy []T) error {
	return c.backward(dx, dkernel, dbias, x, nil, kernel, y, dy)
}

// BackwardFrom is Backward with the forward input's padded planes, as
// ForwardKeep left them in keep, in place of the input itself.
func (c *Conv[T]) BackwardFrom(dx, dkernel, dbias, keep, kernel, y, dy []T) error {
	if keep == nil && dkernel != nil {
		return fmt.Errorf("conv: no kept input planes for the kernel gradient")
	}
	return c.backward(dx, dkernel, dbias, nil, keep, kernel, y, dy)
}

func (c *Conv[T]) backward(dx, dkernel, dbias, x, keep, kernel, y, dy []T) error {
	g := c.g
	if len(dy) == 0 || len(dy)%g.OutSize() != 0 {
		return fmt.Errorf("conv: output cotangent of %d values is not a batch of images of %d", len(dy), g.OutSize())
	}
	n := len(dy) / g.OutSize()
	for _, o := range []sized[T]{
		{"kernel gradient", dkernel, g.KernelSize(), true}, {"bias gradient", dbias, g.OutC, true},
		{"input gradient", dx, n * g.InSize(), true},
		{"input", x, n * g.InSize(), dkernel == nil || keep != nil}, {"kernel", kernel, g.KernelSize(), dx == nil},
		{"keep buffer", keep, c.KeepLen(n), true},
		{"output (for the fused ReLU)", y, len(dy), !c.relu},
	} {
		if err := o.check(); err != nil {
			return err
		}
	}
	if !c.relu {
		y = nil
	}
	p := c.parts(n)
	kl := c.lay.kernelLen(g)
	// One buffer: the tap-major kernel (for dx), then each part's own
	// tap-major kernel gradient and bias gradient, summed in at the end.
	size := 0
	if dx != nil {
		size += kl
	}
	if dkernel != nil {
		size += p * kl
	}
	if dbias != nil {
		size += p * g.OutC
	}
	a := pass[T]{dx: dx, x: x, keep: keep, y: y, dy: dy}
	if size > 0 {
		buf := c.kpool.Get(size)
		defer c.kpool.Put(buf)
		s := *buf
		if dx != nil {
			a.wp, s = s[:kl], s[kl:]
			toTaps(c.lay, a.wp, kernel)
		}
		if dkernel != nil {
			a.dwp, s = s[:p*kl], s[p*kl:]
		}
		if dbias != nil {
			a.dbp = s[:p*g.OutC]
		}
	}
	c.run(n, true, &a)
	for part := range p {
		if dkernel != nil {
			addTaps(c.lay, dkernel, a.dwp[part*kl:(part+1)*kl])
		}
		if dbias != nil {
			addTo(dbias, a.dbp[part*g.OutC:(part+1)*g.OutC])
		}
	}
	return nil
}

// forwardPart computes part `part` of p of a Forward pass over n images:
// the output planes are the sum over the kernel taps of the tap's
// (OutC × channels) kernel slice times the input planes shifted by the
// tap's offset.
func (c *Conv[T]) forwardPart(a *pass[T], part, p, n int) {
	g, l := c.g, c.lay
	n0, n1, off := c.span(n, p, part)
	m := n1 - n0
	q, pl := l.outLen(m), l.planeLen(m)
	size := g.OutC * q
	if a.keep == nil {
		size += l.cp * pl
	}
	buf := c.pool.Get(size)
	defer c.pool.Put(buf)
	yp := (*buf)[:g.OutC*q]
	planes := (*buf)[g.OutC*q:]
	if a.keep != nil {
		planes = a.keep[off:][:l.cp*pl]
	}
	toPlanes(l, planes, a.x[n0*g.InSize():n1*g.InSize()], g, m)
	gemm.Shifted(false, g.OutC, q, l.cp, a.wp, l.taps()*l.cp, l.cp, planes, pl, l.shifts, 0, yp, q)
	scatter(l, a.y[n0*g.OutSize():n1*g.OutSize()], yp, a.bias, c.relu, g, m)
}

// wideTaps is the number of input planes from which the kernel gradient
// is computed tap by tap rather than in one product with copies of the
// shifted planes: the width of the products' micro-tiles.
const wideTaps = 32

// backwardPart computes the gradients of part `part` of p of a Backward
// pass over n images, writing its kernel and bias gradients into its own
// slots of a.dwp and a.dbp.
func (c *Conv[T]) backwardPart(a *pass[T], part, p, n int) {
	g, l := c.g, c.lay
	n0, n1, off := c.span(n, p, part)
	m := n1 - n0
	q, pl, mg := l.outLen(m), l.planeLen(m), l.margin
	kw := l.taps() * l.cp
	// The cotangent planes carry a margin of zeros on both sides, so that
	// every shift of the input gradient reads inside them.
	dl := q + 2*mg
	work := 0
	if a.dwp != nil && a.keep == nil {
		work = l.cp * pl
	}
	if a.dwp != nil && l.cp < wideTaps {
		work += kw * q
	}
	if a.dx != nil {
		work = max(work, l.cp*pl)
	}
	dy := a.dy[n0*g.OutSize() : n1*g.OutSize()]
	if a.y != nil {
		work = max(work, len(dy))
	}
	buf := c.pool.Get(g.OutC*dl + work)
	defer c.pool.Put(buf)
	dyp, s := (*buf)[:g.OutC*dl], (*buf)[g.OutC*dl:]
	if a.y != nil {
		// The fused ReLU passes the cotangent where its output is
		// positive; masked in one pass over the batch, not row by row.
		maskPositive(s[:len(dy)], dy, a.y[n0*g.OutSize():n1*g.OutSize()])
		dy = s[:len(dy)]
	}
	gather(l, dyp, dy, g, m)
	if a.dbp != nil {
		for o := range g.OutC {
			a.dbp[part*g.OutC+o] = sum(dyp[o*dl+mg : o*dl+mg+q])
		}
	}
	if a.dwp != nil {
		var planes []T
		if a.keep != nil {
			planes = a.keep[off:][:l.cp*pl]
		} else {
			planes = s[:l.cp*pl]
			toPlanes(l, planes, a.x[n0*g.InSize():n1*g.InSize()], g, m)
		}
		dw := a.dwp[part*g.OutC*kw:][:g.OutC*kw]
		if l.cp >= wideTaps {
			// Tap t's kernel gradient is the cotangent planes times the
			// shifted input planes, transposed.
			for t := range l.taps() {
				gemm.Mul(false, true, g.OutC, l.cp, q, dyp[mg:], dl, planes[l.shift(t):], pl, 0, dw[t*l.cp:], kw)
			}
		} else {
			// Few planes per tap would make narrow products: stack the
			// shifted planes of all taps (whole-plane copies) for one.
			cols := s[len(s)-kw*q:]
			for t := range l.taps() {
				for ch := range l.cp {
					copy(cols[(t*l.cp+ch)*q:][:q], planes[ch*pl+l.shift(t):][:q])
				}
			}
			gemm.Mul(false, true, g.OutC, kw, q, dyp[mg:], dl, cols, q, 0, dw, kw)
		}
	}
	if a.dx != nil {
		dxp := s[:l.cp*pl]
		gemm.Shifted(true, l.cp, pl, g.OutC, a.wp, kw, l.cp, dyp, dl, l.back, 0, dxp, pl)
		fromPlanes(l, a.dx[n0*g.InSize():n1*g.InSize()], dxp, g, m)
	}
}

// pass holds the buffers of one Forward or Backward call, shared by its
// parts.
type pass[T Float] struct {
	y, keep, x, wp, bias []T
	dx, dy               []T
	dwp, dbp             []T // per-part kernel and bias gradients
}

// run calls work on the parts of n images, in parallel when the
// convolution has several workers. Only the parallel path creates
// goroutines (and allocates).
func (c *Conv[T]) run(n int, backward bool, a *pass[T]) {
	p := c.parts(n)
	if p == 1 {
		c.part(backward, a, 0, 1, n)
		return
	}
	shared := *a // a copy for the goroutines, so that a itself stays on the stack
	var wg sync.WaitGroup
	for i := 1; i < p; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.part(backward, &shared, i, p, n)
		}()
	}
	c.part(backward, &shared, 0, p, n)
	wg.Wait()
}

func (c *Conv[T]) part(backward bool, a *pass[T], part, p, n int) {
	if backward {
		c.backwardPart(a, part, p, n)
	} else {
		c.forwardPart(a, part, p, n)
	}
}

// sum returns the sum of s, in four independent partial sums: one
// accumulator would wait on each addition's latency.
func sum[T Float](s []T) T {
	var s0, s1, s2, s3 T
	for len(s) >= 4 {
		s0 += s[0]
		s1 += s[1]
		s2 += s[2]
		s3 += s[3]
		s = s[4:]
	}
	for _, v := range s {
		s0 += v
	}
	return (s0 + s1) + (s2 + s3)
}

func addTo[T Float](dst, src []T) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// maskPositive sets dst[j] = src[j] where mask[j] > 0 and 0 elsewhere
// (NaN included),
// selecting with a bit mask rather than a branch: half of a ReLU's outputs
// are zero, in no order a branch predictor can follow.
func maskPositive[T Float](dst, src, mask []T) {
	switch d := any(dst).(type) {
	case []float32:
		s, m := any(src).([]float32), any(mask).([]float32)
		s, m = s[:len(d)], m[:len(d)]
		done := maskPositive32(d, s, m)
		d, s, m = d[done:], s[done:], m[done:]
		for j := range d {
			// bits-1 is below +Inf's bits exactly for values in (0, +Inf]
			// (not NaN).
			var keep uint32
			if math.Float32bits(m[j])-1 < 0x7f800000 {
				keep = ^uint32(0)
			}
			d[j] = math.Float32frombits(math.Float32bits(s[j]) & keep)
		}
	case []float64:
		s, m := any(src).([]float64), any(mask).([]float64)
		s, m = s[:len(d)], m[:len(d)]
		for j := range d {
			var keep uint64
			if math.Float64bits(m[j])-1 < 0x7ff0000000000000 {
				keep = ^uint64(0)
			}
			d[j] = math.Float64frombits(math.Float64bits(s[j]) & keep)
		}
	}
}
