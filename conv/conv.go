// Package conv holds batched 2-D convolution and max-pooling kernels on
// NCHW buffers, in float32 or float64, with their gradients. They are the
// arithmetic behind the Gorgonia convolution and pooling ops of package ops
// and behind the convolutional vector field of package layers; the package
// itself does not depend on Gorgonia.
//
// A convolution of a batch runs as one im2col and one matrix product for
// the whole batch (or for each of a few slices of it, one per worker),
// not one small product per image: with C input channels, a K×K kernel
// and an output of OH×OW pixels, the im2col matrix has C·K·K rows and
// batch·OH·OW columns, and the product with the (out × C·K·K) kernel
// matrix gives every output pixel of every image at once. Scratch space
// comes from pools, so steady-state calls allocate nothing.
package conv

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gofde/gofde/internal/gemm"
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
	workers int
	relu    bool
	pool    sync.Pool // *[]T
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
	return &Conv[T]{g: g, workers: workers, relu: o.relu}, nil
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

func (c *Conv[T]) scratch(n int) *[]T {
	if b, ok := c.pool.Get().(*[]T); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]T, n)
	return &b
}

// Forward writes y = x ⋆ kernel + bias for a batch x (images of InC×H×W,
// NCHW) into y (OutC×OutH×OutW each); kernel is OutC×InC×K×K row-major,
// bias has OutC values or is nil.
func (c *Conv[T]) Forward(y, x, kernel, bias []T) error {
	return c.ForwardKeep(y, nil, x, kernel, bias)
}

// ColsLen returns the number of values of the im2col matrices of a batch
// of n images, the length of the cols buffer of ForwardKeep.
func (c *Conv[T]) ColsLen(n int) int {
	g := c.g
	return g.InC * g.Kernel * g.Kernel * n * g.OutH() * g.OutW()
}

// ForwardKeep is Forward that also leaves the batch's im2col matrices in
// cols (ColsLen(batch) values; nil keeps nothing), so that BackwardFrom
// can compute the kernel gradient without forming them again.
func (c *Conv[T]) ForwardKeep(y, cols, x, kernel, bias []T) error {
	g := c.g
	if len(x) == 0 || len(x)%g.InSize() != 0 {
		return fmt.Errorf("conv: input of %d values is not a batch of images of %d", len(x), g.InSize())
	}
	n := len(x) / g.InSize()
	for _, o := range []sized[T]{{"kernel", kernel, g.KernelSize(), false}, {"bias", bias, g.OutC, true},
		{"output", y, n * g.OutSize(), false}, {"im2col buffer", cols, c.ColsLen(n), true}} {
		if err := o.check(); err != nil {
			return err
		}
	}
	a := pass[T]{y: y, cols: cols, x: x, kernel: kernel, bias: bias}
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

// BackwardFrom is Backward with the forward input's im2col matrices, as
// ForwardKeep left them in cols, in place of the input itself.
func (c *Conv[T]) BackwardFrom(dx, dkernel, dbias, cols, kernel, y, dy []T) error {
	if cols == nil && dkernel != nil {
		return fmt.Errorf("conv: no im2col matrices for the kernel gradient")
	}
	return c.backward(dx, dkernel, dbias, nil, cols, kernel, y, dy)
}

func (c *Conv[T]) backward(dx, dkernel, dbias, x, cols, kernel, y, dy []T) error {
	g := c.g
	if len(dy) == 0 || len(dy)%g.OutSize() != 0 {
		return fmt.Errorf("conv: output cotangent of %d values is not a batch of images of %d", len(dy), g.OutSize())
	}
	n := len(dy) / g.OutSize()
	for _, o := range []sized[T]{
		{"kernel gradient", dkernel, g.KernelSize(), true}, {"bias gradient", dbias, g.OutC, true},
		{"input gradient", dx, n * g.InSize(), true},
		{"input", x, n * g.InSize(), dkernel == nil || cols != nil}, {"kernel", kernel, g.KernelSize(), dx == nil},
		{"im2col buffer", cols, c.ColsLen(n), true},
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
	ks := g.KernelSize()
	// Each part but the first accumulates its parameter gradients in its
	// own buffer; they are added in at the end.
	var acc *[]T
	if p > 1 && (dkernel != nil || dbias != nil) {
		acc = c.scratch((p - 1) * (ks + g.OutC))
		clear(*acc)
		defer c.pool.Put(acc)
	}
	a := pass[T]{dx: dx, dkernel: dkernel, dbias: dbias, x: x, cols: cols, kernel: kernel, y: y, dy: dy, acc: acc}
	c.run(n, true, &a)
	if acc != nil {
		for part := 1; part < p; part++ {
			a := (*acc)[(part-1)*(ks+g.OutC):][:ks+g.OutC]
			if dkernel != nil {
				addTo(dkernel, a[:ks])
			}
			if dbias != nil {
				addTo(dbias, a[ks:])
			}
		}
	}
	return nil
}

// forwardPart computes images [n0, n1) of a Forward pass.
func (c *Conv[T]) forwardPart(a *pass[T], n0, n1 int) {
	g := c.g
	ohw, kk := g.OutH()*g.OutW(), g.InC*g.Kernel*g.Kernel
	m := (n1 - n0) * ohw
	buf := c.scratch(kk*m + g.OutC*m)
	defer c.pool.Put(buf)
	col, out := (*buf)[:kk*m], (*buf)[kk*m:]
	if a.cols != nil {
		col = a.cols[kk*n0*ohw:][:kk*m]
	}
	im2col(col, a.x[n0*g.InSize():n1*g.InSize()], g, n1-n0)
	gemm.Mul(false, false, g.OutC, m, kk, a.kernel, kk, col, m, 0, out, m)
	scatter(a.y[n0*g.OutSize():n1*g.OutSize()], out, g.OutC, n1-n0, ohw, a.bias, c.relu)
}

// backwardPart computes the gradients of images [n0, n1); part p > 0
// accumulates its parameter gradients in its own slot of a.acc.
func (c *Conv[T]) backwardPart(a *pass[T], n0, n1, part int) {
	g := c.g
	ks := g.KernelSize()
	ohw, kk := g.OutH()*g.OutW(), g.InC*g.Kernel*g.Kernel
	m := (n1 - n0) * ohw
	buf := c.scratch(kk*m + g.OutC*m)
	defer c.pool.Put(buf)
	col, dyT := (*buf)[:kk*m], (*buf)[kk*m:]
	var mask []T
	if a.y != nil {
		mask = a.y[n0*g.OutSize() : n1*g.OutSize()]
	}
	gather(dyT, a.dy[n0*g.OutSize():n1*g.OutSize()], mask, g.OutC, n1-n0, ohw)
	dk, db := a.dkernel, a.dbias
	if part > 0 && a.acc != nil {
		slot := (*a.acc)[(part-1)*(ks+g.OutC):][:ks+g.OutC]
		if dk != nil {
			dk = slot[:ks]
		}
		if db != nil {
			db = slot[ks:]
		}
	}
	if dk != nil {
		kept := col
		if a.cols != nil {
			kept = a.cols[kk*n0*ohw:][:kk*m]
		} else {
			im2col(col, a.x[n0*g.InSize():n1*g.InSize()], g, n1-n0)
		}
		gemm.Mul(false, true, g.OutC, kk, m, dyT, m, kept, m, 1, dk, kk)
	}
	if db != nil {
		for o := range g.OutC {
			var s T
			for _, v := range dyT[o*m : (o+1)*m] {
				s += v
			}
			db[o] += s
		}
	}
	if a.dx != nil {
		gemm.Mul(true, false, kk, m, g.OutC, a.kernel, kk, dyT, m, 0, col, m)
		col2im(a.dx[n0*g.InSize():n1*g.InSize()], col, g, n1-n0)
	}
}

// pass holds the buffers of one Forward or Backward call, shared by its
// parts.
type pass[T Float] struct {
	y, cols, x, kernel, bias []T
	dx, dkernel, dbias, dy   []T
	acc                      *[]T // parameter gradients of parts 1..p-1
}

// run calls work on contiguous slices [n0, n1) of n images, in parallel
// when the convolution has several workers. Only the parallel path
// creates goroutines (and allocates).
func (c *Conv[T]) run(n int, backward bool, a *pass[T]) {
	p := c.parts(n)
	if p == 1 {
		c.part(backward, a, 0, n, 0)
		return
	}
	shared := *a // a copy for the goroutines, so that a itself stays on the stack
	var wg sync.WaitGroup
	for i := 1; i < p; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.part(backward, &shared, i*n/p, (i+1)*n/p, i)
		}()
	}
	c.part(backward, &shared, 0, n/p, 0)
	wg.Wait()
}

func (c *Conv[T]) part(backward bool, a *pass[T], n0, n1, part int) {
	if backward {
		c.backwardPart(a, n0, n1, part)
	} else {
		c.forwardPart(a, n0, n1)
	}
}

func addTo[T Float](dst, src []T) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// scatter writes the (ch × n·hw) matrix m, laid out channel-major (CNHW),
// into y in NCHW order, adding bias[c] to channel c when bias is not nil
// and clamping at zero with relu.
func scatter[T Float](y, m []T, ch, n, hw int, bias []T, relu bool) {
	for c := range ch {
		var b T
		if bias != nil {
			b = bias[c]
		}
		for i := range n {
			src := m[(c*n+i)*hw:][:hw]
			dst := y[(i*ch+c)*hw:][:hw]
			switch {
			case relu:
				for j, v := range src {
					dst[j] = max(v+b, 0)
				}
			case bias == nil:
				copy(dst, src)
			default:
				for j, v := range src {
					dst[j] = v + b
				}
			}
		}
	}
}

// gather is the inverse of scatter without bias: it writes the NCHW batch
// dy as the channel-major (ch × n·hw) matrix m, keeping only the values
// where mask (the ReLU's output) is positive when mask is not nil.
func gather[T Float](m, dy, mask []T, ch, n, hw int) {
	for c := range ch {
		for i := range n {
			dst, src := m[(c*n+i)*hw:][:hw], dy[(i*ch+c)*hw:][:hw]
			if mask == nil {
				copy(dst, src)
				continue
			}
			maskPositive(dst, src, mask[(i*ch+c)*hw:][:hw])
		}
	}
}

// maskPositive sets dst[j] = src[j] where mask[j] > 0 and 0 elsewhere,
// selecting with a bit mask rather than a branch: half of a ReLU's outputs
// are zero, in no order a branch predictor can follow.
func maskPositive[T Float](dst, src, mask []T) {
	switch d := any(dst).(type) {
	case []float32:
		s, m := any(src).([]float32), any(mask).([]float32)
		s, m = s[:len(d)], m[:len(d)]
		for j := range d {
			// bits-1 is below 0x7fffffff exactly for positive, non-zero values.
			var keep uint32
			if math.Float32bits(m[j])-1 < 0x7fffffff {
				keep = ^uint32(0)
			}
			d[j] = math.Float32frombits(math.Float32bits(s[j]) & keep)
		}
	case []float64:
		s, m := any(src).([]float64), any(mask).([]float64)
		s, m = s[:len(d)], m[:len(d)]
		for j := range d {
			var keep uint64
			if math.Float64bits(m[j])-1 < 0x7fffffffffffffff {
				keep = ^uint64(0)
			}
			d[j] = math.Float64frombits(math.Float64bits(s[j]) & keep)
		}
	}
}
