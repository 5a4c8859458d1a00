package optim

import (
	"fmt"
	"math"
)

// Tableau is the Butcher tableau of an explicit Runge-Kutta method for the
// autonomous flow θ' = F(θ):
//
//	k_i = F(θ_n + h Σ_{j<i} A[i][j] k_j),  i = 1 … s,
//	θ_{n+1} = θ_n + h Σ_i B[i] k_i,
//	θ̂_{n+1} = θ_n + h Σ_i BHat[i] k_i   (embedded pair only).
//
// The nodes c_i = Σ_j A[i][j] are not stored: the gradient flow does not
// depend on time.
type Tableau struct {
	// Name is a short name for messages, such as "rk4".
	Name string
	// A is the strictly lower triangular stage matrix: row i holds
	// A[i][0] … A[i][i-1] (a row may also be padded with zeros to length s;
	// a non-zero entry on or above the diagonal makes the method implicit,
	// which is an error). A has one row per stage; A[0] is empty.
	A [][]float64
	// B holds the weights b_i of the propagated solution; len(B) = s.
	B []float64
	// BHat holds the weights b̂_i of the embedded solution of an adaptive
	// pair, or nil.
	BHat []float64
	// Order is the classical order p of (A, B).
	Order int
	// EmbeddedOrder is the order p̂ of (A, BHat); 0 without BHat.
	EmbeddedOrder int
}

// Stages returns the number of stages s.
func (t Tableau) Stages() int { return len(t.B) }

// Embedded reports whether t is an embedded pair (BHat is set).
func (t Tableau) Embedded() bool { return t.BHat != nil }

// Euler is the forward Euler method, s = 1, order 1. With no preconditioner,
// no momentum, no clipping and a fixed step it is plain gradient descent
// θ ← θ - h ∇L(θ).
func Euler() Tableau {
	return Tableau{Name: "euler", A: [][]float64{{}}, B: []float64{1}, Order: 1}
}

// Heun is Heun's second-order method (explicit trapezoid), s = 2:
//
//	k1 = F(θ), k2 = F(θ + h k1), θ ← θ + h (k1 + k2)/2.
func Heun() Tableau {
	return Tableau{
		Name:  "heun",
		A:     [][]float64{{}, {1}},
		B:     []float64{0.5, 0.5},
		Order: 2,
	}
}

// RK3 is Kutta's third-order method, s = 3:
//
//	k1 = F(θ), k2 = F(θ + h k1/2), k3 = F(θ - h k1 + 2h k2),
//	θ ← θ + h (k1 + 4 k2 + k3)/6.
func RK3() Tableau {
	return Tableau{
		Name:  "rk3",
		A:     [][]float64{{}, {0.5}, {-1, 2}},
		B:     []float64{1.0 / 6, 2.0 / 3, 1.0 / 6},
		Order: 3,
	}
}

// RK4 is the classical fourth-order Runge-Kutta method, s = 4:
//
//	k1 = F(θ), k2 = F(θ + h k1/2), k3 = F(θ + h k2/2), k4 = F(θ + h k3),
//	θ ← θ + h (k1 + 2 k2 + 2 k3 + k4)/6.
func RK4() Tableau {
	return Tableau{
		Name:  "rk4",
		A:     [][]float64{{}, {0.5}, {0, 0.5}, {0, 0, 1}},
		B:     []float64{1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
		Order: 4,
	}
}

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
func BogackiShampine() Tableau {
	return Tableau{
		Name:          "bs32",
		A:             [][]float64{{}, {0.5}, {0, 0.75}, {2.0 / 9, 1.0 / 3, 4.0 / 9}},
		B:             []float64{2.0 / 9, 1.0 / 3, 4.0 / 9, 0},
		BHat:          []float64{7.0 / 24, 0.25, 1.0 / 3, 0.125},
		Order:         3,
		EmbeddedOrder: 2,
	}
}

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

// orderTol is the tolerance of the order conditions in Validate.
const orderTol = 1e-12

// Validate reports whether t is a usable explicit tableau: at least one
// stage, one row of A per stage, A strictly lower triangular, finite
// entries, BHat of length s when set, and orders ≥ 1 whose order conditions
// hold (to 1e-12) for orders up to 4:
//
//	p ≥ 1: Σ b_i = 1
//	p ≥ 2: Σ b_i c_i = 1/2
//	p ≥ 3: Σ b_i c_i² = 1/3,  Σ b_i a_ij c_j = 1/6
//	p ≥ 4: Σ b_i c_i³ = 1/4,  Σ b_i c_i a_ij c_j = 1/8,
//	       Σ b_i a_ij c_j² = 1/12,  Σ b_i a_ij a_jk c_k = 1/24
//
// with c_i = Σ_j a_ij. Orders above 4 are taken on trust beyond these.
func (t Tableau) Validate() error {
	s := len(t.B)
	if s == 0 {
		return fmt.Errorf("optim: tableau %q has no stages", t.Name)
	}
	if len(t.A) != s {
		return fmt.Errorf("optim: tableau %q: A has %d rows, want %d (one per stage)", t.Name, len(t.A), s)
	}
	for i, row := range t.A {
		if len(row) > s {
			return fmt.Errorf("optim: tableau %q: row %d of A has %d entries, more than %d stages", t.Name, i, len(row), s)
		}
		for j, a := range row {
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return fmt.Errorf("optim: tableau %q: A[%d][%d] = %v", t.Name, i, j, a)
			}
			if j >= i && a != 0 {
				return fmt.Errorf("optim: tableau %q: A[%d][%d] = %v on or above the diagonal; only explicit methods are supported", t.Name, i, j, a)
			}
		}
	}
	if err := checkWeights(t, "B", t.B, t.Order); err != nil {
		return err
	}
	if t.BHat == nil {
		if t.EmbeddedOrder != 0 {
			return fmt.Errorf("optim: tableau %q: EmbeddedOrder %d without BHat", t.Name, t.EmbeddedOrder)
		}
		return nil
	}
	if len(t.BHat) != s {
		return fmt.Errorf("optim: tableau %q: BHat has %d weights, want %d", t.Name, len(t.BHat), s)
	}
	return checkWeights(t, "BHat", t.BHat, t.EmbeddedOrder)
}

// checkWeights checks one weight vector of t against its order conditions.
func checkWeights(t Tableau, name string, b []float64, p int) error {
	if p < 1 {
		return fmt.Errorf("optim: tableau %q: order of %s is %d, want ≥ 1", t.Name, name, p)
	}
	for i, w := range b {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("optim: tableau %q: %s[%d] = %v", t.Name, name, i, w)
		}
	}
	s := len(b)
	a := func(i, j int) float64 {
		if j < len(t.A[i]) {
			return t.A[i][j]
		}
		return 0
	}
	c := make([]float64, s)
	for i := range s {
		for j := range i {
			c[i] += a(i, j)
		}
	}
	// Σ_i b_i φ_i for a per-stage vector φ.
	dot := func(phi func(i int) float64) float64 {
		var sum float64
		for i := range s {
			sum += b[i] * phi(i)
		}
		return sum
	}
	// (A v)_i for a per-stage vector v.
	av := func(v func(j int) float64) func(i int) float64 {
		return func(i int) float64 {
			var sum float64
			for j := range i {
				sum += a(i, j) * v(j)
			}
			return sum
		}
	}
	ci := func(i int) float64 { return c[i] }
	type cond struct {
		order int
		what  string
		got   float64
		want  float64
	}
	conds := []cond{
		{1, "Σ b", dot(func(int) float64 { return 1 }), 1},
		{2, "Σ b c", dot(ci), 1.0 / 2},
		{3, "Σ b c²", dot(func(i int) float64 { return c[i] * c[i] }), 1.0 / 3},
		{3, "Σ b A c", dot(av(ci)), 1.0 / 6},
		{4, "Σ b c³", dot(func(i int) float64 { return c[i] * c[i] * c[i] }), 1.0 / 4},
		{4, "Σ b c A c", dot(func(i int) float64 { return c[i] * av(ci)(i) }), 1.0 / 8},
		{4, "Σ b A c²", dot(av(func(j int) float64 { return c[j] * c[j] })), 1.0 / 12},
		{4, "Σ b A A c", dot(av(av(ci))), 1.0 / 24},
	}
	for _, k := range conds {
		if k.order <= p && math.Abs(k.got-k.want) > orderTol {
			return fmt.Errorf("optim: tableau %q: %s does not have order %d: %s = %v, want %v", t.Name, name, p, k.what, k.got, k.want)
		}
	}
	return nil
}

// clone returns a deep copy of t, so that an Optimizer does not share the
// caller's slices.
func (t Tableau) clone() Tableau {
	u := t
	u.A = make([][]float64, len(t.A))
	for i, row := range t.A {
		u.A[i] = append([]float64(nil), row...)
	}
	u.B = append([]float64(nil), t.B...)
	if t.BHat != nil {
		u.BHat = append([]float64(nil), t.BHat...)
	}
	return u
}
