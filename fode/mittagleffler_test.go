package fode

import (
	"fmt"
	"math"
	"sort"
	"testing"
)

// mlTol is the accuracy demanded of MittagLeffler: absolute where the value
// is below 1 in magnitude, relative above. The worst error over all the
// tests is 6.8e-14 now (the contour for z > 4^a; MittagLeffler's doc
// comment says 7e-14), most are below 5e-15.
const mlTol = 2e-13

// mlErr is the mixed absolute/relative error of got against want.
func mlErr(got, want float64) float64 {
	if got == want { // also equal infinities
		return 0
	}
	return math.Abs(got-want) / math.Max(1, math.Abs(want))
}

// mlTestExpSq returns exp(x^2) without the rounding error of x*x, which
// would otherwise cost up to x^2 ulps.
func mlTestExpSq(x float64) float64 {
	x2 := x * x
	lo := math.FMA(x, x, -x2)
	if x2 > 700 { // math.Exp overflows early on some platforms
		e := math.Exp(x2 / 2)
		return e * (e * (1 + lo))
	}
	return math.Exp(x2) * (1 + lo)
}

// mlTestErfcx returns the scaled complementary error function
// exp(x^2) erfc(x), stable for large x: below 26 math.Erfc has full
// relative accuracy (erfc(26) ~ 1e-296 is still a normal number) and
// exp(x^2) is formed with the exact square; above, the asymptotic series
// erfcx(x) = 1/(x sqrt(pi)) sum_n (-1)^n (2n-1)!!/(2x^2)^n converges to
// full precision within 8 terms.
func mlTestErfcx(x float64) float64 {
	if x < 26 {
		return mlTestExpSq(x) * math.Erfc(x)
	}
	y := 1 / (2 * x * x)
	sum, term := 1.0, 1.0
	for n := 1; n < 20 && math.Abs(term) > 1e-18; n++ {
		term *= -float64(2*n-1) * y
		sum += term
	}
	return sum / (x * math.Sqrt(math.Pi))
}

// mlSinPi returns sin(pi x), exactly 0 at integers.
func mlSinPi(x float64) float64 {
	if x == math.Trunc(x) {
		return 0
	}
	return math.Sin(math.Pi * x)
}

// mlRefHankelStep integrates the Hankel-contour representation, valid for
// z < 0, 0 < a < 1 and 0 < b < 1+a,
//
//	E_{a,b}(z) = 1/pi ∫_0^inf e^(-u) u^(a-b)
//	             (u^a sin(pi b) + z sin(pi (a-b))) / D(u) du,
//	D(u) = u^(2a) - 2 z u^a cos(pi a) + z^2,
//
// with the exp-sinh substitution u = exp(pi/2 sinh t) and the trapezoidal
// rule of step h in t. It shares nothing with MittagLeffler.
func mlRefHankelStep(a, b, z, h float64) float64 {
	sa, sb, sab := mlSinPi(a), mlSinPi(b), mlSinPi(a-b)
	ca := math.Cos(math.Pi * a)
	g := func(t float64) float64 {
		u := math.Exp(math.Pi / 2 * math.Sinh(t))
		if u == 0 || math.IsInf(u, 0) {
			return 0
		}
		ua := math.Pow(u, a)
		d := (ua-z*ca)*(ua-z*ca) + z*z*sa*sa
		v := math.Exp(-u) * math.Pow(u, a-b) * (ua*sb + z*sab) / d
		return v * u * math.Pi / 2 * math.Cosh(t)
	}
	sum := g(0)
	for k := 1; k < 1<<22; k++ {
		t := h * float64(k)
		p, m := g(t), g(-t)
		sum += p + m
		if t > 3 && math.Abs(p)+math.Abs(m) < 1e-20*math.Abs(sum) {
			break
		}
	}
	return h * sum / math.Pi
}

// mlRefHankel halves the step of mlRefHankelStep until two successive
// values agree to 2e-15; ok reports whether they did. For b >= 1+a it
// integrates at c = b - m a in [1, 1+a) and steps up with
// E_{a,c+a}(z) = (E_{a,c}(z) - 1/Gamma(c))/z, which is stable for |z| >= 1.
func mlRefHankel(a, b, z float64) (e float64, ok bool) {
	m := 0.0
	if b >= 1+a-1e-9 {
		m = math.Floor((b-1)/a + 1e-9)
	}
	c := b - m*a
	h := 1.0 / 16
	prev := mlRefHankelStep(a, c, z, h)
	for h > 1.0/16384 && !ok {
		h /= 2
		e = mlRefHankelStep(a, c, z, h)
		ok = math.Abs(e-prev) < 2e-15*math.Max(1, math.Abs(e))
		prev = e
	}
	for j := 0.0; j < m; j++ {
		e = (e - 1/math.Gamma(c+j*a)) / z
	}
	return e, ok
}

// mlRefSeries sums the series for z > 0, where all terms are positive, with
// directly computed powers and Gamma values; ok is false when these would
// overflow before the tail is negligible.
func mlRefSeries(a, b, z float64) (sum float64, ok bool) {
	peak := math.Pow(z, 1/a)
	for k := 0; k < 100000; k++ {
		x := a*float64(k) + b
		g, p := math.Gamma(x), math.Pow(z, float64(k))
		if math.IsInf(g, 0) || math.IsInf(p, 0) {
			return sum, false
		}
		term := p / g
		sum += term
		if x > 3 && x > peak && term < 1e-18*sum {
			return sum, true
		}
	}
	return sum, false
}

// mlMethod names the method MittagLeffler uses at (a, b, z), for the
// error breakdown that the tests log.
func mlMethod(a, b, z float64) string {
	switch {
	case z >= -1 && z <= math.Pow(4, a):
		return "series"
	case z < -mlAsymX && a < 1:
		return "asymptotic, z < -50"
	case b > 1+a:
		return "contour+recurrence, |z| > 1"
	case z < 0:
		return "contour, z < -1"
	}
	return "contour, z > 4^a"
}

// mlWorst records, per method, the worst error seen in a test and where.
type mlWorst map[string]struct {
	err  float64
	what string
}

func (w mlWorst) check(t *testing.T, method, what string, got, want float64) {
	t.Helper()
	e := mlErr(got, want)
	if !(e <= mlTol) {
		t.Errorf("%s = %.17g, want %.17g (err %.3g)", what, got, want, e)
	}
	if old, seen := w[method]; !seen || e > old.err || math.IsNaN(e) {
		w[method] = struct {
			err  float64
			what string
		}{e, what}
	}
}

func (w mlWorst) log(t *testing.T, name string) {
	methods := make([]string, 0, len(w))
	for m := range w {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	for _, m := range methods {
		t.Logf("%-38s %-28s worst error %.2e at %s", name, m, w[m].err, w[m].what)
	}
}

// mlGrid returns lo, lo+step, ..., up to hi inclusive.
func mlGrid(lo, hi, step float64) []float64 {
	var g []float64
	for i := 0; ; i++ {
		x := lo + float64(i)*step
		if x > hi+1e-9 {
			return g
		}
		g = append(g, x)
	}
}

func TestMittagLefflerClosedForms(t *testing.T) {
	ts := append(mlGrid(0, 2, 0.05), mlGrid(2.5, 200, 0.5)...)
	cases := []struct {
		name string
		a, b float64
		xs   []float64               // grid of the parameter x
		arg  func(x float64) float64 // z as a function of x
		want func(x float64) float64
	}{
		{"E_{1,1}(-t) = exp(-t)", 1, 1, ts,
			func(t float64) float64 { return -t }, func(t float64) float64 { return math.Exp(-t) }},
		{"E_{1,1}(t) = exp(t), t<=50", 1, 1, mlGrid(0, 50, 0.25),
			func(t float64) float64 { return t }, math.Exp},
		{"E_{1,2}(z) = (exp(z)-1)/z", 1, 2, mlGrid(-200, 50, 0.25),
			func(z float64) float64 { return z },
			func(z float64) float64 {
				if z == 0 {
					return 1
				}
				return math.Expm1(z) / z
			}},
		// With x = sqrt(t): E_{1/2,1}(-sqrt t) = exp(t) erfc(sqrt t).
		{"E_{1/2,1}(-sqrt t) = erfcx(sqrt t)", 0.5, 1, append(ts, 400, 1000, 1e4, 4e4),
			func(t float64) float64 { return -math.Sqrt(t) },
			func(t float64) float64 { return mlTestErfcx(math.Sqrt(t)) }},
		// erfc(-z) = 2 - erfc(z) lies in [1, 2): no cancellation.
		{"E_{1/2,1}(z) = exp(z^2) erfc(-z)", 0.5, 1, mlGrid(0, 26.5, 0.125),
			func(z float64) float64 { return z },
			func(z float64) float64 { return mlTestExpSq(z) * math.Erfc(-z) }},
		// E_{1/2,1/2}(z) = 1/sqrt(pi) + z E_{1/2,1}(z).
		{"E_{1/2,1/2}(-x) = 1/sqrtpi - x erfcx(x)", 0.5, 0.5, mlGrid(0, 200, 0.25),
			func(x float64) float64 { return -x },
			func(x float64) float64 { return 1/math.Sqrt(math.Pi) - x*mlTestErfcx(x) }},
		{"E_{2,1}(-x^2) = cos(x)", 2, 1, mlGrid(0, 14.1, 0.05),
			func(x float64) float64 { return -x * x }, math.Cos},
		{"E_{2,1}(x^2) = cosh(x)", 2, 1, mlGrid(0, 7.07, 0.05),
			func(x float64) float64 { return x * x }, math.Cosh},
		{"E_{2,2}(-x^2) = sin(x)/x", 2, 2, mlGrid(0.05, 14.1, 0.05),
			func(x float64) float64 { return -x * x },
			func(x float64) float64 { return math.Sin(x) / x }},
	}
	for _, c := range cases {
		w := mlWorst{}
		for _, x := range c.xs {
			z := c.arg(x)
			w.check(t, mlMethod(c.a, c.b, z), fmt.Sprintf("E_{%g,%g}(%g)", c.a, c.b, z), MittagLeffler(c.a, c.b, z), c.want(x))
		}
		w.log(t, c.name)
	}
}

func TestMittagLefflerRecurrence(t *testing.T) {
	// E_{a,b}(z) = 1/Gamma(b) + z E_{a,a+b}(z); the error allowed scales
	// with the largest of the three terms.
	as := []float64{0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.5, 2}
	bs := []float64{0.1, 0.5, 1, 1.5, 2, 3}
	zs := []float64{-200, -100, -50, -20, -10, -5, -2, -1.5, -1, -0.7, -0.3,
		0.3, 0.7, 1, 1.5, 2, 5, 10, 20, 50}
	w := mlWorst{}
	for _, a := range as {
		for _, b := range append(bs, a) {
			for _, z := range zs {
				e := MittagLeffler(a, b, z)
				if math.IsInf(e, 1) {
					continue // z^(1/a) beyond the float64 range
				}
				rhs := z * MittagLeffler(a, a+b, z)
				g := 1 / math.Gamma(b)
				scale := math.Max(1, math.Max(math.Abs(e), math.Abs(rhs)))
				w.check(t, mlMethod(a, b, z), fmt.Sprintf("a=%g b=%g z=%g", a, b, z), (e-g-rhs)/scale, 0)
			}
		}
	}
	w.log(t, "E_{a,b} = 1/Gamma(b) + z E_{a,a+b}")
}

func TestMittagLefflerNegativeQuadrature(t *testing.T) {
	// z in [-200, -1] (and -0.3, -0.6 for b < 1+a) against an independent
	// quadrature of the Hankel-contour integral.
	as := []float64{0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.75, 0.9}
	bs := []float64{0.1, 0.5, 1, 1.3, 2, 3}
	zs := []float64{-0.3, -0.6, -1, -1.01, -1.5, -2, -3, -5, -7.5, -10, -20,
		-33, -50, -77, -100, -150, -200}
	if testing.Short() {
		as = []float64{0.1, 0.5, 0.9}
	}
	w := mlWorst{}
	for _, a := range as {
		for _, b := range append(bs, a, a+1) {
			for _, z := range zs {
				if z > -1 && b >= 1+a {
					continue // the reference's recurrence needs |z| >= 1
				}
				want, ok := mlRefHankel(a, b, z)
				if !ok {
					t.Fatalf("reference quadrature did not converge: a=%g b=%g z=%g", a, b, z)
				}
				w.check(t, mlMethod(a, b, z), fmt.Sprintf("E_{%g,%g}(%g)", a, b, z), MittagLeffler(a, b, z), want)
			}
		}
	}
	w.log(t, "z<0 vs Hankel quadrature")
}

func TestMittagLefflerPositiveSeries(t *testing.T) {
	// 0 < z <= 50 with z^(1/a) <= 50 against the positive-term series.
	as := []float64{0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.75, 0.9, 0.99, 1, 1.3, 1.7, 2}
	bs := []float64{0.1, 0.5, 1, 1.3, 2, 3}
	w := mlWorst{}
	for _, a := range as {
		for _, b := range append(bs, a, a+1) {
			for z := 0.01; z <= 50 && math.Pow(z, 1/a) <= 50; z *= 1.07 {
				want, ok := mlRefSeries(a, b, z)
				if !ok {
					t.Fatalf("reference series overflowed: a=%g b=%g z=%g", a, b, z)
				}
				w.check(t, mlMethod(a, b, z), fmt.Sprintf("E_{%g,%g}(%g)", a, b, z), MittagLeffler(a, b, z), want)
			}
		}
	}
	w.log(t, "z>0 vs series")
}

func TestMittagLefflerSeriesContourAgree(t *testing.T) {
	// Where both apply, the series and the contour integral must agree.
	w := mlWorst{}
	for _, a := range []float64{0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 1, 1.5, 2} {
		for _, b := range []float64{0.1, 0.5, 1, a, a + 1} {
			for _, z := range []float64{-1, -0.8, -0.5, 0.5, 0.8, 1} {
				w.check(t, "contour vs series", fmt.Sprintf("a=%g b=%g z=%g", a, b, z), mlLaplace(a, b, z), mlSeries(a, b, z))
			}
		}
	}
	w.log(t, "series vs contour on |z| in [0.5, 1]")
}

func TestMittagLefflerAsymptoticContourAgree(t *testing.T) {
	// Beyond z = -50 (a < 1) the asymptotic expansion takes over from the
	// contour integral; both must agree there and further out.
	w := mlWorst{}
	for _, a := range []float64{0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99} {
		for _, b := range []float64{0.1, 0.5, 1, 1.5, a, a + 1} {
			for _, z := range []float64{-50.5, -60, -100, -200, -1e3, -1e4} {
				e, ok := mlAsymptotic(a, b, z)
				if !ok {
					t.Errorf("asymptotic expansion failed: a=%g b=%g z=%g", a, b, z)
					continue
				}
				w.check(t, "contour vs asymptotic", fmt.Sprintf("a=%g b=%g z=%g", a, b, z), mlLaplace(a, b, z), e)
			}
		}
	}
	w.log(t, "asymptotic vs contour for z <= -50")
}

func TestMittagLefflerSpecialValues(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		a, b, z, want float64
	}{
		{0, 1, 1, nan}, {-0.5, 1, 1, nan}, {2.5, 1, 1, nan}, {nan, 1, 1, nan}, {inf, 1, 1, nan},
		{0.5, 0, 1, nan}, {0.5, -1, 1, nan}, {0.5, nan, 1, nan}, {0.5, inf, 1, nan},
		{0.5, 1, nan, nan},
		{0.5, 1, 0, 1}, {0.5, 2, 0, 1}, {0.5, 0.5, 0, 1 / math.Sqrt(math.Pi)},
		{0.5, 1, inf, inf}, {0.5, 1, -inf, 0}, {1, 2, -inf, 0}, {2, 1, -inf, nan}, {2, 2, -inf, 0},
		{0.5, 1, 30, inf}, {0.1, 1, 2, inf}, {0.1, 1, 1e300, inf},
	}
	for _, c := range cases {
		got := MittagLeffler(c.a, c.b, c.z)
		if !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("MittagLeffler(%g, %g, %g) = %g, want %g", c.a, c.b, c.z, got, c.want)
		}
	}
	// Far out on the negative axis, for 0 < a < 1,
	// E_{a,b}(-x) = sum_{k=1}^{K} (-1)^(k+1) x^-k / Gamma(b - a k) + O(x^-(K+1)),
	// here with K = 4.
	rgamma := func(x float64) float64 {
		if x <= 0 && x == math.Trunc(x) {
			return 0
		}
		return 1 / math.Gamma(x)
	}
	for _, a := range []float64{0.1, 0.5, 0.9} {
		for _, b := range []float64{1, a, 2} {
			for _, x := range []float64{1e6, 1e12, 1e100, 1e300} {
				got := MittagLeffler(a, b, -x)
				want, sign, xk := 0.0, 1.0, 1.0
				for k := 1.0; k <= 4; k++ {
					xk /= x
					want += sign * xk * rgamma(b-a*k)
					sign = -sign
				}
				if math.Abs(got-want) > 1e-12*math.Abs(want) {
					t.Errorf("E_{%g,%g}(-%g) = %g, want %g", a, b, x, got, want)
				}
			}
		}
	}
}

func TestMittagLefflerNoPanic(t *testing.T) {
	// Odd inputs must return (NaN is fine) without panicking or hanging.
	vals := []float64{math.NaN(), math.Inf(-1), -1e308, -1e10, -700, -1, -1e-300, 0,
		5e-324, 1e-300, 1e-8, 0.5, 1, 2, 3, 10, 700, 1e10, 1e308, math.Inf(1)}
	for _, a := range append(vals, 1e-3, 0.999999, 1.000001, 1.999999) {
		for _, b := range vals {
			for _, z := range vals {
				_ = MittagLeffler(a, b, z)
			}
		}
	}
}

func ExampleMittagLeffler() {
	// E_{1/2,1}(-1) = e erfc(1).
	fmt.Printf("%.12f\n", MittagLeffler(0.5, 1, -1))
	// The relaxation function of a fractional ODE of order 0.8.
	fmt.Printf("%.12f\n", MittagLeffler(0.8, 1, -2))
	fmt.Printf("%.12f\n", MittagLeffler(0.8, 1, 2))
	// Output:
	// 0.427583576156
	// 0.189796692364
	// 13.415748887819
}

// mlBenchSink keeps the benchmarked calls from being optimized away.
var mlBenchSink float64

func BenchmarkMittagLeffler(b *testing.B) {
	cases := []struct {
		name    string
		a, b, z float64
	}{
		{"series/a=0.8/z=-0.5", 0.8, 1, -0.5},
		{"contour/a=0.8/z=-10", 0.8, 1, -10},
		{"asymptotic/a=0.8,b=0.8/z=-200", 0.8, 0.8, -200},
		{"contour/a=0.8/z=10", 0.8, 1, 10},
		{"contour+recurrence/a=0.8,b=2/z=-10", 0.8, 2, -10},
		{"contour/a=0.1/z=-10", 0.1, 1, -10},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				mlBenchSink = MittagLeffler(c.a, c.b, c.z)
			}
		})
	}
}
