package conv

// span returns the range [lo, hi) of output columns ox whose input column
// ox·stride + off lies inside [0, w).
func span(off, stride, w, ow int) (lo, hi int) {
	lo = 0
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	hi = 0
	if w-off > 0 {
		hi = (w - off + stride - 1) / stride
	}
	return min(lo, ow), max(min(hi, ow), min(lo, ow))
}

// im2col writes the patches of n NCHW images in into col, a (InC·K·K) ×
// (n·OH·OW) row-major matrix: row (c·K + ky)·K + kx, column i·OH·OW +
// oy·OW + ox holds pixel (oy·S + ky - P, ox·S + kx - P) of channel c of
// image i, zero outside the image.
func im2col[T Float](col, in []T, g Geometry, n int) {
	oh, ow, k, s := g.OutH(), g.OutW(), g.Kernel, g.Stride
	ohw, hw := oh*ow, g.H*g.W
	ld := n * ohw
	for c := range g.InC {
		for ky := range k {
			ylo, yhi := span(ky-g.Padding, s, g.H, oh)
			for kx := range k {
				off := kx - g.Padding
				lo, hi := span(off, s, g.W, ow)
				row := col[((c*k+ky)*k+kx)*ld:][:ld]
				// A stride-1 convolution that keeps the width reads rows
				// ylo..yhi as one contiguous run of the image shifted by
				// (ky-P)·W + off: one copy, then the columns that fell
				// outside the image are zeroed.
				flat := s == 1 && ow == g.W
				for i := range n {
					src := in[(i*g.InC+c)*hw:][:hw]
					dst := row[i*ohw:][:ohw]
					clear(dst[:ylo*ow])
					clear(dst[yhi*ow:])
					if flat && yhi > ylo {
						// dst[j] = src[j + shift] for j in [lo0, hi0), where
						// the source index stays inside the image.
						lo0, hi0 := ylo*ow, yhi*ow
						shift := (ylo+ky-g.Padding)*g.W + off - lo0
						a, b := max(lo0, -shift), min(hi0, hw-shift)
						copy(dst[a:b], src[a+shift:b+shift])
						for oy := ylo; oy < yhi; oy++ {
							seg := dst[oy*ow:][:ow]
							clear(seg[:lo])
							clear(seg[hi:])
						}
						continue
					}
					for oy := ylo; oy < yhi; oy++ {
						seg := dst[oy*ow:][:ow]
						line := src[(oy*s+ky-g.Padding)*g.W:][:g.W]
						for ox := range lo {
							seg[ox] = 0
						}
						if s == 1 {
							part := line[lo+off : hi+off]
							body := seg[lo:hi]
							for j := range body {
								body[j] = part[j]
							}
						} else if hi > lo {
							// Bounds proved once for the strided reads.
							part := line[lo*s+off : (hi-1)*s+off+1]
							body := seg[lo:hi]
							for j := range body {
								body[j] = part[j*s]
							}
						}
						for ox := hi; ox < ow; ox++ {
							seg[ox] = 0
						}
					}
				}
			}
		}
	}
}

// col2im is the transpose of im2col: it overwrites the n NCHW images out
// with the sums of the entries of col at the positions im2col reads each
// pixel into.
func col2im[T Float](out, col []T, g Geometry, n int) {
	oh, ow, k, s := g.OutH(), g.OutW(), g.Kernel, g.Stride
	ohw, hw := oh*ow, g.H*g.W
	ld := n * ohw
	clear(out[:n*g.InC*hw])
	for c := range g.InC {
		for ky := range k {
			ylo, yhi := span(ky-g.Padding, s, g.H, oh)
			for kx := range k {
				off := kx - g.Padding
				lo, hi := span(off, s, g.W, ow)
				row := col[((c*k+ky)*k+kx)*ld:][:ld]
				for i := range n {
					dst := out[(i*g.InC+c)*hw:][:hw]
					src := row[i*ohw:][:ohw]
					for oy := ylo; oy < yhi; oy++ {
						seg := src[oy*ow:][:ow]
						line := dst[(oy*s+ky-g.Padding)*g.W:][:g.W]
						if s == 1 {
							part := line[lo+off : hi+off]
							body := seg[lo:hi]
							for j := range body {
								part[j] += body[j]
							}
						} else if hi > lo {
							part := line[lo*s+off : (hi-1)*s+off+1]
							for j, v := range seg[lo:hi] {
								part[j*s] += v
							}
						}
					}
				}
			}
		}
	}
}
