package conv

import (
	"math"
	"math/rand/v2"
	"runtime/debug"
	"testing"
)

// naiveConv is the textbook convolution (cross-correlation) of a batch.
func naiveConv(g Geometry, x, k, b []float64) []float64 {
	n := len(x) / g.InSize()
	oh, ow := g.OutH(), g.OutW()
	y := make([]float64, n*g.OutSize())
	for i := range n {
		for o := range g.OutC {
			for oy := range oh {
				for ox := range ow {
					s := 0.0
					if b != nil {
						s = b[o]
					}
					for c := range g.InC {
						for ky := range g.Kernel {
							for kx := range g.Kernel {
								iy, ix := oy*g.Stride+ky-g.Padding, ox*g.Stride+kx-g.Padding
								if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
									continue
								}
								s += k[((o*g.InC+c)*g.Kernel+ky)*g.Kernel+kx] * x[((i*g.InC+c)*g.H+iy)*g.W+ix]
							}
						}
					}
					y[((i*g.OutC+o)*oh+oy)*ow+ox] = s
				}
			}
		}
	}
	return y
}

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*rng.Float64() - 1
	}
	return s
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

var geometries = []struct {
	name  string
	g     Geometry
	batch int
}{
	{"3x3 same", Geometry{InC: 3, H: 7, W: 7, OutC: 4, Kernel: 3, Stride: 1, Padding: 1}, 5},
	{"4x4 stride 2", Geometry{InC: 2, H: 14, W: 14, OutC: 3, Kernel: 4, Stride: 2, Padding: 1}, 3},
	{"1 channel", Geometry{InC: 1, H: 9, W: 6, OutC: 2, Kernel: 3, Stride: 1, Padding: 1}, 4},
	{"valid 5x5 stride 3", Geometry{InC: 2, H: 11, W: 13, OutC: 2, Kernel: 5, Stride: 3, Padding: 0}, 2},
	{"1x1", Geometry{InC: 4, H: 3, W: 5, OutC: 3, Kernel: 1, Stride: 1, Padding: 0}, 3},
	{"2x2 padded", Geometry{InC: 2, H: 5, W: 6, OutC: 2, Kernel: 2, Stride: 1, Padding: 1}, 3},
	{"3x3 stride 2 odd", Geometry{InC: 3, H: 9, W: 8, OutC: 2, Kernel: 3, Stride: 2, Padding: 1}, 3},
	{"4x4 stride 2 odd width", Geometry{InC: 2, H: 6, W: 9, OutC: 2, Kernel: 4, Stride: 2, Padding: 2}, 2},
	{"valid 3x3 stride 1", Geometry{InC: 2, H: 6, W: 5, OutC: 3, Kernel: 3, Stride: 1, Padding: 0}, 2},
}

// TestForwardMatchesNaive checks Forward in float64 (to round-off) and
// float32 (to float32 precision), serial and split across workers.
func TestForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range geometries {
		g := tc.g
		x, k, b := randSlice(rng, tc.batch*g.InSize()), randSlice(rng, g.KernelSize()), randSlice(rng, g.OutC)
		want := naiveConv(g, x, k, b)
		for _, workers := range []int{1, 2, 3} {
			c, err := New[float64](g, workers)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float64, len(want))
			if err := c.Forward(y, x, k, b); err != nil {
				t.Fatal(err)
			}
			for i := range y {
				if math.Abs(y[i]-want[i]) > 1e-12 {
					t.Fatalf("%s, %d workers: y[%d] = %v, want %v", tc.name, workers, i, y[i], want[i])
				}
			}
			c32, _ := New[float32](g, workers)
			y32 := make([]float32, len(want))
			if err := c32.Forward(y32, to32(x), to32(k), to32(b)); err != nil {
				t.Fatal(err)
			}
			for i := range y32 {
				if math.Abs(float64(y32[i])-want[i]) > 1e-5 {
					t.Fatalf("%s float32: y[%d] = %v, want %v", tc.name, i, y32[i], want[i])
				}
			}
		}
	}
}

func to32(s []float64) []float32 {
	o := make([]float32, len(s))
	for i, v := range s {
		o[i] = float32(v)
	}
	return o
}

// TestBackwardIsAdjoint checks the gradients exactly through the adjoint
// identity <dy, J·(dx_in, dk_in, db_in)> = <Jᵀdy, (dx_in, dk_in, db_in)>:
// the convolution is linear in x and in (k, b) separately, so
// <dy, conv(xd, k, 0)> = <dx, xd> and <dy, conv(x, kd, bd)> = <dk, kd> + <db, bd>.
func TestBackwardIsAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range geometries {
		g := tc.g
		x, k := randSlice(rng, tc.batch*g.InSize()), randSlice(rng, g.KernelSize())
		dy := randSlice(rng, tc.batch*g.OutSize())
		xd, kd, bd := randSlice(rng, len(x)), randSlice(rng, len(k)), randSlice(rng, g.OutC)
		for _, workers := range []int{1, 2} {
			c, _ := New[float64](g, workers)
			dx := make([]float64, len(x))
			dk, db := randSlice(rng, len(k)), randSlice(rng, g.OutC) // Backward adds into these
			dk0, db0 := append([]float64(nil), dk...), append([]float64(nil), db...)
			if err := c.Backward(dx, dk, db, x, k, nil, dy); err != nil {
				t.Fatal(err)
			}
			for i := range dk {
				dk[i] -= dk0[i]
			}
			for i := range db {
				db[i] -= db0[i]
			}
			lhs := dot(dy, naiveConv(g, xd, k, nil))
			if rhs := dot(dx, xd); math.Abs(lhs-rhs) > 1e-10*(1+math.Abs(lhs)) {
				t.Errorf("%s: input gradient: %v vs %v", tc.name, lhs, rhs)
			}
			lhs = dot(dy, naiveConv(g, x, kd, bd))
			if rhs := dot(dk, kd) + dot(db, bd); math.Abs(lhs-rhs) > 1e-10*(1+math.Abs(lhs)) {
				t.Errorf("%s: parameter gradient: %v vs %v", tc.name, lhs, rhs)
			}
		}
	}
}

func TestBadSizes(t *testing.T) {
	for _, g := range []Geometry{
		{InC: 0, H: 3, W: 3, OutC: 1, Kernel: 1, Stride: 1},
		{InC: 1, H: 3, W: 3, OutC: 1, Kernel: 5, Stride: 1},
		{InC: 1, H: 3, W: 3, OutC: 1, Kernel: 3, Stride: 0},
		{InC: 1, H: 3, W: 3, OutC: 1, Kernel: 3, Stride: 1, Padding: 3},
		{InC: 1 << 30, H: 1 << 20, W: 1 << 20, OutC: 1, Kernel: 1, Stride: 1},
	} {
		if _, err := New[float64](g, 1); err == nil {
			t.Errorf("%+v: no error", g)
		}
	}
	g := Geometry{InC: 2, H: 4, W: 4, OutC: 3, Kernel: 3, Stride: 1, Padding: 1}
	c, _ := New[float32](g, 2)
	x, k, y := make([]float32, 2*g.InSize()), make([]float32, g.KernelSize()), make([]float32, 2*g.OutSize())
	if c.Forward(y, x[:5], k, nil) == nil || c.Forward(y, x, k[:3], nil) == nil || c.Forward(y[:1], x, k, nil) == nil ||
		c.Forward(y, x, k, make([]float32, 2)) == nil || c.Forward(y, nil, k, nil) == nil {
		t.Error("a wrong length was accepted by Forward")
	}
	if c.Backward(nil, make([]float32, 1), nil, x, k, nil, y) == nil || c.Backward(nil, nil, nil, x, k, nil, y[:2]) == nil ||
		c.Backward(make([]float32, 3), nil, nil, x, k, nil, y) == nil {
		t.Error("a wrong length was accepted by Backward")
	}
}

func TestMaxPool(t *testing.T) {
	p := Pool{C: 2, H: 5, W: 4, Size: 2, Stride: 1}
	rng := rand.New(rand.NewPCG(5, 6))
	x := randSlice(rng, 3*p.C*p.H*p.W)
	y := make([]float64, 3*p.C*p.OutH()*p.OutW())
	if err := MaxPoolForward(p, y, x); err != nil {
		t.Fatal(err)
	}
	oh, ow := p.OutH(), p.OutW()
	for img := range 3 * p.C {
		for oy := range oh {
			for ox := range ow {
				m := math.Inf(-1)
				for ky := range 2 {
					for kx := range 2 {
						m = math.Max(m, x[img*p.H*p.W+(oy+ky)*p.W+ox+kx])
					}
				}
				if got := y[img*oh*ow+oy*ow+ox]; got != m {
					t.Fatalf("pool (%d,%d,%d) = %v, want %v", img, oy, ox, got, m)
				}
			}
		}
	}
	// Finite differences: max pooling is piecewise linear, so a small step
	// of random values (distinct with probability one) is exact.
	dy := randSlice(rng, len(y))
	dx := make([]float64, len(x))
	if err := MaxPoolBackward(p, dx, x, dy); err != nil {
		t.Fatal(err)
	}
	const h = 1e-7
	for i := range x {
		xp := append([]float64(nil), x...)
		xp[i] += h
		yp := make([]float64, len(y))
		_ = MaxPoolForward(p, yp, xp)
		fd := (dot(dy, yp) - dot(dy, y)) / h
		if math.Abs(fd-dx[i]) > 1e-6 {
			t.Fatalf("dx[%d] = %v, finite difference %v", i, dx[i], fd)
		}
	}
	if MaxPoolForward(p, y[:3], x) == nil || MaxPoolBackward(p, dx[:2], x, dy) == nil ||
		MaxPoolForward(Pool{C: 1, H: 1, W: 1, Size: 2, Stride: 1}, y, x) == nil {
		t.Error("bad sizes accepted")
	}
	nan := []float64{1, math.NaN(), 2, 3}
	out := make([]float64, 1)
	_ = MaxPoolForward(Pool{C: 1, H: 2, W: 2, Size: 2, Stride: 2}, out, nan)
	if !math.IsNaN(out[0]) {
		t.Errorf("NaN in the window gave %v", out[0])
	}
}

func BenchmarkConv(b *testing.B) {
	for _, tc := range []struct {
		name string
		g    Geometry
	}{
		{"field3x3", Geometry{InC: 16, H: 7, W: 7, OutC: 16, Kernel: 3, Stride: 1, Padding: 1}},
		{"down4x4s2", Geometry{InC: 16, H: 28, W: 28, OutC: 16, Kernel: 4, Stride: 2, Padding: 1}},
	} {
		g := tc.g
		c, _ := New[float32](g, 0)
		const n = 64
		x, k, bias := make([]float32, n*g.InSize()), make([]float32, g.KernelSize()), make([]float32, g.OutC)
		y := make([]float32, n*g.OutSize())
		dx, dk := make([]float32, len(x)), make([]float32, len(k))
		flops := float64(2 * n * g.OutSize() * g.InC * g.Kernel * g.Kernel)
		b.Run(tc.name+"/forward", func(b *testing.B) {
			for b.Loop() {
				_ = c.Forward(y, x, k, bias)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
		b.Run(tc.name+"/backward", func(b *testing.B) {
			for b.Loop() {
				_ = c.Backward(dx, dk, bias, x, k, nil, y)
			}
			b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

// TestKeptColumns checks that BackwardFrom on the matrices ForwardKeep
// kept gives exactly Backward's gradients.
func TestKeptColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range geometries {
		g := tc.g
		for _, workers := range []int{1, 2} {
			c, _ := New[float64](g, workers)
			x, k, b := randSlice(rng, tc.batch*g.InSize()), randSlice(rng, g.KernelSize()), randSlice(rng, g.OutC)
			dy := randSlice(rng, tc.batch*g.OutSize())
			y1, y2 := make([]float64, len(dy)), make([]float64, len(dy))
			cols := make([]float64, c.KeepLen(tc.batch))
			if err := c.Forward(y1, x, k, b); err != nil {
				t.Fatal(err)
			}
			if err := c.ForwardKeep(y2, cols, x, k, b); err != nil {
				t.Fatal(err)
			}
			dx1, dk1, db1 := make([]float64, len(x)), make([]float64, len(k)), make([]float64, len(b))
			dx2, dk2, db2 := make([]float64, len(x)), make([]float64, len(k)), make([]float64, len(b))
			if err := c.Backward(dx1, dk1, db1, x, k, nil, dy); err != nil {
				t.Fatal(err)
			}
			if err := c.BackwardFrom(dx2, dk2, db2, cols, k, nil, dy); err != nil {
				t.Fatal(err)
			}
			for _, p := range [][2][]float64{{y1, y2}, {dx1, dx2}, {dk1, dk2}, {db1, db2}} {
				for i := range p[0] {
					if p[0][i] != p[1][i] {
						t.Fatalf("%s, %d workers: %v != %v at %d", tc.name, workers, p[0][i], p[1][i], i)
					}
				}
			}
			if c.BackwardFrom(nil, dk2, nil, nil, k, nil, dy) == nil || c.ForwardKeep(y2, cols[1:], x, k, b) == nil {
				t.Error("missing or short keep buffer accepted")
			}
		}
	}
}

// TestSteadyStateAllocations checks that Forward and Backward on the
// caller's goroutine allocate nothing once their pools are warm.
func TestSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // collections empty the pools
	g := Geometry{InC: 4, H: 7, W: 7, OutC: 4, Kernel: 3, Stride: 1, Padding: 1}
	c, _ := New[float32](g, 1)
	x, k, b := make([]float32, 8*g.InSize()), make([]float32, g.KernelSize()), make([]float32, g.OutC)
	y, dx, dk := make([]float32, 8*g.OutSize()), make([]float32, len(x)), make([]float32, len(k))
	cols := make([]float32, c.KeepLen(8))
	if a := testing.AllocsPerRun(20, func() { _ = c.Forward(y, x, k, b) }); a != 0 {
		t.Errorf("Forward: %v allocations", a)
	}
	if a := testing.AllocsPerRun(20, func() { _ = c.ForwardKeep(y, cols, x, k, b) }); a != 0 {
		t.Errorf("ForwardKeep: %v allocations", a)
	}
	if a := testing.AllocsPerRun(20, func() { _ = c.Backward(dx, dk, b, x, k, nil, y) }); a != 0 {
		t.Errorf("Backward: %v allocations", a)
	}
	if a := testing.AllocsPerRun(20, func() { _ = c.BackwardFrom(dx, dk, b, cols, k, nil, y) }); a != 0 {
		t.Errorf("BackwardFrom: %v allocations", a)
	}
}

// TestFusedReLU checks a convolution with a fused ReLU against the plain
// convolution followed by max(·, 0), and its gradients against the plain
// convolution's gradients of the cotangent masked where the output is
// positive.
func TestFusedReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, tc := range geometries {
		g := tc.g
		for _, workers := range []int{1, 2} {
			plain, _ := New[float64](g, workers)
			fused, _ := New[float64](g, workers, WithReLU())
			if !fused.ReLU() || plain.ReLU() {
				t.Fatal("ReLU() does not report the option")
			}
			x, k, b := randSlice(rng, tc.batch*g.InSize()), randSlice(rng, g.KernelSize()), randSlice(rng, g.OutC)
			dy := randSlice(rng, tc.batch*g.OutSize())
			y, yr := make([]float64, len(dy)), make([]float64, len(dy))
			_ = plain.Forward(y, x, k, b)
			if err := fused.Forward(yr, x, k, b); err != nil {
				t.Fatal(err)
			}
			masked := make([]float64, len(dy))
			for i, v := range y {
				if want := math.Max(v, 0); yr[i] != want {
					t.Fatalf("%s: fused output %v, want %v", tc.name, yr[i], want)
				}
				if v > 0 {
					masked[i] = dy[i]
				}
			}
			dx1, dk1, db1 := make([]float64, len(x)), make([]float64, len(k)), make([]float64, len(b))
			dx2, dk2, db2 := make([]float64, len(x)), make([]float64, len(k)), make([]float64, len(b))
			_ = plain.Backward(dx1, dk1, db1, x, k, nil, masked)
			if err := fused.Backward(dx2, dk2, db2, x, k, yr, dy); err != nil {
				t.Fatal(err)
			}
			for _, p := range [][2][]float64{{dx1, dx2}, {dk1, dk2}, {db1, db2}} {
				for i := range p[0] {
					if p[0][i] != p[1][i] {
						t.Fatalf("%s: fused gradient %v, want %v", tc.name, p[1][i], p[0][i])
					}
				}
			}
			if fused.Backward(dx2, nil, nil, nil, k, nil, dy) == nil {
				t.Error("fused Backward without the output: no error")
			}
		}
	}
}

// TestFusedReLUKeepsNaN checks that the fused ReLU passes NaN of either
// sign (x86's default NaN has the sign bit set) and clamps -Inf and
// negative values, in both float types.
func TestFusedReLUKeepsNaN(t *testing.T) {
	g := Geometry{InC: 1, H: 1, W: 5, OutC: 1, Kernel: 1, Stride: 1, Padding: 0}
	negNaN := math.Float64frombits(math.Float64bits(math.NaN()) | 1<<63)
	x := []float64{math.NaN(), negNaN, math.Inf(-1), -2, 3}
	c, _ := New[float64](g, 1, WithReLU())
	y := make([]float64, 5)
	if err := c.Forward(y, x, []float64{1}, nil); err != nil {
		t.Fatal(err)
	}
	c32, _ := New[float32](g, 1, WithReLU())
	y32 := make([]float32, 5)
	if err := c32.Forward(y32, to32(x), []float32{1}, nil); err != nil {
		t.Fatal(err)
	}
	for i, got := range [][]float64{y, to64s(y32)} {
		if !math.IsNaN(got[0]) || !math.IsNaN(got[1]) || got[2] != 0 || got[3] != 0 || got[4] != 3 {
			t.Errorf("type %d: ReLU of NaN, -NaN, -Inf, -2, 3 = %v", i, got)
		}
	}
}

func to64s(s []float32) []float64 {
	o := make([]float64, len(s))
	for i, v := range s {
		o[i] = float64(v)
	}
	return o
}

// TestElementwiseKernels checks maskPositive and addBias with relu on
// the values where vector and scalar code could disagree (signed zeros
// and NaNs, infinities, subnormals), at lengths that exercise both the
// vector body and the scalar tail, against their definitions.
func TestElementwiseKernels(t *testing.T) {
	special := []float64{math.NaN(), math.Float64frombits(math.Float64bits(math.NaN()) | 1<<63), 0, math.Copysign(0, -1),
		math.Inf(1), math.Inf(-1), 1e-40, -1e-40, 2, -3, 5e-324}
	for _, n := range []int{3, 8, 19, 64} {
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = special[i%len(special)]
		}
		src := make([]float64, n)
		for i := range src {
			src[i] = float64(i + 1)
		}
		d64, d32 := make([]float64, n), make([]float32, n)
		maskPositive(d64, src, vals)
		maskPositive(d32, to32(src), to32(vals))
		b64, b32 := append([]float64(nil), vals...), to32(vals)
		addBias(b64, 0.5, true)
		addBias(b32, 0.5, true)
		for i, m := range vals {
			want, want32 := 0.0, 0.0
			if m > 0 {
				want = src[i]
			}
			if float32(m) > 0 {
				want32 = src[i]
			}
			if d64[i] != want || float64(d32[i]) != want32 {
				t.Errorf("n=%d: mask %v: got %v, %v, want %v, %v", n, m, d64[i], d32[i], want, want32)
			}
			for k, got := range []float64{b64[i], float64(b32[i])} {
				v := m + 0.5
				if k == 1 {
					v = float64(float32(m) + 0.5)
				}
				switch {
				case math.IsNaN(v):
					if !math.IsNaN(got) {
						t.Errorf("n=%d: relu(%v + 0.5) = %v, want NaN", n, m, got)
					}
				case got != math.Max(v, 0):
					t.Errorf("n=%d, type %d: relu(%v + 0.5) = %v, want %v", n, k, m, got, math.Max(v, 0))
				}
			}
		}
	}
}

// FuzzGeometry runs arbitrary geometries (within small sizes): New either
// refuses them or gives a convolution whose Forward matches the textbook
// one and whose Backward satisfies the adjoint identity, for 1 or 2
// workers and any batch size.
func FuzzGeometry(f *testing.F) {
	for _, tc := range geometries {
		g := tc.g
		f.Add(uint8(g.InC), uint8(g.H), uint8(g.W), uint8(g.OutC), uint8(g.Kernel), uint8(g.Stride), uint8(g.Padding), uint8(tc.batch), uint8(1))
	}
	f.Fuzz(func(t *testing.T, inC, h, w, outC, k, s, p, batch, workers uint8) {
		g := Geometry{InC: int(inC % 5), H: int(h % 13), W: int(w % 13), OutC: int(outC % 5), Kernel: int(k % 7), Stride: int(s % 5), Padding: int(p % 5)}
		n := int(batch%4) + 1
		c, err := New[float64](g, int(workers%3))
		if err != nil {
			if g.Validate() == nil {
				t.Fatalf("%+v: New failed on a valid geometry: %v", g, err)
			}
			return
		}
		rng := rand.New(rand.NewPCG(uint64(h), uint64(w)))
		x, kern, b := randSlice(rng, n*g.InSize()), randSlice(rng, g.KernelSize()), randSlice(rng, g.OutC)
		want := naiveConv(g, x, kern, b)
		y := make([]float64, len(want))
		if err := c.Forward(y, x, kern, b); err != nil {
			t.Fatal(err)
		}
		for i := range y {
			if math.Abs(y[i]-want[i]) > 1e-12 {
				t.Fatalf("%+v, batch %d: y[%d] = %v, want %v", g, n, i, y[i], want[i])
			}
		}
		dy := randSlice(rng, len(y))
		dx, dk, db := make([]float64, len(x)), make([]float64, len(kern)), make([]float64, len(b))
		if err := c.Backward(dx, dk, db, x, kern, nil, dy); err != nil {
			t.Fatal(err)
		}
		// <dy, conv(x, k, b)> = <dx, x> + <dk·, ·> split by linearity:
		// conv(x, k, 0) is linear in x and in k.
		if lhs, rhs := dot(dy, naiveConv(g, x, kern, nil)), dot(dx, x); math.Abs(lhs-rhs) > 1e-9*(1+math.Abs(lhs)) {
			t.Fatalf("%+v: input gradient fails the adjoint identity: %v vs %v", g, lhs, rhs)
		}
		if lhs, rhs := dot(dy, naiveConv(g, x, kern, b)), dot(dk, kern)+dot(db, b); math.Abs(lhs-rhs) > 1e-9*(1+math.Abs(lhs)) {
			t.Fatalf("%+v: kernel and bias gradients fail the adjoint identity: %v vs %v", g, lhs, rhs)
		}
	})
}

// BenchmarkMaxPool times the example model's pooling (2×2, stride 1, on a
// batch of 32 images of 16 channels of 7×7), forward and backward.
func BenchmarkMaxPool(b *testing.B) {
	p := Pool{C: 16, H: 7, W: 7, Size: 2, Stride: 1}
	const n = 32
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*p.C*p.H*p.W)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, n*p.C*p.OutH()*p.OutW())
	dx := make([]float32, len(x))
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			_ = MaxPoolForward(p, y, x)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for b.Loop() {
			_ = MaxPoolBackward(p, dx, x, y)
		}
	})
}
