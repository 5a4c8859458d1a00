package fode

import (
	"math"
	"math/cmplx"
)

// MittagLeffler returns E_{a,b}(z) = sum_{k>=0} z^k / Gamma(a k + b) for real z.
//
// The parameters must satisfy 0 < a <= 2 and b > 0, b finite; any other a
// or b, and a NaN z, give NaN. E_{a,b}(0) = 1/Gamma(b), E_{a,b}(+Inf) = +Inf
// and E_{a,b}(-Inf) = 0 (NaN for a = 2, b <= 1, where E_{2,b}(-x) keeps
// oscillating). Values beyond the float64 range (z > 0 with z^(1/a) above
// about 709) are +Inf. Special cases: E_{1,1}(z) = e^z,
// E_{1,2}(z) = (e^z - 1)/z, E_{1/2,1}(z) = e^(z^2) erfc(-z),
// E_{2,1}(-x^2) = cos x.
//
// The method depends on z:
//
//   - For -1 <= z <= 4^a (so |z|^(1/a) <= 4) the power series is summed
//     until the terms decrease and fall below 1e-17 of the sum (for
//     |z| < 1, until the geometric bound on the tail from
//     1/Gamma(x) <= 1.13 does). Cancellation for z < 0 is mild because the
//     sum of the absolute values of the terms, E_{a,b}(|z|) <= E_{a,b}(1),
//     stays of order 1/a.
//
//   - For -1 <= z < 0 and a < 0.01 the series is summed by Euler's
//     transformation (see mlEuler), which needs a few terms where the
//     plain series would need about 40/a; as a → 0 its value tends to
//     the limit 1/((1-z) Γ(b)) of E_{a,b}(z) for |z| < 1 (at a = 1e-6,
//     E_{a,1}(-1) = 0.49999986, the limit 1/2 minus γ a/4).
//
//   - For z < -50 and a < 1 the asymptotic expansion
//     E_{a,b}(z) = -sum_{k=1}^{K} z^-k / Gamma(b - a k) + z^-K E_{a,b-aK}(z)
//     is summed until the remainder, bounded by the size of the first
//     omitted term, is below 1e-17 of the sum (5 to 25 terms); if the
//     terms start to grow first, the contour integral below is used.
//
//   - Everywhere else E_{a,b}(z) is the value at t = 1 of the inverse
//     Laplace transform of s^(a-b)/(s^a - z), the transform of
//     t^(b-1) E_{a,b}(z t^a):
//
//     E_{a,b}(z) = 1/(2 pi i) ∫_C e^s s^(a-b) / (s^a - z) ds,
//
//     evaluated with the optimal parabolic contour (OPC) algorithm of
//     R. Garrappa, "Numerical evaluation of two and three parameter
//     Mittag-Leffler functions", SIAM J. Numer. Anal. 53(3):1350-1369,
//     2015. The Bromwich line is deformed into the parabola
//     s(u) = mu (1 + i u)^2, u real, and the integral is replaced by the
//     trapezoidal rule with step h on u = k h, |k| <= N. The integrand has
//     a branch point at s = 0 and poles at
//     s_j = |z|^(1/a) exp(i (arg z + 2 pi j)/a) on the principal sheet
//     (|arg s_j| < pi). The parabola is placed between the two consecutive
//     singularities (ordered by (Re s + |s|)/2, the mu of the parabola
//     through s) where the fewest nodes are needed, with mu, h and N
//     chosen so that discretization, truncation and round-off errors stay
//     near 1e-15; N is at most 200 and typically 27 to 40, and for real z
//     the nodes at -u mirror those at u, which halves the work. Poles to
//     the right of the parabola add their residues (1/a) s_j^(1-b) e^(s_j):
//     for z > 0 this is the dominant term (1/a) z^((1-b)/a) exp(z^(1/a));
//     for z < 0 and a <= 1 there are none. The contour is used with
//     b <= 1+a only, where the singularity at s = 0 is weak; for b > 1+a
//     (then |z| > 1) it is evaluated at c = b - m a in (1, 1+a] and the
//     recurrence E_{a,c+a}(z) = (E_{a,c}(z) - 1/Gamma(c)) / z, which does
//     not amplify errors for |z| > 1, brings c up to b.
//
// The work is bounded: a call needing more than 10^5 series terms or
// recurrence steps (only for a below about 1e-4 with 0 < z <= 4^a within
// about 4e-4 of 1, where E_{a,b}(z) grows like 1/a, or for (b-1)/a above
// 10^5) returns NaN.
//
// Accuracy: in the tests (z in [-200, 50], 0.1 <= a <= 2, 0 < b <= 3,
// against closed forms, the positive-term series and an independent
// quadrature of the Hankel-contour integral) the error, absolute where
// |E| < 1 and relative above, is at most 7e-14 and mostly below 5e-15.
// For large z > 0 the relative error grows with the condition number
// z^(1/a)/a of E_{a,b} (about 1e-13 for values near the overflow limit).
func MittagLeffler(a, b, z float64) float64 {
	if !(a > 0 && a <= 2) || !(b > 0) || math.IsInf(b, 1) || math.IsNaN(z) {
		return math.NaN()
	}
	switch {
	case z == 0:
		return 1 / math.Gamma(b)
	case math.IsInf(z, 1):
		return math.Inf(1)
	case math.IsInf(z, -1):
		if a == 2 && b <= 1 {
			return math.NaN()
		}
		return 0
	case z >= -1 && z < 0 && a < mlEulerA:
		if e, ok := mlEuler(a, b, z); ok {
			return e
		}
		return mlSeries(a, b, z)
	case z >= -1 && z <= math.Pow(4, a):
		return mlSeries(a, b, z)
	}
	if z < -mlAsymX && a < 1 {
		if e, ok := mlAsymptotic(a, b, z); ok {
			return e
		}
	}
	if b <= 1+a {
		return mlLaplace(a, b, z)
	}
	// b > 1+a and |z| > 1.
	m := math.Ceil((b - 1 - a) / a)
	if m > mlMaxSteps {
		return math.NaN()
	}
	c := b - m*a
	e := mlLaplace(a, c, z)
	for j := 0.0; j < m; j++ {
		e = (e - 1/math.Gamma(c+j*a)) / z
	}
	return e
}

const (
	// mlLogEps is log(2^-52), the unit round-off in the OPC error model.
	mlLogEps = -36.04365338911715
	// mlLogTol is log(1e-15), the target accuracy of the contour integral.
	mlLogTol = -34.538776394910684
	// mlMaxNodes bounds N; above it the target accuracy is relaxed tenfold.
	mlMaxNodes = 200
	// mlAsymX is the |z| beyond which z < 0, a < 1 tries the asymptotic
	// expansion.
	mlAsymX = 50
	// mlMaxSteps bounds the number of series terms and recurrence steps.
	mlMaxSteps = 1e5
	// mlEulerA is the a below which -1 <= z < 0 uses the Euler transform
	// of the series.
	mlEulerA = 0.01
	// mlEulerTerms bounds the terms of the Euler transform.
	mlEulerTerms = 60
)

// mlEuler sums the power series E_{a,b}(z) = Σ c_k z^k, c_k = 1/Γ(a k + b),
// for -1 <= z < 0 and small a by Euler's transformation
//
//	Σ_k c_k z^k = 1/(1-z) Σ_n w^n Δ^n c_0,  w = z/(1-z) ∈ [-1/2, 0),
//
// with Δ the forward difference. For small a the c_k vary slowly (Δ^n c_0
// is of order a^n), so a few terms suffice where the plain series, whose
// terms decay only through Γ(a k + b), would need about 40/a of them; as
// a → 0 it tends to 1/((1-z) Γ(b)). The differences come from a
// difference table whose round-off, at most 2^n ulp of max c_k, is
// cancelled by |w|^n <= 2^-n; the sum stops after two terms below 1e-16
// of it. ok is false if the terms have not died out after mlEulerTerms of
// them. Measured against the plain series for 5e-4 <= a < 0.01,
// 0.3 <= b <= 3 and -1 <= z < 0, the difference is below 1e-14.
func mlEuler(a, b, z float64) (e float64, ok bool) {
	w := z / (1 - z)
	// diag[k] = Δ^k c_{n-k} once c_n has been added.
	var diag [mlEulerTerms + 1]float64
	sum, wn := 0.0, 1.0
	small := 0
	for n := 0; n <= mlEulerTerms; n++ {
		cur := 1 / math.Gamma(a*float64(n)+b)
		for k := 0; k <= n; k++ {
			old := diag[k]
			diag[k] = cur
			cur -= old // Δ^(k+1) c_(n-k-1) = Δ^k c_(n-k) - Δ^k c_(n-k-1)
		}
		term := wn * diag[n]
		sum += term
		wn *= w
		if math.Abs(term) <= 1e-16*math.Abs(sum) {
			if small++; small == 2 {
				return sum / (1 - z), true
			}
		} else {
			small = 0
		}
	}
	return 0, false
}

// mlSeries sums the power series of E_{a,b}(z); it is meant for
// -1 <= z <= 4^a and returns NaN if the terms have not died out after
// mlMaxSteps of them.
func mlSeries(a, b, z float64) float64 {
	az := math.Abs(z)
	// Past x = a k + b = xDec the ratio of consecutive terms,
	// |z| Gamma(x)/Gamma(x+a) ~ |z|/x^a, is about 1 or less and decreasing,
	// so a negligible term means a negligible tail.
	xDec := math.Max(2, math.Pow(az, 1/a))
	sum, zk := 0.0, 1.0
	for k := 0.0; k < mlMaxSteps; k++ {
		x := a*k + b
		term := zk / math.Gamma(x)
		sum += term
		zk *= z
		tol := 1e-17 * math.Abs(sum)
		if x > xDec && math.Abs(term) <= tol {
			return sum
		}
		// Tail bound for |z| < 1 from 1/Gamma <= 1.13 on (0, inf).
		if az < 1 && 1.13*math.Abs(zk) <= tol*(1-az) {
			return sum
		}
	}
	return math.NaN()
}

// mlAsymptotic sums the asymptotic expansion
// E_{a,b}(z) ~ -sum_{k>=1} z^-k / Gamma(b - a k) for z < 0 and 0 < a < 1.
// The remainder after K terms is exactly z^-K E_{a,b-aK}(z). While
// x = b - a K > 0 that is at most 2 |z|^-K (E_{a,x} is completely monotone
// on the negative axis for x >= a, and |E_{a,x}| <= 2 for 0 < x < a);
// beyond, it is about the first omitted term, which is bounded by the
// envelope |z|^-K Gamma(1-x)/pi >= |z^-K / Gamma(x)|. The sum stops once
// the applicable bound is below 1e-17 of the sum; ok is false when the
// envelope starts to grow first (|z| too small for the expansion).
func mlAsymptotic(a, b, z float64) (e float64, ok bool) {
	sum, zk, prev := 0.0, 1.0, math.Inf(1)
	for k := 1.0; k <= 100+b/a && k <= mlMaxSteps; k++ {
		zk /= z
		x := b - a*k
		if x > 0 {
			sum -= zk / math.Gamma(x)
			if 2*math.Abs(zk) <= 1e-17*math.Abs(sum) {
				return sum, true
			}
			continue
		}
		// 1/Gamma(x) = Gamma(1-x) sin(pi x) / pi; exactly 0 at the poles.
		g := math.Gamma(1 - x)
		if x != math.Trunc(x) {
			sum -= zk * g * math.Sin(math.Pi*x) / math.Pi
		}
		bound := math.Abs(zk) * g / math.Pi
		if bound >= prev {
			return 0, false
		}
		if bound <= 1e-17*math.Abs(sum) {
			return sum, true
		}
		prev = bound
	}
	return 0, false
}

// mlLaplace evaluates E_{a,b}(z), z != 0 real, by Garrappa's optimal
// parabolic contour inversion of the Laplace transform s^(a-b)/(s^a - z).
func mlLaplace(a, b, z float64) float64 {
	// Singularities: the branch point at 0 and the poles s_j with
	// phi(s_j) = (Re s_j + |s_j|)/2 > 0, sorted by phi (poles on the
	// negative real axis lie inside every parabola and are left out).
	// For a <= 2 there are at most 3 poles on the principal sheet.
	r := math.Pow(math.Abs(z), 1/a)
	if z > 0 && math.IsInf(r, 1) {
		return math.Inf(1) // the residue exp(z^(1/a)) overflows
	}
	theta := 0.0
	if z < 0 {
		theta = math.Pi
	}
	var poles [3]complex128
	var phis [5]float64 // 0, the poles' phi, +Inf
	np := 0
	kmin := math.Ceil(-a/2 - theta/(2*math.Pi))
	kmax := math.Floor(a/2 - theta/(2*math.Pi))
	for k := kmin; k <= kmax && np < len(poles); k++ {
		ang := (theta + 2*math.Pi*k) / a
		s := complex(r, 0)
		if ang != 0 {
			sn, cs := math.Sincos(ang)
			s = complex(r*cs, r*sn)
		}
		phi := (real(s) + r) / 2
		if !(phi > 1e-15) {
			continue
		}
		i := np
		for i > 0 && phis[i] > phi {
			poles[i], phis[i+1] = poles[i-1], phis[i]
			i--
		}
		poles[i], phis[i+1] = s, phi
		np++
	}
	phis[np+1] = math.Inf(1)

	// Region j lies between singularities j and j+1; it is admissible if
	// the parabola can keep e^mu (the round-off amplification) in check.
	var admissible [4]bool
	for j := 0; j <= np; j++ {
		admissible[j] = phis[j] < mlLogTol-mlLogEps && phis[j] < phis[j+1]
	}
	// Strength of the singularity at the origin; the poles have strength 1.
	pOrigin := math.Max(0, -2*(a-b+1))
	best, mu, h, n := -1, 0.0, 0.0, math.Inf(1)
	for logTol := mlLogTol; logTol < -2; logTol += math.Ln10 {
		for j := 0; j <= np; j++ {
			if !admissible[j] {
				continue
			}
			p := 1.0
			if j == 0 {
				p = pOrigin
			}
			var muj, hj, nj float64
			if j < np {
				muj, hj, nj = mlParamsBounded(phis[j], phis[j+1], p, logTol)
			} else {
				muj, hj, nj = mlParamsUnbounded(phis[j], p, logTol)
			}
			if nj < n {
				best, mu, h, n = j, muj, hj, nj
			}
		}
		if n <= mlMaxNodes {
			break
		}
		best, n = -1, math.Inf(1)
	}
	if best < 0 {
		return math.NaN()
	}

	// Trapezoidal rule on s(u) = mu (1+iu)^2, s'(u) = 2 mu (i - u). For real
	// z the term at -u is minus the conjugate of the term at u, so the sum
	// over k = -N..N is 2i times the sum of Im over k = 1..N plus the k = 0
	// term.
	// With log s = log mu + log(1+u^2) + 2i atan(u) computed directly, each
	// node costs two real exponentials and two sincos.
	sum := 0.0
	lmu := math.Log(mu)
	for k := 0; k <= int(n); k++ {
		u := h * float64(k)
		lr, li := lmu+math.Log1p(u*u), 2*math.Atan(u) // log s
		// num = e^s s^(a-b) s'(u), den = s^a - z.
		ns, nc := math.Sincos(2*mu*u + (a-b)*li)
		ne := math.Exp(mu*(1-u*u) + (a-b)*lr)
		num := complex(ne*nc, ne*ns) * complex(-2*mu*u, 2*mu)
		ds, dc := math.Sincos(a * li)
		de := math.Exp(a * lr)
		f := num / complex(de*dc-z, de*ds)
		if k == 0 {
			sum += imag(f)
		} else {
			sum += 2 * imag(f)
		}
	}
	e := h * sum / (2 * math.Pi)

	// Residues of the poles to the right of the parabola.
	for i := best; i < np; i++ {
		s := poles[i]
		e += real(mlExp(s + complex(1-b, 0)*cmplx.Log(s) - complex(math.Log(a), 0)))
	}
	return e
}

// mlExp returns e^w without the early overflow of math.Exp just below
// log(MaxFloat64).
func mlExp(w complex128) complex128 {
	sn, cs := math.Sincos(imag(w))
	if x := real(w); x > 700 {
		e := math.Exp(x / 2)
		return complex(e*(e*cs), e*(e*sn))
	}
	e := math.Exp(real(w))
	return complex(e*cs, e*sn)
}

// mlParamsBounded returns the OPC parameters mu, h and N for a parabola
// between two singularities with phi values phi0 < phi1 and strengths p
// (left) and 1 (right, a pole); N is +Inf where no parabola fits.
func mlParamsBounded(phi0, phi1, p, logTol float64) (mu, h, n float64) {
	const fac = 1.01
	inf := math.Inf(1)
	fMax := math.Exp(logTol - mlLogEps)
	sq0 := math.Sqrt(phi0)
	sq1 := math.Min(math.Sqrt(phi1), 2*math.Sqrt(logTol-mlLogEps)-sq0)
	var sb0, sb1, fBar float64
	if p < 1e-14 {
		sb0 = sq0
		fMin := fac
		if sq0 > 0 {
			fMin = fac * sq0 / (sq1 - sq0)
		}
		if !(fMin < fMax) {
			return 0, 0, inf
		}
		fBar = fMin + fMin/fMax*(fMax-fMin)
		fq := 1 / fBar
		sb1 = (2*sq1 - fq*sq0) / (2 + fq)
	} else {
		fMin := fac * (sq0 + sq1) / math.Pow(sq1-sq0, math.Max(p, 1))
		if !(fMin < fMax) {
			return 0, 0, inf
		}
		fMin = math.Max(fMin, 1.5)
		fBar = fMin + fMin/fMax*(fMax-fMin)
		fp := math.Pow(fBar, -1/p)
		fq := 1 / fBar
		w := -phi1 / logTol
		den := 2 + w - (1+w)*fp + fq
		sb0 = ((2+w+fq)*sq0 + fp*sq1) / den
		sb1 = (-(1+w)*fq*sq0 + (2+w-(1+w)*fp)*sq1) / den
	}
	logTol -= math.Log(fBar)
	w := -sb1 * sb1 / logTol
	m := ((1+w)*sb0 + sb1) / (2 + w)
	mu = m * m
	h = -2 * math.Pi / logTol * (sb1 - sb0) / ((1+w)*sb0 + sb1)
	n = math.Ceil(math.Sqrt(1-logTol/mu) / h)
	if !(n >= 0) || !(h > 0) || !(mu > 0) {
		return 0, 0, inf
	}
	return mu, h, n
}

// mlParamsUnbounded returns the OPC parameters mu, h and N for a parabola
// to the right of the rightmost singularity, which has the value phi0 and
// strength p; N is +Inf where round-off would be out of control.
func mlParamsUnbounded(phi0, p, logTol float64) (mu, h, n float64) {
	const fMin, fMax, fTar = 1.0, 10.0, 5.0
	inf := math.Inf(1)
	sq0 := math.Sqrt(phi0)
	phiBar := 0.01
	if phi0 > 0 {
		phiBar = phi0 * 1.01
	}
	sqBar := math.Sqrt(phiBar)
	var A, sqMu float64
	for it := 0; ; it++ {
		lp := logTol / phiBar
		n = math.Ceil(phiBar / math.Pi * (1 - 1.5*lp + math.Sqrt(1-2*lp)))
		A = math.Pi * n / phiBar
		sqMu = sqBar * math.Abs(4-A) / math.Abs(7-math.Sqrt(1+12*A))
		fBar := math.Pow((sqBar-sq0)/sqMu, -p)
		if p < 1e-14 || (fMin < fBar && fBar < fMax) || it == 100 {
			break
		}
		sqBar = math.Pow(fTar, -1/p)*sqMu + sq0
		phiBar = sqBar * sqBar
	}
	mu = sqMu * sqMu
	h = (-3*A - 2 + 2*math.Sqrt(1+12*A)) / (4 - A) / n
	// Keep round-off under control: e^mu must stay below tol/eps.
	thr := logTol - mlLogEps
	if mu > thr {
		q := 0.0
		if p >= 1e-14 {
			q = math.Pow(fTar, -1/p) * math.Sqrt(mu)
		}
		phiBar = (q + sq0) * (q + sq0)
		if !(phiBar < thr) {
			return 0, 0, inf
		}
		w := math.Sqrt(mlLogEps / (mlLogEps - logTol))
		u := math.Sqrt(-phiBar / mlLogEps)
		mu = thr
		n = math.Ceil(w * logTol / (2 * math.Pi) / (u*w - 1))
		h = w / n
	}
	if !(n >= 0) || !(h > 0) || !(mu > 0) {
		return 0, 0, inf
	}
	return mu, h, n
}
