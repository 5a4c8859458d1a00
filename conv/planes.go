package conv

import "math"

// layout places a batch of images in channel planes on which a
// convolution is a stride-1 correlation whose taps are constant shifts.
//
// With stride S the planes are the S² phases of the zero-padded images
// (space-to-depth): plane (c·S + a)·S + b holds the pixels (S·u + a,
// S·v + b) of the padded channel c at (u, v), and the K×K kernel becomes a
// k×k kernel with k = ⌈K/S⌉ on S²·InC channels (taps beyond K are zero).
// Within a plane, image i's pixel (u, v) sits at i·is + u·ws + v, and the
// output pixel (oy, ox) of image i is computed at the same place: it reads
// tap (dy, dx) at the shift dy·ws + dx. With stride 1, rows and images
// share their padding (ws = W + P, is = (H + P)·ws): the right padding of
// a row is the left padding of the next, the bottom padding of an image
// the top padding of the next. The positions between the output pixels
// are computed too and ignored; each plane ends with a margin so that the
// largest shift of the last position stays inside it.
type layout struct {
	s, k   int // stride (phase count per axis) and the kernel side on the planes
	cp     int // planes per image batch: InC·S²
	pad    int
	ws, is int // row and image strides within a plane
	margin int // the largest tap shift, (k-1)·(ws+1)
	// rows[y] is the phase and plane row of image row y; cols[b] the
	// image columns x0, x0+s, … (n of them) of phase b, at plane column
	// v0 onwards. Tables, because divisions by a variable stride per
	// pixel row cost more than the copies themselves.
	rows []struct{ a, u int }
	cols []struct{ x0, v0, n int }
	// shifts[t] is tap t's shift; back[t] = margin - shifts[t], where the
	// input gradient reads the cotangent planes (which start with a margin).
	shifts, back []int
	order        []int // see tapOrder
}

func newLayout(g Geometry) layout {
	s := g.Stride
	l := layout{s: s, k: (g.Kernel + s - 1) / s, cp: g.InC * s * s, pad: g.Padding}
	if s == 1 {
		l.ws = g.W + g.Padding
		l.is = (g.H + g.Padding) * l.ws
	} else {
		l.ws = (g.W + 2*g.Padding + s - 1) / s
		l.is = (g.H + 2*g.Padding + s - 1) / s * l.ws
	}
	l.margin = (l.k - 1) * (l.ws + 1)
	for t := range l.taps() {
		l.shifts = append(l.shifts, l.shift(t))
		l.back = append(l.back, l.margin-l.shift(t))
	}
	l.order = l.tapOrder(g)
	l.rows = make([]struct{ a, u int }, g.H)
	for y := range l.rows {
		l.rows[y].a, l.rows[y].u = (y+g.Padding)%s, (y+g.Padding)/s
	}
	for b := range s {
		x0 := ((b-g.Padding)%s + s) % s
		if x0 < g.W {
			l.cols = append(l.cols, struct{ x0, v0, n int }{x0, (x0 + g.Padding) / s, (g.W - x0 + s - 1) / s})
		} else {
			l.cols = append(l.cols, struct{ x0, v0, n int }{})
		}
	}
	return l
}

// taps returns the number of kernel taps on the planes, k².
func (l layout) taps() int { return l.k * l.k }

// shift returns the offset at which tap t = dy·k + dx reads.
func (l layout) shift(t int) int { return t/l.k*l.ws + t%l.k }

// outLen returns the positions computed per output channel for m images.
func (l layout) outLen(m int) int { return m * l.is }

// planeLen returns the length of one input plane of m images.
func (l layout) planeLen(m int) int { return m*l.is + l.margin }

// kernelLen returns the length of the tap-major kernel: OutC rows of
// taps·cp values, tap t's slice at columns [t·cp, (t+1)·cp).
func (l layout) kernelLen(g Geometry) int { return g.OutC * l.taps() * l.cp }

// tapIndex returns the position of kernel entry (o, c, ky, kx) in the
// tap-major kernel.
func (l layout) tapIndex(g Geometry, o, c, ky, kx int) int {
	s := l.s
	t := ky/s*l.k + kx/s
	return o*l.taps()*l.cp + t*l.cp + (c*s+ky%s)*s + kx%s
}

// tapOrder returns, for each entry of the OutC×InC×K×K kernel in storage
// order, its position in the tap-major kernel: a table, because the
// divisions by the stride in tapIndex would cost more per call than the
// copy itself.
func (l layout) tapOrder(g Geometry) []int {
	order := make([]int, 0, g.KernelSize())
	for o := range g.OutC {
		for c := range g.InC {
			for ky := range g.Kernel {
				for kx := range g.Kernel {
					order = append(order, l.tapIndex(g, o, c, ky, kx))
				}
			}
		}
	}
	return order
}

// toTaps writes the OutC×InC×K×K kernel k in tap-major form into w.
func toTaps[T Float](l layout, w, k []T) {
	clear(w)
	for i, at := range l.order[:len(k)] {
		w[at] = k[i]
	}
}

// addTaps adds the tap-major kernel gradient w into the OutC×InC×K×K
// gradient dk (the taps beyond K, zero in the kernel, are dropped).
func addTaps[T Float](l layout, dk, w []T) {
	for i, at := range l.order[:len(dk)] {
		dk[i] += w[at]
	}
}

// phase2 is the phase b of stride 2 that holds an image row's even (or
// odd) columns, at plane column v0 onwards, n of them.
type phase2 struct{ b, v0, n int }

// pairs returns, for stride 2, the phases of the even and the odd image
// columns; ok is false for other strides.
func (l layout) pairs() (even, odd phase2, ok bool) {
	if l.s != 2 || len(l.cols) != 2 {
		return even, odd, false
	}
	for b, cs := range l.cols {
		p := phase2{b, cs.v0, cs.n}
		switch {
		case cs.n == 0:
			return even, odd, false
		case cs.x0 == 0:
			even = p
		case cs.x0 == 1:
			odd = p
		}
	}
	return even, odd, even.n > 0 && odd.n > 0
}

// split2 copies the even pixels of row into even and the odd ones into
// odd (len(even) = ⌈len(row)/2⌉, len(odd) = ⌊len(row)/2⌋).
func split2[T Float](even, odd, row []T) {
	n := len(odd)
	even, row = even[:n+len(row)%2], row[:2*n+len(row)%2]
	for j := range odd[:n] {
		pair := row[2*j : 2*j+2]
		even[j], odd[j] = pair[0], pair[1]
	}
	if len(even) > n {
		even[n] = row[2*n]
	}
}

// merge2 is the inverse of split2: it interleaves even and odd into row.
func merge2[T Float](row, even, odd []T) {
	n := len(odd)
	even, row = even[:n+len(row)%2], row[:2*n+len(row)%2]
	for j := range odd[:n] {
		pair := row[2*j : 2*j+2]
		pair[0], pair[1] = even[j], odd[j]
	}
	if len(even) > n {
		row[2*n] = even[n]
	}
}

// toPlanes writes the m NCHW images x into planes (cp planes of
// planeLen(m) values), zero everywhere else.
func toPlanes[T Float](l layout, planes, x []T, g Geometry, m int) {
	clear(planes)
	pl, s, hw := l.planeLen(m), l.s, g.H*g.W
	even, odd, two := l.pairs()
	for i := range m {
		for c := range g.InC {
			img := x[(i*g.InC+c)*hw:][:hw]
			for y, r := range l.rows {
				row := img[y*g.W:][:g.W]
				base := i*l.is + r.u*l.ws
				if s == 1 {
					copy(planes[c*pl+base+l.pad:][:g.W], row)
					continue
				}
				if two {
					// Stride 2: one pass over the row's pixel pairs
					// fills both phases' plane rows.
					p0 := ((c*s+r.a)*s + even.b) * pl
					p1 := ((c*s+r.a)*s + odd.b) * pl
					split2(planes[p0+base+even.v0:][:even.n], planes[p1+base+odd.v0:][:odd.n], row)
					continue
				}
				for b, cs := range l.cols {
					dst := planes[((c*s+r.a)*s+b)*pl+base+cs.v0:][:cs.n]
					for j := range dst {
						dst[j] = row[cs.x0+j*s]
					}
				}
			}
		}
	}
}

// fromPlanes is the inverse of toPlanes: it overwrites the m NCHW images
// dx with the image pixels of planes, dropping the padding.
func fromPlanes[T Float](l layout, dx, planes []T, g Geometry, m int) {
	pl, s, hw := l.planeLen(m), l.s, g.H*g.W
	even, odd, two := l.pairs()
	for i := range m {
		for c := range g.InC {
			img := dx[(i*g.InC+c)*hw:][:hw]
			for y, r := range l.rows {
				row := img[y*g.W:][:g.W]
				base := i*l.is + r.u*l.ws
				if s == 1 {
					copy(row, planes[c*pl+base+l.pad:][:g.W])
					continue
				}
				if two {
					p0 := ((c*s+r.a)*s + even.b) * pl
					p1 := ((c*s+r.a)*s + odd.b) * pl
					merge2(row, planes[p0+base+even.v0:][:even.n], planes[p1+base+odd.v0:][:odd.n])
					continue
				}
				for b, cs := range l.cols {
					src := planes[((c*s+r.a)*s+b)*pl+base+cs.v0:][:cs.n]
					for j, v := range src {
						row[cs.x0+j*s] = v
					}
				}
			}
		}
	}
}

// scatter writes the output pixels of the OutC output planes yp (outLen(m)
// values each) into the m NCHW images y, adding bias[o] to channel o when
// bias is not nil and clamping at zero with relu. The bias and the clamp
// run over whole planes first: long loops, not one per short row.
func scatter[T Float](l layout, y, yp, bias []T, relu bool, g Geometry, m int) {
	oh, ow, q := g.OutH(), g.OutW(), l.outLen(m)
	for o := range g.OutC {
		var b T
		if bias != nil {
			b = bias[o]
		}
		if bias != nil || relu {
			addBias(yp[o*q:(o+1)*q], b, relu)
		}
	}
	for i := range m {
		for o := range g.OutC {
			img := y[(i*g.OutC+o)*oh*ow:][:oh*ow]
			for oy := range oh {
				copy(img[oy*ow:][:ow], yp[o*q+i*l.is+oy*l.ws:][:ow])
			}
		}
	}
}

// addBias adds b to every value of s and, with relu, clamps at zero
// without a branch (see maskPositive), keeping NaN (of either sign) so
// that a diverging network is still seen to diverge.
func addBias[T Float](s []T, b T, relu bool) {
	if !relu {
		for j := range s {
			s[j] += b
		}
		return
	}
	switch s := any(s).(type) {
	case []float32:
		b := float32(b)
		s = s[addBiasReLU32(s, b):]
		for j, v := range s {
			v += b
			var keep uint32
			if bits := math.Float32bits(v); bits-1 < 0x7fffffff || bits&0x7fffffff > 0x7f800000 {
				keep = ^uint32(0)
			}
			s[j] = math.Float32frombits(math.Float32bits(v) & keep)
		}
	case []float64:
		b := float64(b)
		for j, v := range s {
			v += b
			var keep uint64
			if bits := math.Float64bits(v); bits-1 < 0x7fffffffffffffff || bits&0x7fffffffffffffff > 0x7ff0000000000000 {
				keep = ^uint64(0)
			}
			s[j] = math.Float64frombits(math.Float64bits(v) & keep)
		}
	}
}

// gather is the transpose of scatter without bias: it writes the m NCHW
// images dy into the OutC cotangent planes dyp, each outLen(m) + 2·margin
// values with the output positions after a margin of zeros, zero between
// the pixels.
func gather[T Float](l layout, dyp, dy []T, g Geometry, m int) {
	clear(dyp)
	oh, ow := g.OutH(), g.OutW()
	dl := l.outLen(m) + 2*l.margin
	for i := range m {
		for o := range g.OutC {
			src := dy[(i*g.OutC+o)*oh*ow:][:oh*ow]
			for oy := range oh {
				copy(dyp[o*dl+l.margin+i*l.is+oy*l.ws:][:ow], src[oy*ow:][:ow])
			}
		}
	}
}
