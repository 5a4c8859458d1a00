package optim

import (
	"fmt"

	"github.com/gofde/gofde/internal/tableau"
)

// Tableau is the Butcher tableau of an explicit Runge-Kutta method for the
// autonomous flow θ' = F(θ):
//
//	k_i = F(θ_n + h Σ_{j<i} A[i][j] k_j),  i = 1 … s,
//	θ_{n+1} = θ_n + h Σ_i B[i] k_i,
//	θ̂_{n+1} = θ_n + h Σ_i BHat[i] k_i   (embedded pair only).
//
// The gradient flow does not depend on time, so the nodes play no part.
// Its fields are Name, A (the strictly lower triangular stage matrix, one
// row per stage, A[0] empty), B (the weights), BHat (the weights of the
// embedded solution, or nil), Order and EmbeddedOrder; its methods are
// Stages, Embedded and Validate. The same type describes the Runge-Kutta
// methods of package fode.
type Tableau = tableau.Tableau

// Euler is the forward Euler method, s = 1, order 1. With no preconditioner,
// no momentum, no clipping and a fixed step it is plain gradient descent
// θ ← θ - h ∇L(θ).
func Euler() Tableau { return tableau.Euler() }

// Heun is Heun's second-order method (explicit trapezoid), s = 2:
//
//	k1 = F(θ), k2 = F(θ + h k1), θ ← θ + h (k1 + k2)/2.
func Heun() Tableau { return tableau.Heun() }

// RK3 is Kutta's third-order method, s = 3:
//
//	k1 = F(θ), k2 = F(θ + h k1/2), k3 = F(θ - h k1 + 2h k2),
//	θ ← θ + h (k1 + 4 k2 + k3)/6.
func RK3() Tableau { return tableau.RK3() }

// RK4 is the classical fourth-order Runge-Kutta method, s = 4:
//
//	k1 = F(θ), k2 = F(θ + h k1/2), k3 = F(θ + h k2/2), k4 = F(θ + h k3),
//	θ ← θ + h (k1 + 2 k2 + 2 k3 + k4)/6.
func RK4() Tableau { return tableau.RK4() }

// BogackiShampine is the Bogacki-Shampine 3(2) embedded pair, s = 4:
//
//	k1 = F(θ), k2 = F(θ + h k1/2), k3 = F(θ + 3h k2/4),
//	θ⁺ = θ + h (2 k1 + 3 k2 + 4 k3)/9                    (order 3),
//	k4 = F(θ⁺),
//	θ̂ = θ + h (7 k1/24 + k2/4 + k3/3 + k4/8)            (order 2).
//
// The fourth stage is needed only for the error estimate θ⁺ - θ̂; without
// the embedded step control the optimizer skips it (three gradients a
// step).
func BogackiShampine() Tableau { return tableau.BogackiShampine() }

// Tableaus returns the built-in methods: Euler, Heun, RK3, RK4 and
// BogackiShampine.
func Tableaus() []Tableau {
	return []Tableau{Euler(), Heun(), RK3(), RK4(), BogackiShampine()}
}

// ParseTableau returns the built-in method with the given Name ("euler",
// "heun", "rk3", "rk4", "bs32").
func ParseTableau(name string) (Tableau, error) {
	for _, t := range Tableaus() {
		if t.Name == name {
			return t, nil
		}
	}
	return Tableau{}, fmt.Errorf("optim: unknown method %q (want euler, heun, rk3, rk4 or bs32)", name)
}
