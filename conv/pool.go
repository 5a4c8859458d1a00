package conv

import "fmt"

// Pool is max pooling over Size×Size windows with the given Stride and no
// padding, on NCHW batches of C channels of H×W pixels.
type Pool struct {
	C, H, W      int
	Size, Stride int
}

// OutH returns (H - Size)/Stride + 1.
func (p Pool) OutH() int { return (p.H-p.Size)/p.Stride + 1 }

// OutW returns (W - Size)/Stride + 1.
func (p Pool) OutW() int { return (p.W-p.Size)/p.Stride + 1 }

// Validate reports whether the pooling is usable: positive sizes, a window
// no larger than the image, sizes below 2^40.
func (p Pool) Validate() error {
	if p.C < 1 || p.H < 1 || p.W < 1 || p.Size < 1 || p.Stride < 1 {
		return fmt.Errorf("conv: pooling %d×%d windows, stride %d, on %d channels of %d×%d: all must be at least 1", p.Size, p.Size, p.Stride, p.C, p.H, p.W)
	}
	if p.Size > p.H || p.Size > p.W {
		return fmt.Errorf("conv: a %d×%d pooling window does not fit a %d×%d image", p.Size, p.Size, p.H, p.W)
	}
	if !fits(p.C, p.H, p.W) {
		return fmt.Errorf("conv: pooling sizes beyond 2^40 values")
	}
	return nil
}

func (p Pool) check(in, out int) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	size := p.C * p.H * p.W
	if in == 0 || in%size != 0 {
		return 0, fmt.Errorf("conv: pooling input of %d values is not a batch of images of %d", in, size)
	}
	b := in / size
	if out != b*p.C*p.OutH()*p.OutW() {
		return 0, fmt.Errorf("conv: pooling output of %d values, want %d", out, b*p.C*p.OutH()*p.OutW())
	}
	return b, nil
}

// MaxPoolForward writes the window maxima of the batch x into y.
func MaxPoolForward[T Float](p Pool, y, x []T) error {
	b, err := p.check(len(x), len(y))
	if err != nil {
		return err
	}
	oh, ow, hw := p.OutH(), p.OutW(), p.H*p.W
	for img := range b * p.C {
		src, dst := x[img*hw:][:hw], y[img*oh*ow:][:oh*ow]
		for oy := range oh {
			out := dst[oy*ow:][:ow]
			for ox := range out {
				out[ox] = src[argmax(src, oy*p.Stride*p.W+ox*p.Stride, p.W, p.Size)]
			}
		}
	}
	return nil
}

// MaxPoolBackward overwrites dx with the gradient of MaxPoolForward: each
// output cotangent in dy goes to its window's maximum in x (the first one
// in row-major order on ties).
func MaxPoolBackward[T Float](p Pool, dx, x, dy []T) error {
	b, err := p.check(len(x), len(dy))
	if err != nil {
		return err
	}
	if len(dx) != len(x) {
		return fmt.Errorf("conv: pooling input gradient of %d values, want %d", len(dx), len(x))
	}
	clear(dx)
	oh, ow, hw := p.OutH(), p.OutW(), p.H*p.W
	for img := range b * p.C {
		src, d, g := x[img*hw:][:hw], dx[img*hw:][:hw], dy[img*oh*ow:][:oh*ow]
		for oy := range oh {
			gr := g[oy*ow:][:ow]
			for ox, v := range gr {
				d[argmax(src, oy*p.Stride*p.W+ox*p.Stride, p.W, p.Size)] += v
			}
		}
	}
	return nil
}

// argmax returns the index in the image src (rows of w pixels) of the
// maximum of the size×size window whose top left pixel is at index base;
// a NaN wins, so that it propagates. The running maximum stays in a
// register, and a 2×2 window, the common case, is compared without a
// loop.
func argmax[T Float](src []T, base, w, size int) int {
	if size == 2 {
		r0, r1 := src[base:base+2], src[base+w:base+w+2]
		best, b := base, r0[0]
		if v := r0[1]; v > b || (v != v && b == b) {
			best, b = base+1, v
		}
		if v := r1[0]; v > b || (v != v && b == b) {
			best, b = base+w, v
		}
		if v := r1[1]; v > b || (v != v && b == b) {
			best = base + w + 1
		}
		return best
	}
	best, b := base, src[base]
	for ky := range size {
		row := base + ky*w
		for kx, v := range src[row : row+size] {
			if v > b || (v != v && b == b) {
				best, b = row+kx, v
			}
		}
	}
	return best
}
