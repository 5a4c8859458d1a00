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

// rectKernel returns the product rectangle weights as a lag kernel:
// w_L = c_{L-1} = h^α/Γ(α+1) (L^α - (L-1)^α).
func rectKernel(alpha, h float64, n int) []float64 {
	w := make([]float64, n+1)
	s := math.Pow(h, alpha) / math.Gamma(alpha+1)
	for L := 1; L <= n; L++ {
		w[L] = s * powDiff(float64(L-1), alpha)
	}
	return w
}

// trapScale returns s = h^α/Γ(α+2), the factor of the product trapezoid rule.
func trapScale(alpha, h float64) float64 { return math.Pow(h, alpha) / math.Gamma(alpha+2) }

// trapKernel returns the product trapezoid weights a_{j,m} for j ≥ 1 as a
// lag kernel, scaled by s: w_L = s ((L+1)^(α+1) - 2 L^(α+1) + (L-1)^(α+1)).
func trapKernel(alpha, h float64, n int) []float64 {
	w := make([]float64, n+1)
	s := trapScale(alpha, h)
	for L := 1; L <= n; L++ {
		w[L] = s * powDiff2(float64(L), alpha+1)
	}
	return w
}

// trapFirst returns s a_{0,m} = s ((m-1)^(α+1) - (m-1-α) m^α), the weight of
// f_0 in the product trapezoid rule at step m ≥ 1.
func trapFirst(alpha, s float64, m int) float64 {
	fm := float64(m)
	return s * (math.Pow(fm-1, alpha+1) - (fm-1-alpha)*math.Pow(fm, alpha))
}

// glKernel returns the Grünwald-Letnikov weights g_L = (1 - (α+1)/L) g_{L-1},
// g_0 = 1, and their partial sums G_m = Σ_{1≤L≤m} g_L.
func glKernel(alpha float64, n int) (g, partial []float64) {
	g = make([]float64, n+1)
	partial = make([]float64, n+1)
	g[0] = 1
	for L := 1; L <= n; L++ {
		g[L] = (1 - (alpha+1)/float64(L)) * g[L-1]
		partial[L] = partial[L-1] + g[L]
	}
	return g, partial
}

// l1Kernel returns the L1 weights b_L = (L+1)^(1-α) - L^(1-α) and the lag
// kernel e over the state stream, e_1 = b_1, e_L = b_L - b_{L-1}, for which
// Σ_{1≤k<m} b_k (y_{m-k} - y_{m-k-1}) = Σ_{j<m} e_{m-j} y_j - b_m y_0.
func l1Kernel(alpha float64, n int) (b, e []float64) {
	b = make([]float64, n+1)
	e = make([]float64, n+1)
	for L := 0; L <= n; L++ {
		b[L] = powDiff(float64(L), 1-alpha)
	}
	if n >= 1 {
		e[1] = b[1]
	}
	for L := 2; L <= n; L++ {
		e[L] = b[L] - b[L-1]
	}
	return b, e
}

// flmmWeights returns the convolution weights ω_0..ω_n of Lubich's
// trapezoid method, the coefficients of ((1+ξ)/(2(1-ξ)))^α. With
// F(ξ) = ((1+ξ)/(1-ξ))^α one has (1-ξ²) F' = 2α F, hence the three-term
// recurrence (k+1) F_{k+1} = 2α F_k + (k-1) F_{k-1}, and ω_k = 2^-α F_k.
func flmmWeights(alpha float64, n int) []float64 {
	F := make([]float64, n+1)
	F[0] = 1
	if n >= 1 {
		F[1] = 2 * alpha
	}
	for k := 1; k < n; k++ {
		F[k+1] = (2*alpha*F[k] + float64(k-1)*F[k-1]) / float64(k+1)
	}
	scale := math.Pow(2, -alpha)
	for k := range F {
		F[k] *= scale
	}
	return F
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
// where h = 1; both sides scale with h^(γ+α)).
func flmmStartingWeights(alpha float64, omega []float64, n, K int) ([]float64, int, error) {
	gs := flmmExponents(alpha, K)
	s := len(gs)
	V := mat.NewDense(s, s, nil)
	for i, g := range gs {
		for j := 0; j < s; j++ {
			V.Set(i, j, math.Pow(float64(j), g)) // 0^0 = 1
		}
	}
	var lu mat.LU
	lu.Factorize(V)
	if c := lu.Cond(); c > 1e15 || math.IsInf(c, 0) {
		return nil, 0, fmt.Errorf("fode: FLMM starting weights for alpha = %v are too ill-conditioned (condition number %.3g)", alpha, c)
	}
	// Powers j^γ for every history step, reused for every target m.
	pw := make([][]float64, s)
	for i, g := range gs {
		pw[i] = make([]float64, n+1)
		for j := range pw[i] {
			pw[i][j] = math.Pow(float64(j), g)
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
	var sol mat.Dense
	if err := lu.SolveTo(&sol, false, rhs); err != nil {
		return nil, 0, fmt.Errorf("fode: FLMM starting weights: %w", err)
	}
	W := make([]float64, (n+1)*s)
	for m := 1; m <= n; m++ {
		for j := 0; j < s; j++ {
			W[m*s+j] = sol.At(j, m)
		}
	}
	return W, s, nil
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
	k := rectKernel(alpha, h, m)
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
	k := trapKernel(alpha, h, m)
	w = make([]float64, m)
	for j := range w {
		w[j] = k[m-j]
	}
	w[0] = trapFirst(alpha, s, m)
	return w, s
}
