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
			for ox := range ow {
				dst[oy*ow+ox] = src[argmax(p, src, oy, ox)]
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
			for ox := range ow {
				d[argmax(p, src, oy, ox)] += g[oy*ow+ox]
			}
		}
	}
	return nil
}

// argmax returns the index in the image src of the maximum of output
// pixel (oy, ox)'s window; a NaN wins, so that it propagates.
func argmax[T Float](p Pool, src []T, oy, ox int) int {
	y0, x0 := oy*p.Stride, ox*p.Stride
	best := y0*p.W + x0
	for ky := range p.Size {
		row := (y0+ky)*p.W + x0
		for kx := range p.Size {
			v, b := src[row+kx], src[best]
			if v > b || (v != v && b == b) {
				best = row + kx
			}
		}
	}
	return best
}
