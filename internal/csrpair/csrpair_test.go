package csrpair

import (
	"math/rand/v2"
	"testing"

	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/sparse"
)

// TestNew: a Pair holds a private copy of its matrix and the transpose,
// stores a symmetric matrix once unless the permutation is asked for, has
// float32 values of both, and rejects an invalid matrix.
func TestNew(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	asym := sparsetest.RandomCSR(t, rng, 5, 4, 0.4)
	// A + Aᵀ of a random square matrix is symmetric.
	sq := sparsetest.RandomCSR(t, rng, 6, 6, 0.4)
	tr, _ := sq.Transpose()
	sym, err := sparse.FromCOO(6, 6, append(sq.Row(), tr.Row()...), append(append([]int(nil), sq.Col...), tr.Col...), append(append([]float64(nil), sq.Val...), tr.Val...))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		a        *sparse.CSR
		withPerm bool
		shared   bool
	}{{"asymmetric", asym, false, false}, {"symmetric", sym, false, true}, {"symmetric with perm", sym, true, false}} {
		p, err := New(tc.a, tc.withPerm)
		if err != nil {
			t.Fatal(err)
		}
		if !p.A.Equal(tc.a) || p.A == tc.a || &p.A.Val[0] == &tc.a.Val[0] {
			t.Errorf("%s: A is not a private copy", tc.name)
		}
		if shared := p.T == p.A; shared != tc.shared || (p.Perm == nil) != tc.shared {
			t.Errorf("%s: transpose shared = %v (perm %v), want %v", tc.name, shared, p.Perm, tc.shared)
		}
		want, _ := tc.a.Transpose()
		if !p.T.Equal(want) {
			t.Errorf("%s: T is not the transpose", tc.name)
		}
		for k, q := range p.Perm {
			if p.T.Val[k] != p.A.Val[q] {
				t.Fatalf("%s: Perm does not map A's values to T's", tc.name)
			}
		}
		a32, t32 := p.Vals32()
		for k := range a32 {
			if a32[k] != float32(p.A.Val[k]) || t32[k] != float32(p.T.Val[k]) {
				t.Fatalf("%s: float32 value %d differs", tc.name, k)
			}
		}
	}
	for i, a := range sparsetest.Invalid() {
		if _, err := New(a, true); err == nil {
			t.Errorf("invalid matrix %d accepted", i)
		}
	}
}
