// Package csrpair holds a sparse matrix together with its transpose, in
// the form that the sparse ops (package ops) and the graph diffusion
// fields (package graph) compute with: a validated private copy of a
// sparse.CSR, so that a matrix changed by hand afterwards cannot make a
// kernel index out of range, its transpose for the backward products, and
// float32 copies of the values for the float32 products.
package csrpair

import (
	"sync"

	"github.com/gofde/gofde/internal/vec"
	"github.com/gofde/gofde/sparse"
)

// Pair is a CSR matrix A with its transpose. When A is symmetric and only
// its own values are used (see New), T is A itself and Perm is nil, which
// halves the memory of a normalised adjacency. A Pair and its matrices
// must not be modified.
type Pair struct {
	// A is the private copy of the matrix.
	A *sparse.CSR
	// T is Aᵀ, or A itself when A is symmetric and Perm is not needed.
	T *sparse.CSR
	// Perm maps values on A's pattern to values on T's: T.Val[k] =
	// A.Val[Perm[k]]. It is nil when T is A.
	Perm []int

	once32   sync.Once
	a32, t32 []float32 // float32 copies of A.Val and T.Val, made on first use
}

// New validates a and returns a Pair of a private copy of it. withPerm
// keeps the permutation that maps values on a's pattern to values on the
// transpose's, which a product with values other than a's own needs;
// without it a symmetric a is stored once.
func New(a *sparse.CSR, withPerm bool) (*Pair, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	a = a.Clone()
	t, perm := a.Transpose()
	p := &Pair{A: a, T: t, Perm: perm}
	if !withPerm && a.Equal(t) {
		p.T, p.Perm = a, nil
	}
	return p, nil
}

// Vals32 returns the float32 values of A and of T, made on the first call.
func (p *Pair) Vals32() (a32, t32 []float32) {
	p.once32.Do(func() {
		p.a32 = make([]float32, len(p.A.Val))
		vec.Narrow(p.a32, p.A.Val)
		p.t32 = p.a32
		if p.T != p.A {
			p.t32 = make([]float32, len(p.T.Val))
			vec.Narrow(p.t32, p.T.Val)
		}
	})
	return p.a32, p.t32
}
