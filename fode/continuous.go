package fode

import (
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mathext"
)

// continuousAdjoint solves the continuous adjoint equation (see the
// Continuous mode) backward in time. In reversed time σ = T - t, with each
// observation i at σ = σ_{q_i}, λ = S + ν, where
//
//	S(σ) = Σ_i (σ - σ_{q_i})_+^(α-1)/Γ(α) ȳ_i   (the singular part, exact)
//	ν(σ_n) = 1/Γ(α) ∫_0^{σ_n} (σ_n - σ)^(α-1) J(σ)ᵀ (S + ν) dσ.
//
// On each cell [σ_k, σ_{k+1}] the Jacobian and ν are frozen at σ_k and the
// kernels are integrated exactly: the regular part with the product
// rectangle weights c, the part against S with
//
//	B_{M,l} = 1/Γ(α)² ∫_{lh}^{(l+1)h} (Mh - σ)^(α-1) σ^(α-1) dσ
//	        = (Mh)^(2α-1)/Γ(2α) (I_{(l+1)/M}(α, α) - I_{l/M}(α, α)),
//
// I the regularised incomplete beta function. The rule is first order.
func continuousAdjoint(sol *Solution, ybar []float64) (*Gradient, error) {
	a := newAdj(sol, make([]float64, len(ybar)))
	ybuf := make([]float64, sol.Rows*sol.Dim) // a float32-stored state in float64
	defer a.finish()                          // stops the workers on the error paths
	N, n, h, al := a.N, a.n, sol.h, sol.Alpha
	type obs struct {
		q    int       // σ-index of the observation
		ybar []float64 // its cotangent
		r    []float64 // J_kᵀ ȳ for cells k ≥ q, row k-q
	}
	var obsv []obs
	for i := range sol.Times {
		o := obs{q: N - sol.outJ[i], ybar: ybar[i*n : (i+1)*n]}
		if allZero(o.ybar) {
			continue
		}
		o.r = make([]float64, (N-o.q)*n)
		obsv = append(obsv, o)
		floats.Add(a.x0bar, o.ybar)
	}
	c, _ := rectKernel(al, h, N, false) // c[L] = ∫ over the cell L-1 lags back; E_l = c[l+1]
	u := make([]float64, N*n)           // u_k = J_kᵀ ν_k
	hist := sol.opt.History.NewHistory([][]float64{c}, u, n)
	nu := make([]float64, n)
	dst := [][]float64{nu}
	v := make([]float64, n)
	ib := make([]float64, N+1)
	gam := math.Gamma(2 * al)
	for k := 0; k < N; k++ {
		if k == 0 {
			clear(nu)
		} else {
			hist.Sum(dst, k)
			for _, o := range obsv {
				M := k - o.q
				if M <= 0 {
					continue
				}
				// B_{M,l} for l < M, from the incomplete beta function.
				scale := math.Pow(float64(M)*h, 2*al-1) / gam
				for l := 0; l <= M; l++ {
					ib[l] = mathext.RegIncBeta(al, al, float64(l)/float64(M))
				}
				for l := 0; l < M; l++ {
					floats.AddScaled(nu, scale*(ib[l+1]-ib[l]), o.r[l*n:(l+1)*n])
				}
			}
		}
		j := N - k
		t, y := sol.grid[j], sol.vjpStateInto(ybuf, j)
		uk := u[k*n : (k+1)*n]
		if err := a.vjp(uk, false, t, y, nu, j); err != nil {
			return nil, err
		}
		floats.ScaleTo(v, h, nu)
		floats.AddScaled(a.x0bar, h, uk)
		for _, o := range obsv {
			if k < o.q {
				continue
			}
			rk := o.r[(k-o.q)*n : (k-o.q+1)*n]
			if err := a.vjp(rk, false, t, y, o.ybar, j); err != nil {
				return nil, err
			}
			e := c[k-o.q+1]
			floats.AddScaled(v, e, o.ybar)
			floats.AddScaled(a.x0bar, e, rk)
		}
		if err := a.vjp(a.xb, true, t, y, v, j); err != nil {
			return nil, err
		}
	}
	return a.finish(), nil
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
