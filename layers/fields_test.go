package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/gofde/gofde/fode"
)

// testField is what both fields implement.
type testField interface {
	fode.JVPField
	fode.RowwiseField
	Init(theta []float64, rng *rand.Rand) error
	Layout() []ParamBlock
}

var (
	_ testField = (*MLPField)(nil)
	_ testField = (*ConvField)(nil)
)

type fieldCase struct {
	name string
	f    testField
	rows int
}

func mustMLP(t testing.TB, dim, hidden int, timeInput bool) *MLPField {
	t.Helper()
	f, err := NewMLPField(dim, hidden, timeInput)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustConv(t testing.TB, c, h, w, hidden int, opt ConvOptions) *ConvField {
	t.Helper()
	f, err := NewConvField(c, h, w, hidden, opt)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fieldCases are small fields covering every option, for the exact tests.
func fieldCases(t testing.TB) []fieldCase {
	return []fieldCase{
		{"mlp", mustMLP(t, 5, 7, false), 3},
		{"mlp/time", mustMLP(t, 5, 7, true), 3},
		{"mlp/time/chunks", mustMLP(t, 3, 4, true), 2*mlpChunk + 5},
		{"conv", mustConv(t, 2, 4, 5, 3, ConvOptions{}), 2},
		{"conv/time", mustConv(t, 2, 4, 5, 3, ConvOptions{TimeInput: true}), 2},
		{"conv/gn", mustConv(t, 2, 4, 5, 4, ConvOptions{Groups: 2}), 2},
		{"conv/gn/time", mustConv(t, 2, 4, 5, 4, ConvOptions{Groups: 2, TimeInput: true}), 2},
		{"conv/gn1/time", mustConv(t, 2, 3, 4, 4, ConvOptions{Groups: 1, TimeInput: true, Eps: 1e-3}), 2},
		{"conv/instnorm", mustConv(t, 3, 3, 3, 0, ConvOptions{Groups: 3}), 2},
		{"conv/relu/time", mustConv(t, 2, 4, 5, 3, ConvOptions{Act: ActReLU, TimeInput: true}), 2},
		{"conv/thin", mustConv(t, 2, 1, 3, 2, ConvOptions{TimeInput: true, Groups: 1}), 3},
		{"conv/column", mustConv(t, 1, 4, 1, 2, ConvOptions{}), 2},
	}
}

// randNormals returns n values sd·N(0, 1) from a seeded source.
func randNormals(seed uint64, n int, sd float64) []float64 {
	v := make([]float64, n)
	fillNormal(v, sd, rand.New(rand.NewPCG(seed, 7)))
	return v
}

// randPoint returns a random state and random parameters (initialised, then
// perturbed so that biases, γ and β are not at their initial values).
func randPoint(f testField, rows int, seed uint64) (x, theta []float64) {
	x = randNormals(seed, rows*f.Dim(), 1)
	theta = make([]float64, f.NumParams())
	f.Init(theta, rand.New(rand.NewPCG(seed, 11)))
	for i, p := range randNormals(seed+1, len(theta), 0.3) {
		theta[i] += p
	}
	return x, theta
}

func evalField(t testing.TB, f fode.Field, tEval float64, x, theta []float64) []float64 {
	t.Helper()
	y := make([]float64, len(x))
	if err := f.Eval(y, tEval, x, theta); err != nil {
		t.Fatal(err)
	}
	return y
}

func vdot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func vnorm(a []float64) float64 { return math.Sqrt(vdot(a, a)) }

// relDiff returns ‖got - want‖ / ‖want‖.
func relDiff(got, want []float64) float64 {
	d := make([]float64, len(got))
	for i := range got {
		d[i] = got[i] - want[i]
	}
	return vnorm(d) / max(vnorm(want), 1e-300)
}

func axpyNew(a float64, x, y []float64) []float64 {
	z := make([]float64, len(y))
	for i := range y {
		z[i] = y[i] + a*x[i]
	}
	return z
}

const (
	fdStep = 1e-5
	fdTol  = 1e-6
	tEval  = 0.7
)

// TestVJPFiniteDifferences checks xbar and thetabar against central
// differences of vᵀ f, component by component.
func TestVJPFiniteDifferences(t *testing.T) {
	for _, c := range fieldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			x, theta := randPoint(f, c.rows, 1)
			v := randNormals(3, len(x), 1)
			xbar := make([]float64, len(x))
			thetabar := make([]float64, len(theta))
			if err := f.VJP(xbar, thetabar, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			phi := func(x, theta []float64) float64 { return vdot(v, evalField(t, f, tEval, x, theta)) }
			fdx := make([]float64, len(x))
			for i := range x {
				xp, xm := append([]float64(nil), x...), append([]float64(nil), x...)
				xp[i] += fdStep
				xm[i] -= fdStep
				fdx[i] = (phi(xp, theta) - phi(xm, theta)) / (2 * fdStep)
			}
			fdth := make([]float64, len(theta))
			for i := range theta {
				tp, tmn := append([]float64(nil), theta...), append([]float64(nil), theta...)
				tp[i] += fdStep
				tmn[i] -= fdStep
				fdth[i] = (phi(x, tp) - phi(x, tmn)) / (2 * fdStep)
			}
			t.Logf("relative errors: xbar %.2g, thetabar %.2g", relDiff(xbar, fdx), relDiff(thetabar, fdth))
			if e := relDiff(xbar, fdx); e > fdTol {
				t.Errorf("xbar: relative error %.3g against finite differences", e)
			}
			if e := relDiff(thetabar, fdth); e > fdTol {
				t.Errorf("thetabar: relative error %.3g against finite differences", e)
			}
		})
	}
}

// TestJVPFiniteDifferences checks J·(ẋ, θ̇) against a central difference of
// f along (ẋ, θ̇), and J·ẋ with a nil θ̇.
func TestJVPFiniteDifferences(t *testing.T) {
	for _, c := range fieldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			x, theta := randPoint(f, c.rows, 5)
			xd := randNormals(6, len(x), 1)
			thd := randNormals(7, len(theta), 1)
			for _, withTheta := range []bool{true, false} {
				var td []float64
				if withTheta {
					td = thd
				}
				got := make([]float64, len(x))
				if err := f.JVP(got, tEval, x, theta, xd, td); err != nil {
					t.Fatal(err)
				}
				tdir := make([]float64, len(theta))
				if withTheta {
					tdir = thd
				}
				yp := evalField(t, f, tEval, axpyNew(fdStep, xd, x), axpyNew(fdStep, tdir, theta))
				ym := evalField(t, f, tEval, axpyNew(-fdStep, xd, x), axpyNew(-fdStep, tdir, theta))
				want := axpyNew(-1, ym, yp)
				for i := range want {
					want[i] /= 2 * fdStep
				}
				t.Logf("thetadot %v: relative error %.2g", withTheta, relDiff(got, want))
				if e := relDiff(got, want); e > fdTol {
					t.Errorf("thetadot %v: relative error %.3g against finite differences", withTheta, e)
				}
			}
		})
	}
}

// TestDuality checks vᵀ(J u) = (Jᵀ v)ᵀ u with u = (ẋ, θ̇).
func TestDuality(t *testing.T) {
	for _, c := range fieldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			for seed := uint64(10); seed < 13; seed++ {
				x, theta := randPoint(f, c.rows, seed)
				v := randNormals(seed+20, len(x), 1)
				xd := randNormals(seed+30, len(x), 1)
				thd := randNormals(seed+40, len(theta), 1)
				ju := make([]float64, len(x))
				if err := f.JVP(ju, tEval, x, theta, xd, thd); err != nil {
					t.Fatal(err)
				}
				xbar := make([]float64, len(x))
				thetabar := make([]float64, len(theta))
				if err := f.VJP(xbar, thetabar, tEval, x, theta, v); err != nil {
					t.Fatal(err)
				}
				a := vdot(v, ju)
				b := vdot(xbar, xd) + vdot(thetabar, thd)
				if seed == 10 {
					t.Logf("relative duality gap %.2g", math.Abs(a-b)/max(math.Abs(a), math.Abs(b)))
				}
				if math.Abs(a-b) > 1e-12*max(math.Abs(a), math.Abs(b)) {
					t.Errorf("seed %d: vᵀ(J u) = %.17g, (Jᵀ v)ᵀ u = %.17g", seed, a, b)
				}
			}
		})
	}
}

// TestEvalReference compares Eval with direct loops over the definition.
func TestEvalReference(t *testing.T) {
	for _, c := range fieldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			x, theta := randPoint(c.f, c.rows, 50)
			got := evalField(t, c.f, tEval, x, theta)
			var want []float64
			switch f := c.f.(type) {
			case *MLPField:
				want = refMLP(f, tEval, x, theta)
			case *ConvField:
				want = refConv(f, tEval, x, theta)
			}
			if e := relDiff(got, want); e > 1e-13 {
				t.Errorf("relative error %.3g against the direct loops", e)
			}
		})
	}
}

func refMLP(f *MLPField, t float64, x, theta []float64) []float64 {
	d, k, in := f.dim, f.hidden, f.in
	out := make([]float64, len(x))
	u := make([]float64, in)
	h := make([]float64, k)
	for r := 0; r < len(x)/d; r++ {
		copy(u, x[r*d:(r+1)*d])
		if f.timeInput {
			u[d] = t
		}
		for i := range k {
			s := theta[f.offB1+i]
			for j := range in {
				s += theta[i*in+j] * u[j]
			}
			h[i] = math.Tanh(s)
		}
		for i := range d {
			s := theta[f.offB2+i]
			for j := range k {
				s += theta[f.offW2+i*k+j] * h[j]
			}
			out[r*d+i] = s
		}
	}
	return out
}

// refConv evaluates the ConvField by direct convolution.
func refConv(f *ConvField, t float64, x, theta []float64) []float64 {
	C, H, W, Ch, Cin := f.c, f.h, f.w, f.ch, f.cin
	conv := func(out, in, k, b []float64, cout, cin int) {
		for o := range cout {
			for y := range H {
				for xx := range W {
					s := b[o]
					for i := range cin {
						for ky := range 3 {
							for kx := range 3 {
								sy, sx := y+ky-1, xx+kx-1
								if sy < 0 || sy >= H || sx < 0 || sx >= W {
									continue
								}
								s += k[((o*cin+i)*3+ky)*3+kx] * in[(i*H+sy)*W+sx]
							}
						}
					}
					out[(o*H+y)*W+xx] = s
				}
			}
		}
	}
	dim := f.Dim()
	out := make([]float64, len(x))
	u := make([]float64, Cin*H*W)
	z := make([]float64, Ch*H*W)
	for r := 0; r < len(x)/dim; r++ {
		copy(u, x[r*dim:(r+1)*dim])
		for i := C * H * W; i < len(u); i++ {
			u[i] = t
		}
		conv(z, u, theta[:f.offB1], theta[f.offB1:], Ch, Cin)
		if g := f.opt.Groups; g > 0 {
			n := len(z) / g
			for gi := range g {
				var mu, m2 float64
				for _, v := range z[gi*n : (gi+1)*n] {
					mu += v
				}
				mu /= float64(n)
				for _, v := range z[gi*n : (gi+1)*n] {
					m2 += (v - mu) * (v - mu)
				}
				sd := math.Sqrt(m2/float64(n) + f.opt.Eps)
				for j := gi * n; j < (gi+1)*n; j++ {
					c := j / (H * W)
					z[j] = theta[f.offGamma+c]*(z[j]-mu)/sd + theta[f.offBeta+c]
				}
			}
		}
		for i, v := range z {
			if f.opt.Act == ActReLU {
				z[i] = max(v, 0)
			} else {
				z[i] = math.Tanh(v)
			}
		}
		conv(out[r*dim:(r+1)*dim], z, theta[f.offK2:f.offB2], theta[f.offB2:], C, Ch)
	}
	return out
}

// TestThetabarAccumulates checks that VJP adds into thetabar.
func TestThetabarAccumulates(t *testing.T) {
	for _, c := range fieldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			x, theta := randPoint(f, c.rows, 60)
			v := randNormals(61, len(x), 1)
			g := make([]float64, len(theta))
			if err := f.VJP(nil, g, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			start := randNormals(62, len(theta), 1)
			acc := append([]float64(nil), start...)
			if err := f.VJP(nil, acc, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			want := axpyNew(1, g, start)
			if e := relDiff(acc, want); e > 1e-14 {
				t.Errorf("thetabar after VJP differs from start + gradient by %.3g", e)
			}
			// Twice the same VJP into one accumulator doubles it.
			if err := f.VJP(nil, acc, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			if e := relDiff(acc, axpyNew(2, g, start)); e > 1e-14 {
				t.Errorf("thetabar after two VJPs differs from start + 2·gradient by %.3g", e)
			}
		})
	}
}

// TestNilDestinations checks that each product is the same whether or not
// the other one is requested, and that a nil θ̇ means zero.
func TestNilDestinations(t *testing.T) {
	for _, c := range fieldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			x, theta := randPoint(f, c.rows, 70)
			v := randNormals(71, len(x), 1)
			xbar := make([]float64, len(x))
			thetabar := make([]float64, len(theta))
			if err := f.VJP(xbar, thetabar, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			xbar2 := randNormals(72, len(x), 1) // overwritten
			if err := f.VJP(xbar2, nil, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			thetabar2 := make([]float64, len(theta))
			if err := f.VJP(nil, thetabar2, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			if err := f.VJP(nil, nil, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			if e := relDiff(xbar2, xbar); e != 0 {
				t.Errorf("xbar with a nil thetabar differs by %.3g", e)
			}
			if e := relDiff(thetabar2, thetabar); e != 0 {
				t.Errorf("thetabar with a nil xbar differs by %.3g", e)
			}
			xd := randNormals(73, len(x), 1)
			j1 := make([]float64, len(x))
			j2 := make([]float64, len(x))
			if err := f.JVP(j1, tEval, x, theta, xd, nil); err != nil {
				t.Fatal(err)
			}
			if err := f.JVP(j2, tEval, x, theta, xd, make([]float64, len(theta))); err != nil {
				t.Fatal(err)
			}
			if e := relDiff(j1, j2); e > 1e-15 {
				t.Errorf("JVP with a nil thetadot differs from a zero one by %.3g", e)
			}
		})
	}
}

// TestAliasing checks that dst may be x in Eval and JVP, and xbar may be x
// or v in VJP.
func TestAliasing(t *testing.T) {
	for _, c := range fieldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			x, theta := randPoint(f, c.rows, 80)
			v := randNormals(81, len(x), 1)
			want := evalField(t, f, tEval, x, theta)
			y := append([]float64(nil), x...)
			if err := f.Eval(y, tEval, y, theta); err != nil {
				t.Fatal(err)
			}
			if e := relDiff(y, want); e != 0 {
				t.Errorf("Eval in place differs by %.3g", e)
			}
			xbar := make([]float64, len(x))
			if err := f.VJP(xbar, nil, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			xa := append([]float64(nil), x...)
			if err := f.VJP(xa, nil, tEval, xa, theta, v); err != nil {
				t.Fatal(err)
			}
			va := append([]float64(nil), v...)
			if err := f.VJP(va, nil, tEval, x, theta, va); err != nil {
				t.Fatal(err)
			}
			if relDiff(xa, xbar) != 0 || relDiff(va, xbar) != 0 {
				t.Errorf("VJP with xbar = x or v differs")
			}
			jv := make([]float64, len(x))
			if err := f.JVP(jv, tEval, x, theta, v, nil); err != nil {
				t.Fatal(err)
			}
			va = append(va[:0], v...)
			if err := f.JVP(va, tEval, x, theta, va, nil); err != nil {
				t.Fatal(err)
			}
			if relDiff(va, jv) != 0 {
				t.Errorf("JVP with dst = xdot differs")
			}
		})
	}
}

func TestConstructorErrors(t *testing.T) {
	for _, c := range []struct {
		name        string
		dim, hidden int
	}{{"dim0", 0, 3}, {"hidden0", 3, 0}, {"negative", -1, -1}} {
		if _, err := NewMLPField(c.dim, c.hidden, false); err == nil {
			t.Errorf("NewMLPField %s: no error", c.name)
		}
	}
	for _, c := range []struct {
		name          string
		ch, h, w, hid int
		opt           ConvOptions
	}{
		{"channels0", 0, 3, 3, 2, ConvOptions{}},
		{"height0", 2, 0, 3, 2, ConvOptions{}},
		{"width0", 2, 3, 0, 2, ConvOptions{}},
		{"hiddenNeg", 2, 3, 3, -1, ConvOptions{}},
		{"groupsNeg", 2, 3, 3, 4, ConvOptions{Groups: -1}},
		{"groupsNotDividing", 2, 3, 3, 4, ConvOptions{Groups: 3}},
		{"groupsTooMany", 2, 3, 3, 4, ConvOptions{Groups: 8}},
		{"act", 2, 3, 3, 4, ConvOptions{Act: Activation(9)}},
		{"epsNeg", 2, 3, 3, 4, ConvOptions{Groups: 2, Eps: -1}},
		{"epsNaN", 2, 3, 3, 4, ConvOptions{Groups: 2, Eps: math.NaN()}},
	} {
		if _, err := NewConvField(c.ch, c.h, c.w, c.hid, c.opt); err == nil {
			t.Errorf("NewConvField %s: no error", c.name)
		}
	}
	f := mustConv(t, 3, 2, 2, 0, ConvOptions{})
	if f.Hidden() != 3 || f.Options().Eps != 1e-5 || f.Options().Act.String() != "tanh" {
		t.Errorf("defaults: hidden %d, eps %v, act %v", f.Hidden(), f.Options().Eps, f.Options().Act)
	}
}

// TestBadLengths checks that every length mismatch is an error, not a panic.
func TestBadLengths(t *testing.T) {
	for _, c := range fieldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			x, theta := randPoint(f, 2, 90)
			n, p := len(x), len(theta)
			z := func(k int) []float64 { return make([]float64, k) }
			short := x[:n-1]
			for _, b := range []struct {
				name string
				call func() error
			}{
				{"Eval x", func() error { return f.Eval(z(n-1), tEval, short, theta) }},
				{"Eval dst", func() error { return f.Eval(z(n+f.Dim()), tEval, x, theta) }},
				{"Eval nil dst", func() error { return f.Eval(nil, tEval, x, theta) }},
				{"Eval theta", func() error { return f.Eval(z(n), tEval, x, theta[:p-1]) }},
				{"VJP x", func() error { return f.VJP(z(n-1), z(p), tEval, short, theta, z(n-1)) }},
				{"VJP v", func() error { return f.VJP(z(n), z(p), tEval, x, theta, z(n-1)) }},
				{"VJP nil v", func() error { return f.VJP(z(n), z(p), tEval, x, theta, nil) }},
				{"VJP xbar", func() error { return f.VJP(z(n+1), z(p), tEval, x, theta, z(n)) }},
				{"VJP thetabar", func() error { return f.VJP(z(n), z(p+1), tEval, x, theta, z(n)) }},
				{"VJP theta", func() error { return f.VJP(z(n), nil, tEval, x, theta[:p-1], z(n)) }},
				{"JVP dst", func() error { return f.JVP(z(n-1), tEval, x, theta, z(n), nil) }},
				{"JVP xdot", func() error { return f.JVP(z(n), tEval, x, theta, z(n-1), nil) }},
				{"JVP nil xdot", func() error { return f.JVP(z(n), tEval, x, theta, nil, nil) }},
				{"JVP thetadot", func() error { return f.JVP(z(n), tEval, x, theta, z(n), z(p-1)) }},
				{"JVP theta", func() error { return f.JVP(z(n), tEval, x, append(theta, 0), z(n), nil) }},
			} {
				err := b.call()
				if err == nil {
					t.Errorf("%s: no error", b.name)
				} else if !strings.HasPrefix(err.Error(), "layers: ") {
					t.Errorf("%s: error %q lacks the package prefix", b.name, err)
				}
			}
			// An empty batch is fine.
			if err := f.Eval(nil, tEval, nil, theta); err != nil {
				t.Errorf("empty batch: %v", err)
			}
			if err := f.VJP(nil, z(p), tEval, nil, theta, nil); err != nil {
				t.Errorf("empty batch VJP: %v", err)
			}
		})
	}
}

func TestInit(t *testing.T) {
	m := mustMLP(t, 20, 30, true)
	th := make([]float64, m.NumParams())
	m.Init(th, rand.New(rand.NewPCG(1, 2)))
	lay := m.Layout()
	checkUniform(t, "MLP W1", lay[0].Slice(th), math.Sqrt(6.0/(21+30)))
	checkUniform(t, "MLP W2", lay[2].Slice(th), math.Sqrt(6.0/(30+20)))
	checkConst(t, "MLP b1", lay[1].Slice(th), 0)
	checkConst(t, "MLP b2", lay[3].Slice(th), 0)

	for _, act := range []Activation{ActTanh, ActReLU} {
		c := mustConv(t, 4, 5, 5, 8, ConvOptions{Groups: 2, TimeInput: true, Act: act})
		th := make([]float64, c.NumParams())
		c.Init(th, nil)
		blocks := map[string][]float64{}
		for _, b := range c.Layout() {
			blocks[b.Name] = b.Slice(th)
		}
		lim1 := math.Sqrt(6.0 / (9 * (5 + 8)))
		if act == ActReLU {
			lim1 = math.Sqrt(6.0 / (9 * 5))
		}
		checkUniform(t, "conv K1 "+act.String(), blocks["K1"], lim1)
		checkUniform(t, "conv K2", blocks["K2"], math.Sqrt(6.0/(9*(8+4))))
		checkConst(t, "conv b1", blocks["b1"], 0)
		checkConst(t, "conv gamma", blocks["gamma"], 1)
		checkConst(t, "conv beta", blocks["beta"], 0)
		checkConst(t, "conv b2", blocks["b2"], 0)
	}

	for _, f := range []testField{m, mustConv(t, 1, 2, 2, 1, ConvOptions{})} {
		if err := f.Init(make([]float64, f.NumParams()-1), nil); err == nil {
			t.Errorf("%T.Init accepted a short θ", f)
		}
	}
}

// checkUniform checks that s looks like U(-lim, lim): inside the bounds,
// with mean near 0 and variance near lim²/3.
func checkUniform(t *testing.T, name string, s []float64, lim float64) {
	t.Helper()
	var mean, m2 float64
	for _, v := range s {
		if math.Abs(v) > lim {
			t.Fatalf("%s: %v outside ±%v", name, v, lim)
		}
		mean += v
		m2 += v * v
	}
	n := float64(len(s))
	mean /= n
	m2 /= n
	if want := lim * lim / 3; math.Abs(mean) > 4*lim/math.Sqrt(3*n) || math.Abs(m2-want) > 0.25*want {
		t.Errorf("%s: mean %v, second moment %v; want about 0 and %v", name, mean, m2, want)
	}
}

func checkConst(t *testing.T, name string, s []float64, c float64) {
	t.Helper()
	if len(s) == 0 {
		t.Fatalf("%s: empty", name)
	}
	for _, v := range s {
		if v != c {
			t.Fatalf("%s: %v, want %v", name, v, c)
		}
	}
}

// TestLayout checks that the parameter blocks tile θ in order.
func TestLayout(t *testing.T) {
	for _, c := range fieldCases(t) {
		off := 0
		for _, b := range c.f.Layout() {
			if b.Offset != off {
				t.Errorf("%s: block %s at %d, want %d", c.name, b.Name, b.Offset, off)
			}
			off += b.Size()
		}
		if off != c.f.NumParams() {
			t.Errorf("%s: blocks hold %d values, NumParams %d", c.name, off, c.f.NumParams())
		}
	}
	want := "W1 [4 6] b1 [4] W2 [5 4] b2 [5]"
	var got []string
	for _, b := range mustMLP(t, 5, 4, true).Layout() {
		got = append(got, fmt.Sprint(b.Name, " ", b.Shape))
	}
	if s := strings.Join(got, " "); s != want {
		t.Errorf("MLP layout %q, want %q", s, want)
	}
	want = "K1 [6 3 3 3] b1 [6] gamma [6] beta [6] K2 [2 6 3 3] b2 [2]"
	got = got[:0]
	for _, b := range mustConv(t, 2, 4, 4, 6, ConvOptions{Groups: 3, TimeInput: true}).Layout() {
		got = append(got, fmt.Sprint(b.Name, " ", b.Shape))
	}
	if s := strings.Join(got, " "); s != want {
		t.Errorf("conv layout %q, want %q", s, want)
	}
}

// TestConcurrent evaluates disjoint row blocks from several goroutines and
// compares with one call on the whole batch.
func TestConcurrent(t *testing.T) {
	const rows, workers = 24, 4
	for _, c := range []fieldCase{
		{"mlp", mustMLP(t, 16, 24, true), rows},
		{"conv", mustConv(t, 3, 6, 6, 4, ConvOptions{Groups: 2, TimeInput: true}), rows},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			x, theta := randPoint(f, rows, 100)
			v := randNormals(101, len(x), 1)
			xd := randNormals(102, len(x), 1)
			d := f.Dim()
			wantY := evalField(t, f, tEval, x, theta)
			wantXbar := make([]float64, len(x))
			wantTbar := make([]float64, len(theta))
			if err := f.VJP(wantXbar, wantTbar, tEval, x, theta, v); err != nil {
				t.Fatal(err)
			}
			wantJ := make([]float64, len(x))
			if err := f.JVP(wantJ, tEval, x, theta, xd, nil); err != nil {
				t.Fatal(err)
			}
			y := make([]float64, len(x))
			xbar := make([]float64, len(x))
			jv := make([]float64, len(x))
			tbars := make([][]float64, workers)
			errs := make([]error, workers)
			var wg sync.WaitGroup
			for w := range workers {
				tbars[w] = make([]float64, len(theta))
				wg.Add(1)
				go func() {
					defer wg.Done()
					per := rows / workers
					lo, hi := w*per*d, (w+1)*per*d
					for range 20 {
						if err := f.Eval(y[lo:hi], tEval, x[lo:hi], theta); err != nil {
							errs[w] = err
							return
						}
						if err := f.JVP(jv[lo:hi], tEval, x[lo:hi], theta, xd[lo:hi], nil); err != nil {
							errs[w] = err
							return
						}
					}
					errs[w] = f.VJP(xbar[lo:hi], tbars[w], tEval, x[lo:hi], theta, v[lo:hi])
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			tbar := make([]float64, len(theta))
			for _, tb := range tbars {
				tbar = axpyNew(1, tb, tbar)
			}
			if e := relDiff(y, wantY); e != 0 {
				t.Errorf("Eval: concurrent differs from serial by %.3g", e)
			}
			if e := relDiff(jv, wantJ); e != 0 {
				t.Errorf("JVP: concurrent differs from serial by %.3g", e)
			}
			if e := relDiff(xbar, wantXbar); e != 0 {
				t.Errorf("VJP xbar: concurrent differs from serial by %.3g", e)
			}
			if e := relDiff(tbar, wantTbar); e > 1e-13 {
				t.Errorf("VJP thetabar: concurrent differs from serial by %.3g", e)
			}
		})
	}
}

// TestAllocs checks that Eval, VJP and JVP allocate nothing after a
// warm-up call, at the benchmark sizes and at sizes where gonum's Dgemm
// would go parallel (and allocate) without gemm's tiling.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	// Two collections between the warm-up and the count would empty the
	// pools (on a loaded machine, with other packages' tests running).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, c := range []fieldCase{
		{"mlp/128x64x64", mustMLP(t, 64, 64, false), 128},
		{"mlp/300x200x256/time", mustMLP(t, 200, 256, true), 300},
		{"conv/32x16x14x14", mustConv(t, 16, 14, 14, 16, ConvOptions{}), 32},
		{"conv/4x8x20x20/gn/time", mustConv(t, 8, 20, 20, 32, ConvOptions{Groups: 4, TimeInput: true}), 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			x, theta := randPoint(f, c.rows, 110)
			v := randNormals(111, len(x), 1)
			y := make([]float64, len(x))
			xbar := make([]float64, len(x))
			tbar := make([]float64, len(theta))
			for name, call := range map[string]func(){
				"Eval": func() { _ = f.Eval(y, tEval, x, theta) },
				"VJP":  func() { _ = f.VJP(xbar, tbar, tEval, x, theta, v) },
				"JVP":  func() { _ = f.JVP(y, tEval, x, theta, v, tbar) },
			} {
				call()
				if a := testing.AllocsPerRun(5, call); a != 0 {
					t.Errorf("%s: %v allocations per call", name, a)
				}
			}
		})
	}
}

func mlpFlops(rows, d, k, in int) (eval, vjp, jvp float64) {
	r := float64(rows)
	eval = 2 * r * float64(in*k+k*d)
	vjp = 2 * r * float64(k) * float64(5*d) // H, V W2, Vᵀ H, Gᵀ X, G W1
	jvp = 2 * r * float64(k) * float64(3*d) // H, Ẋ W1ᵀ, Ḣ W2ᵀ
	return
}

func BenchmarkMLPField(b *testing.B) {
	const rows, d, k = 128, 64, 64
	f := mustMLP(b, d, k, false)
	x, theta := randPoint(f, rows, 1)
	v := randNormals(2, len(x), 1)
	y := make([]float64, len(x))
	xbar := make([]float64, len(x))
	tbar := make([]float64, len(theta))
	fe, fv, fj := mlpFlops(rows, d, k, d)
	b.Run("Eval", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.Eval(y, tEval, x, theta); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(fe*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("VJP", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.VJP(xbar, tbar, tEval, x, theta, v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(fv*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("JVP", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.JVP(y, tEval, x, theta, v, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(fj*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

func BenchmarkConvField(b *testing.B) {
	const rows, c, hw = 32, 16, 14
	for _, bc := range []struct {
		name string
		opt  ConvOptions
	}{{"tanh", ConvOptions{}}, {"gn/time", ConvOptions{Groups: 4, TimeInput: true}}} {
		f := mustConv(b, c, hw, hw, c, bc.opt)
		x, theta := randPoint(f, rows, 1)
		v := randNormals(2, len(x), 1)
		y := make([]float64, len(x))
		xbar := make([]float64, len(x))
		tbar := make([]float64, len(theta))
		// One convolution costs 2·Cout·Cin·9·H·W per sample; Eval does two,
		// VJP five (conv1 again, ∂K2, ∂a, ∂K1, ∂x).
		conv1 := 2 * float64(rows*f.ch*f.cin*9*f.hw)
		conv2 := 2 * float64(rows*f.c*f.ch*9*f.hw)
		b.Run(bc.name+"/Eval", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Eval(y, tEval, x, theta); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((conv1+conv2)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(bc.name+"/VJP", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := f.VJP(xbar, tbar, tEval, x, theta, v); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((3*conv1+2*conv2)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
