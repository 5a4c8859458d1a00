package tableau

import (
	"math"
	"testing"
)

// TestBuiltinsValid checks every built-in method against its order
// conditions and the Dormand-Prince nodes against their exact values.
func TestBuiltinsValid(t *testing.T) {
	for _, tb := range []Tableau{Euler(), Heun(), RK3(), RK4(), BogackiShampine(), DormandPrince()} {
		if err := tb.Validate(); err != nil {
			t.Errorf("%s: %v", tb.Name, err)
		}
	}
	want := []float64{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1}
	for i, c := range Nodes(DormandPrince()) {
		if math.Abs(c-want[i]) > 1e-15 {
			t.Errorf("dopri5 node %d = %v, want %v", i, c, want[i])
		}
	}
}

// TestCloneIsDeep checks that a clone shares no slice with the original.
func TestCloneIsDeep(t *testing.T) {
	a := BogackiShampine()
	b := Clone(a)
	b.A[1][0], b.B[0], b.BHat[0] = 9, 9, 9
	if a.A[1][0] == 9 || a.B[0] == 9 || a.BHat[0] == 9 {
		t.Error("Clone shares storage with the original")
	}
}
