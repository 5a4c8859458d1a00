// Package tableau defines the Butcher tableau of an explicit Runge-Kutta
// method, shared by the ODE solvers of package fode and the optimizers of
// package optim, with the built-in methods and the check of their order
// conditions.
package tableau

import (
	"fmt"
	"math"
)

// Tableau is the Butcher tableau of an explicit Runge-Kutta method for
// y' = F(t, y):
//
//	k_i = F(t_n + c_i h, y_n + h Σ_{j<i} A[i][j] k_j),  i = 1 … s,
//	y_{n+1} = y_n + h Σ_i B[i] k_i,
//	ŷ_{n+1} = y_n + h Σ_i BHat[i] k_i   (embedded pair only),
//
// with the nodes c_i = Σ_j A[i][j] (see Nodes), so they are not stored.
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

// Nodes returns the nodes c_i = Σ_j A[i][j], the stage times in units of
// the step from its start.
func Nodes(t Tableau) []float64 {
	c := make([]float64, len(t.A))
	for i, row := range t.A {
		for _, a := range row {
			c[i] += a
		}
	}
	return c
}

// Clone returns a deep copy of t.
func Clone(t Tableau) Tableau {
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

// Euler is the forward Euler method, s = 1, order 1.
func Euler() Tableau {
	return Tableau{Name: "euler", A: [][]float64{{}}, B: []float64{1}, Order: 1}
}

// Heun is Heun's second-order method (explicit trapezoid), s = 2.
func Heun() Tableau {
	return Tableau{Name: "heun", A: [][]float64{{}, {1}}, B: []float64{0.5, 0.5}, Order: 2}
}

// RK3 is Kutta's third-order method, s = 3.
func RK3() Tableau {
	return Tableau{
		Name:  "rk3",
		A:     [][]float64{{}, {0.5}, {-1, 2}},
		B:     []float64{1.0 / 6, 2.0 / 3, 1.0 / 6},
		Order: 3,
	}
}

// RK4 is the classical fourth-order Runge-Kutta method, s = 4.
func RK4() Tableau {
	return Tableau{
		Name:  "rk4",
		A:     [][]float64{{}, {0.5}, {0, 0.5}, {0, 0, 1}},
		B:     []float64{1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
		Order: 4,
	}
}

// BogackiShampine is the Bogacki-Shampine 3(2) embedded pair, s = 4; its
// fourth stage is the field at the new state (first same as last).
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

// DormandPrince is the Dormand-Prince 5(4) embedded pair, s = 7; its
// seventh stage is the field at the new state (first same as last).
func DormandPrince() Tableau {
	return Tableau{
		Name: "dopri5",
		A: [][]float64{
			{},
			{1.0 / 5},
			{3.0 / 40, 9.0 / 40},
			{44.0 / 45, -56.0 / 15, 32.0 / 9},
			{19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
			{9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
			{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
		},
		B:             []float64{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0},
		BHat:          []float64{5179.0 / 57600, 0, 7571.0 / 16695, 393.0 / 640, -92097.0 / 339200, 187.0 / 2100, 1.0 / 40},
		Order:         5,
		EmbeddedOrder: 4,
	}
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
		return fmt.Errorf("tableau %q has no stages", t.Name)
	}
	if len(t.A) != s {
		return fmt.Errorf("tableau %q: A has %d rows, want %d (one per stage)", t.Name, len(t.A), s)
	}
	for i, row := range t.A {
		if len(row) > s {
			return fmt.Errorf("tableau %q: row %d of A has %d entries, more than %d stages", t.Name, i, len(row), s)
		}
		for j, a := range row {
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return fmt.Errorf("tableau %q: A[%d][%d] = %v", t.Name, i, j, a)
			}
			if j >= i && a != 0 {
				return fmt.Errorf("tableau %q: A[%d][%d] = %v on or above the diagonal; only explicit methods are supported", t.Name, i, j, a)
			}
		}
	}
	if err := checkWeights(t, "B", t.B, t.Order); err != nil {
		return err
	}
	if t.BHat == nil {
		if t.EmbeddedOrder != 0 {
			return fmt.Errorf("tableau %q: EmbeddedOrder %d without BHat", t.Name, t.EmbeddedOrder)
		}
		return nil
	}
	if len(t.BHat) != s {
		return fmt.Errorf("tableau %q: BHat has %d weights, want %d", t.Name, len(t.BHat), s)
	}
	return checkWeights(t, "BHat", t.BHat, t.EmbeddedOrder)
}

// checkWeights checks one weight vector of t against its order conditions.
func checkWeights(t Tableau, name string, b []float64, p int) error {
	if p < 1 {
		return fmt.Errorf("tableau %q: order of %s is %d, want ≥ 1", t.Name, name, p)
	}
	for i, w := range b {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("tableau %q: %s[%d] = %v", t.Name, name, i, w)
		}
	}
	s := len(b)
	a := func(i, j int) float64 {
		if j < len(t.A[i]) {
			return t.A[i][j]
		}
		return 0
	}
	c := Nodes(t)
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
			return fmt.Errorf("tableau %q: %s does not have order %d: %s = %v, want %v", t.Name, name, p, k.what, k.got, k.want)
		}
	}
	return nil
}
