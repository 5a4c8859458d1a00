package layers

import (
	"fmt"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// ParamBlock locates one parameter tensor inside a field's flat parameter
// vector θ: the tensor occupies θ[Offset : Offset+Size()], flattened
// row-major (last index fastest) with dimensions Shape.
type ParamBlock struct {
	// Name is the tensor's conventional name ("W1", "b1", ...).
	Name string
	// Offset is the index in θ of the tensor's first element.
	Offset int
	// Shape holds the tensor's dimensions, outermost first.
	Shape []int
}

// Size returns the number of elements of the block, the product of Shape.
func (b ParamBlock) Size() int {
	n := 1
	for _, s := range b.Shape {
		n *= s
	}
	return n
}

// Slice returns the block's elements θ[Offset : Offset+Size()] of theta
// (sharing its storage). theta must be at least Offset+Size() long.
func (b ParamBlock) Slice(theta []float64) []float64 {
	return theta[b.Offset : b.Offset+b.Size()]
}

// scratchPool hands out float64 buffers of at least a requested length.
// A buffer that is too short is dropped and replaced by a larger one, so
// after a warm-up at the largest size Get allocates nothing.
type scratchPool struct{ p sync.Pool }

func (s *scratchPool) get(n int) *[]float64 {
	if b, ok := s.p.Get().(*[]float64); ok {
		if cap(*b) >= n {
			*b = (*b)[:n]
			return b
		}
	}
	b := make([]float64, n)
	return &b
}

func (s *scratchPool) put(b *[]float64) { s.p.Put(b) }

// Tile sizes of gemm for gonum's pure-Go BLAS. gonum's Dgemm splits a
// product whose C has at least four 64×64 blocks across goroutines, which
// allocates on every call; tiles of at most 64×192 (or 192×64) keep every
// call on its serial path. The fields get their parallelism from the
// solvers, which split the rows of a RowwiseField across goroutines.
const (
	gemmSmall = 64
	gemmLarge = 192
)

// tiledGemm computes C = alpha op(A) op(B) + beta C like blas64.Gemm, on
// row-major views. With gonum's own implementation it tiles C so that each
// Dgemm call runs serially and allocates nothing; with any other
// implementation installed by blas64.Use (OpenBLAS through gonum's netlib
// wrapper, say) it makes a single call.
func tiledGemm(tA, tB blas.Transpose, alpha float64, a, b blas64.General, beta float64, c blas64.General) {
	m, n := c.Rows, c.Cols
	if m == 0 || n == 0 {
		return
	}
	if _, pure := blas64.Implementation().(gonum.Implementation); !pure || ceilDiv(m, gemmSmall)*ceilDiv(n, gemmSmall) < 4 {
		blas64.Gemm(tA, tB, alpha, a, b, beta, c)
		return
	}
	tm, tn := gemmSmall, gemmLarge
	if m > n {
		tm, tn = gemmLarge, gemmSmall
	}
	// Balanced tiles: the fewest tiles of at most tm×tn, of nearly equal size.
	tm = ceilDiv(m, ceilDiv(m, tm))
	tn = ceilDiv(n, ceilDiv(n, tn))
	for i0 := 0; i0 < m; i0 += tm {
		i1 := min(i0+tm, m)
		as := opRows(a, tA, i0, i1)
		for j0 := 0; j0 < n; j0 += tn {
			j1 := min(j0+tn, n)
			bs := opCols(b, tB, j0, j1)
			cs := blas64.General{Rows: i1 - i0, Cols: j1 - j0, Stride: c.Stride, Data: c.Data[i0*c.Stride+j0:]}
			blas64.Gemm(tA, tB, alpha, as, bs, beta, cs)
		}
	}
}

// opRows returns the view of a whose op(a) is rows i0..i1 of op(a).
func opRows(a blas64.General, t blas.Transpose, i0, i1 int) blas64.General {
	if t == blas.NoTrans {
		return blas64.General{Rows: i1 - i0, Cols: a.Cols, Stride: a.Stride, Data: a.Data[i0*a.Stride:]}
	}
	return blas64.General{Rows: a.Rows, Cols: i1 - i0, Stride: a.Stride, Data: a.Data[i0:]}
}

// opCols returns the view of b whose op(b) is columns j0..j1 of op(b).
func opCols(b blas64.General, t blas.Transpose, j0, j1 int) blas64.General {
	if t == blas.NoTrans {
		return blas64.General{Rows: b.Rows, Cols: j1 - j0, Stride: b.Stride, Data: b.Data[j0:]}
	}
	return blas64.General{Rows: j1 - j0, Cols: b.Cols, Stride: b.Stride, Data: b.Data[j0*b.Stride:]}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// rowMajor returns the rows×cols row-major view of data with stride cols.
func rowMajor(rows, cols int, data []float64) blas64.General {
	return blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: data}
}

// checkFieldState validates a batch of states of dimension dim against θ.
func checkFieldState(name string, dim, np int, x, theta []float64) error {
	if len(x)%dim != 0 {
		return fmt.Errorf("layers: %s: state of length %d is not a multiple of the dimension %d", name, len(x), dim)
	}
	if len(theta) != np {
		return fmt.Errorf("layers: %s: θ of length %d, want %d", name, len(theta), np)
	}
	return nil
}

// checkFieldLen validates a slice that must be n long (or nil when nilOK).
func checkFieldLen(name, what string, s []float64, n int, nilOK bool) error {
	if s == nil && nilOK {
		return nil
	}
	if len(s) != n {
		return fmt.Errorf("layers: %s: %s of length %d, want %d", name, what, len(s), n)
	}
	return nil
}
