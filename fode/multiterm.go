package fode

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/integrate/quad"
)

// Quadrature discretises the distributed-order operator
//
//	∫_0^1 w(a) D^a x da ≈ Σ_k c_k D^{a_k} x
//
// with the K-point Gauss-Legendre rule on (0, 1): it returns the nodes a_k
// as orders and c_k = w(a_k)·(weight of node k) as coefficients, ready for
// Options.Orders and Options.Coeffs. Nodes where w is zero are left out
// (a term needs c_k > 0). The error is w's: w must be finite and
// non-negative at the nodes and positive at one at least; K is between 1
// and MaxTerms. The rule integrates polynomials in a of degree 2K-1
// exactly; for a smooth w the operator's error falls quickly with K.
func Quadrature(K int, w func(a float64) float64) (orders, coeffs []float64, err error) {
	if K < 1 || K > MaxTerms {
		return nil, nil, fmt.Errorf("fode: quadrature of %d nodes outside [1, %d]", K, MaxTerms)
	}
	if w == nil {
		return nil, nil, errors.New("fode: quadrature of a nil weight function")
	}
	x, qw := make([]float64, K), make([]float64, K)
	quad.Legendre{}.FixedLocations(x, qw, 0, 1)
	for k, a := range x {
		v := w(a)
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("fode: weight function w(%v) = %v must be finite and non-negative", a, v)
		}
		if c := v * qw[k]; c > 0 {
			orders, coeffs = append(orders, a), append(coeffs, c)
		}
	}
	if len(orders) == 0 {
		return nil, nil, errors.New("fode: weight function vanishes at every quadrature node")
	}
	return orders, coeffs, nil
}

// Softmax returns the coefficients c_k = exp(z_k)/Σ_j exp(z_j) of the logits
// z, positive and summing to one: a distribution over the orders that
// stays valid whatever the logits, the parametrisation of learnable
// weights of a distributed-order model. SoftmaxGrad takes dL/dc back to
// dL/dz.
func Softmax(z []float64) []float64 {
	c := make([]float64, len(z))
	if len(z) == 0 {
		return c
	}
	top := math.Inf(-1)
	for _, v := range z {
		top = max(top, v)
	}
	var s float64
	for k, v := range z {
		c[k] = math.Exp(v - top)
		s += c[k]
	}
	for k := range c {
		c[k] /= s
	}
	return c
}

// SoftmaxGrad returns dL/dz_k = c_k (g_k - Σ_j c_j g_j) for the softmax
// coefficients c = Softmax(z) and g = dL/dc (Gradient.Coeffs).
func SoftmaxGrad(c, g []float64) []float64 {
	var mean float64
	for k := range c {
		mean += c[k] * g[k]
	}
	dz := make([]float64, len(c))
	for k := range c {
		dz[k] = c[k] * (g[k] - mean)
	}
	return dz
}
