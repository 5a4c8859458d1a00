package fode

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// The kernels below are indexed by the lag L = m - j between the target
// step m and the history step j; index 0 is unused by the history sums.

// powDiff returns (L+1)^p - L^p without the cancellation of the direct
// difference for large L.
func powDiff(L, p float64) float64 {
	if L == 0 {
		return 1
	}
	return math.Pow(L, p) * math.Expm1(p*math.Log1p(1/L))
}

// powDiff2 returns the second difference (L+1)^p - 2 L^p + (L-1)^p, L ≥ 1.
func powDiff2(L, p float64) float64 {
	if L == 1 {
		return math.Pow(2, p) - 2
	}
	x := 1 / L
	return math.Pow(L, p) * (math.Expm1(p*math.Log1p(x)) + math.Expm1(p*math.Log1p(-x)))
}

// rectKernel returns the product rectangle weights as a lag kernel,
// w_L = c_{L-1} = h^α/Γ(α+1) (L^α - (L-1)^α), and with deriv also their
// α-derivatives (nil otherwise).
func rectKernel(alpha, h float64, n int, deriv bool) (w, dw []float64) {
	w = make([]float64, n+1)
	s := math.Pow(h, alpha) / math.Gamma(alpha+1)
	for L := 1; L <= n; L++ {
		w[L] = s * powDiff(float64(L-1), alpha)
	}
	if deriv {
		dw = make([]float64, n+1)
		ds := s * (math.Log(h) - digamma(alpha+1))
		for L := 1; L <= n; L++ {
			x := float64(L - 1)
			dw[L] = ds*powDiff(x, alpha) + s*powDiffDeriv(x, alpha)
		}
	}
	return w, dw
}

// trapScale returns s = h^α/Γ(α+2), the factor of the product trapezoid rule.
func trapScale(alpha, h float64) float64 { return math.Pow(h, alpha) / math.Gamma(alpha+2) }

// trapKernel returns the product trapezoid weights a_{j,m} for j ≥ 1 as a
// lag kernel, scaled by s: w_L = s ((L+1)^(α+1) - 2 L^(α+1) + (L-1)^(α+1)),
// and with deriv also their α-derivatives (nil otherwise).
func trapKernel(alpha, h float64, n int, deriv bool) (w, dw []float64) {
	w = make([]float64, n+1)
	s := trapScale(alpha, h)
	for L := 1; L <= n; L++ {
		w[L] = s * powDiff2(float64(L), alpha+1)
	}
	if deriv {
		dw = make([]float64, n+1)
		ds := trapScaleDeriv(alpha, h)
		for L := 1; L <= n; L++ {
			fl := float64(L)
			dw[L] = ds*powDiff2(fl, alpha+1) + s*powDiff2Deriv(fl, alpha+1)
		}
	}
	return w, dw
}

// trapFirst returns s a_{0,m} = s ((m-1)^(α+1) - (m-1-α) m^α), the weight of
// f_0 in the product trapezoid rule at step m ≥ 1.
func trapFirst(alpha, s float64, m int) float64 {
	fm := float64(m)
	return s * (math.Pow(fm-1, alpha+1) - (fm-1-alpha)*math.Pow(fm, alpha))
}

// glKernel returns the Grünwald-Letnikov weights g_L = (1 - (α+1)/L) g_{L-1},
// g_0 = 1, and their partial sums G_m = Σ_{1≤L≤m} g_L; with deriv also
// their α-derivatives, the recursion differentiated term by term (nil
// otherwise).
func glKernel(alpha float64, n int, deriv bool) (g, G, dg, dG []float64) {
	g, G = make([]float64, n+1), make([]float64, n+1)
	if deriv {
		dg, dG = make([]float64, n+1), make([]float64, n+1)
	}
	g[0] = 1
	for L := 1; L <= n; L++ {
		fl := float64(L)
		g[L] = (1 - (alpha+1)/fl) * g[L-1]
		G[L] = G[L-1] + g[L]
		if deriv {
			dg[L] = (1-(alpha+1)/fl)*dg[L-1] - g[L-1]/fl
			dG[L] = dG[L-1] + dg[L]
		}
	}
	return g, G, dg, dG
}

// l1Kernel returns the L1 weights b_L = (L+1)^(1-α) - L^(1-α) and the lag
// kernel e over the state stream, e_1 = b_1, e_L = b_L - b_{L-1}, for which
// Σ_{1≤k<m} b_k (y_{m-k} - y_{m-k-1}) = Σ_{j<m} e_{m-j} y_j - b_m y_0;
// with deriv also their α-derivatives (nil otherwise), e_L's from it as
// the second difference of k^(1-α) at L.
func l1Kernel(alpha float64, n int, deriv bool) (b, e, db, de []float64) {
	b, e = make([]float64, n+1), make([]float64, n+1)
	if deriv {
		db, de = make([]float64, n+1), make([]float64, n+1)
	}
	for L := 0; L <= n; L++ {
		b[L] = powDiff(float64(L), 1-alpha)
		if deriv {
			db[L] = -powDiffDeriv(float64(L), 1-alpha)
		}
	}
	if n >= 1 {
		e[1] = b[1]
		if deriv {
			de[1] = db[1]
		}
	}
	for L := 2; L <= n; L++ {
		e[L] = b[L] - b[L-1]
		if deriv {
			de[L] = -powDiff2Deriv(float64(L), 1-alpha)
		}
	}
	return b, e, db, de
}

// flmmWeights returns the convolution weights ω_0..ω_n of Lubich's
// trapezoid method, the coefficients of ((1+ξ)/(2(1-ξ)))^α. With
// F(ξ) = ((1+ξ)/(1-ξ))^α one has (1-ξ²) F' = 2α F, hence the three-term
// recurrence (k+1) F_{k+1} = 2α F_k + (k-1) F_{k-1}, and ω_k = 2^-α F_k.
// With deriv it also returns ∂ω/∂α from the recurrence differentiated,
// (k+1) ∂F_{k+1} = 2 F_k + 2α ∂F_k + (k-1) ∂F_{k-1}, and
// ∂ω = 2^-α (∂F - ln 2 F) (nil otherwise).
func flmmWeights(alpha float64, n int, deriv bool) (omega, domega []float64) {
	F, dF := make([]float64, n+1), make([]float64, n+1)
	F[0] = 1
	if n >= 1 {
		F[1], dF[1] = 2*alpha, 2
	}
	for k := 1; k < n; k++ {
		fk := float64(k)
		F[k+1] = (2*alpha*F[k] + (fk-1)*F[k-1]) / (fk + 1)
		dF[k+1] = (2*F[k] + 2*alpha*dF[k] + (fk-1)*dF[k-1]) / (fk + 1)
	}
	scale := math.Pow(2, -alpha)
	for k := range F {
		dF[k] = scale * (dF[k] - math.Ln2*F[k])
		F[k] *= scale
	}
	if !deriv {
		dF = nil
	}
	return F, dF
}

// flmmExponents returns the exponents γ for which the starting weights make
// the FLMM rule exact: {kα : k < K} ∪ {1}, with K = flmmTerms(α).
func flmmExponents(alpha float64, K int) []float64 {
	gs := make([]float64, 0, K+1)
	for k := 0; k < K; k++ {
		gs = append(gs, float64(k)*alpha)
	}
	return append(gs, 1)
}

// flmmTerms returns K, the number of exponents kα below 0.95. The margin
// below 1 keeps kα away from the exponent 1, where the starting-weight
// system would turn singular; the terms it drops are O(h^(1+kα)) ⊂ O(h^1.95).
func flmmTerms(alpha float64) int {
	K := 0
	for float64(K)*alpha < 0.95 {
		K++
	}
	return K
}

// flmmStartingWeights returns W with W[m*s+j] the starting weight of f_j,
// j < s, at step m (row 0 is zero), solved from
//
//	Σ_{j<s} W_{m,j} j^γ = Γ(γ+1)/Γ(γ+1+α) m^(γ+α) - Σ_{j≤m} ω_{m-j} j^γ
//
// for every exponent γ, so the rule integrates t^γ exactly (all in units
// where h = 1; both sides scale with h^(γ+α)). Given domega = ∂ω/∂α it
// also returns dW = ∂W/∂α from the derivative of the system V W = R,
// V W' = R' - V' W, with V_ij = j^γ_i and the exponents γ_i = iα (and 1)
// moving with α; dW is nil otherwise.
func flmmStartingWeights(alpha float64, omega, domega []float64, n, K int) (W, dW []float64, s int, err error) {
	gs := flmmExponents(alpha, K)
	s = len(gs)
	V := mat.NewDense(s, s, nil)
	for i, g := range gs {
		for j := 0; j < s; j++ {
			V.Set(i, j, math.Pow(float64(j), g)) // 0^0 = 1
		}
	}
	var lu mat.LU
	lu.Factorize(V)
	if c := lu.Cond(); c > 1e15 || math.IsInf(c, 0) {
		return nil, nil, 0, fmt.Errorf("fode: FLMM starting weights for alpha = %v are too ill-conditioned (condition number %.3g)", alpha, c)
	}
	solve := func(rhs *mat.Dense) ([]float64, error) {
		var sol mat.Dense
		if err := lu.SolveTo(&sol, false, rhs); err != nil {
			return nil, fmt.Errorf("fode: FLMM starting weights: %w", err)
		}
		W := make([]float64, (n+1)*s)
		for m := 1; m <= n; m++ {
			for j := 0; j < s; j++ {
				W[m*s+j] = sol.At(j, m)
			}
		}
		return W, nil
	}
	// Powers j^γ (and j^γ ln j) for every history step, reused for every
	// target m.
	pw, pwl := make([][]float64, s), make([][]float64, s)
	for i, g := range gs {
		pw[i], pwl[i] = make([]float64, n+1), make([]float64, n+1)
		for j := range pw[i] {
			pw[i][j] = math.Pow(float64(j), g)
			if domega != nil {
				pwl[i][j] = xlogPow(float64(j), g)
			}
		}
	}
	rhs := mat.NewDense(s, n+1, nil)
	for i, g := range gs {
		c := math.Gamma(g+1) / math.Gamma(g+1+alpha)
		for m := 1; m <= n; m++ {
			var conv float64
			for j := 0; j <= m; j++ {
				conv += omega[m-j] * pw[i][j]
			}
			rhs.Set(i, m, c*math.Pow(float64(m), g+alpha)-conv)
		}
	}
	if W, err = solve(rhs); err != nil || domega == nil {
		return W, nil, s, err
	}
	for i, g := range gs {
		dg := float64(i) // ∂γ_i/∂α
		if i == K {
			dg = 0
		}
		c := math.Gamma(g+1) / math.Gamma(g+1+alpha)
		dc := c * (digamma(g+1)*dg - digamma(g+1+alpha)*(dg+1))
		for m := 1; m <= n; m++ {
			var conv float64
			for j := 0; j <= m; j++ {
				conv += domega[m-j]*pw[i][j] + omega[m-j]*dg*pwl[i][j]
			}
			fm := float64(m)
			r := dc*math.Pow(fm, g+alpha) + c*(dg+1)*xlogPow(fm, g+alpha) - conv
			for j := 0; j < s; j++ {
				r -= dg * pwl[i][j] * W[m*s+j] // (V' W)_{i,m}
			}
			rhs.Set(i, m, r)
		}
	}
	dW, err = solve(rhs)
	return W, dW, s, err
}

// RectangleWeights returns the weights w_0..w_{m-1} of the product
// rectangle rule at step m, y_m = y_0 + Σ_{j<m} w_j f_j, with
// w_j = h^α/Γ(α+1) ((m-j)^α - (m-j-1)^α). Unrolled (autodiff) baselines
// use it to build the same scheme from graph operations. It returns nil
// for m ≤ 0.
func RectangleWeights(alpha, h float64, m int) []float64 {
	if m <= 0 {
		return nil
	}
	k, _ := rectKernel(alpha, h, m, false)
	w := make([]float64, m)
	for j := range w {
		w[j] = k[m-j]
	}
	return w
}

// TrapezoidWeights returns the weights of the product trapezoid rule at
// step m ≥ 1, y_m = y_0 + Σ_{j<m} w_j f_j + s f(t_m, ·), the corrector of
// PECE: w_0 = s a_{0,m}, w_j = s a_{j,m}, s = h^α/Γ(α+2). For m ≤ 0 there
// is no history: w is nil and s is still the weight of the new value.
func TrapezoidWeights(alpha, h float64, m int) (w []float64, s float64) {
	s = trapScale(alpha, h)
	if m <= 0 {
		return nil, s
	}
	k, _ := trapKernel(alpha, h, m, false)
	w = make([]float64, m)
	for j := range w {
		w[j] = k[m-j]
	}
	w[0] = trapFirst(alpha, s, m)
	return w, s
}

// The α-derivatives of the weights, for dL/dα. Each is the closed-form
// derivative of the formula above it, arranged to avoid the cancellation
// of its differences where the lag is large.

// xlogPow returns x^p ln x, 0 at x = 0 (p > 0).
func xlogPow(x, p float64) float64 {
	if x == 0 {
		return 0
	}
	return math.Pow(x, p) * math.Log(x)
}

// binomSeries returns the tails Σ_{k≥k0} C(p,k) x^k and
// Σ_{k≥k0} ∂C(p,k)/∂p x^k of the binomial series of (1+x)^p and of its
// p-derivative (1+x)^p ln(1+x), for |x| ≤ 1/4. C(p,k) and its derivative
// follow C_k = C_{k-1} (p-k+1)/k by the product rule.
func binomSeries(p, x float64, k0 int) (c, d float64) {
	C, D, xk := 1.0, 0.0, 1.0
	for k := 1; k < 200; k++ {
		q := p - float64(k-1)
		D = (D*q + C) / float64(k)
		C = C * q / float64(k)
		xk *= x
		if k < k0 {
			continue
		}
		tc, td := C*xk, D*xk
		c += tc
		d += td
		if k > k0 && math.Abs(tc) <= 1e-17*math.Abs(c) && math.Abs(td) <= 1e-17*math.Abs(d) {
			break
		}
	}
	return c, d
}

// powDiffDeriv returns ∂/∂p of powDiff(L, p) = (L+1)^p - L^p: with
// u = ln(1+1/L), L^p (ln L (e^{pu} - 1) + u e^{pu}), a sum of positive
// terms.
func powDiffDeriv(L, p float64) float64 {
	if L == 0 {
		return 0
	}
	u := math.Log1p(1 / L)
	return math.Pow(L, p) * (math.Log(L)*math.Expm1(p*u) + u*math.Exp(p*u))
}

// powDiff2Deriv returns ∂/∂p of the second difference
// (L+1)^p - 2 L^p + (L-1)^p, L ≥ 1. For L ≥ 4 it sums the series of
// L^p ((1+x)^p + (1-x)^p - 2), x = 1/L, whose odd terms cancel exactly.
func powDiff2Deriv(L, p float64) float64 {
	if L < 4 {
		return xlogPow(L+1, p) - 2*xlogPow(L, p) + xlogPow(L-1, p)
	}
	x := 1 / L
	c1, d1 := binomSeries(p, x, 2)
	c2, d2 := binomSeries(p, -x, 2)
	return math.Pow(L, p) * (math.Log(L)*(c1+c2) + d1 + d2)
}

// trapScaleDeriv returns ∂s/∂α of trapScale.
func trapScaleDeriv(alpha, h float64) float64 {
	return trapScale(alpha, h) * (math.Log(h) - digamma(alpha+2))
}

// trapFirstDeriv returns ∂/∂α of trapFirst(α, trapScale(α, h), m). With
// p = α+1 and x = 1/m the weight is s m^p ((1-x)^p - 1 + p x), whose
// leading terms cancel; from m = 4 on its derivative sums the series.
func trapFirstDeriv(alpha, h float64, m int) float64 {
	s, ds := trapScale(alpha, h), trapScaleDeriv(alpha, h)
	fm, p := float64(m), alpha+1
	var da float64
	if m < 4 {
		da = xlogPow(fm-1, p) + math.Pow(fm, alpha) - (fm-1-alpha)*xlogPow(fm, alpha)
	} else {
		c, d := binomSeries(p, -1/fm, 2)
		da = math.Pow(fm, p) * (math.Log(fm)*c + d)
	}
	return ds*trapFirst(alpha, 1, m) + s*da
}

// digamma returns ψ(x) = Γ'(x)/Γ(x) for x > 0 to about 1e-15: the
// recurrence ψ(x) = ψ(x+1) - 1/x up to x ≥ 10, then the asymptotic series
// ln x - 1/(2x) - Σ_k B_2k/(2k x^2k). (gonum's mathext.Digamma is good to
// about 5e-11 only, which the ill-conditioned FLMM starting weights
// amplify.)
func digamma(x float64) float64 {
	var s float64
	for ; x < 10; x++ {
		s -= 1 / x
	}
	x2 := 1 / (x * x)
	return s + math.Log(x) - 0.5/x -
		x2*(1.0/12-x2*(1.0/120-x2*(1.0/252-x2*(1.0/240-x2*(1.0/132-x2*(691.0/32760-x2/12))))))
}
