package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/spmm"
	"github.com/gofde/gofde/internal/value"
)

// edgeDotOp computes, for every stored entry k = (i, j) of A, the
// derivative of ⟨G, op(A) X⟩ with respect to A's value k:
// ⟨G_i, X_j⟩ for op(A) = A and ⟨G_j, X_i⟩ for op(A) = Aᵀ.
type edgeDotOp struct {
	sp    *sparseMat
	trans bool
	d     int
	dtype tensor.Dtype
}

func (op *edgeDotOp) Arity() int { return 2 }

func (op *edgeDotOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, G.TensorType{Dims: 1, Of: a})
}

func (op *edgeDotOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.sp.A.NNZ()}, nil
}

func (op *edgeDotOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("ops: %v: %d inputs, want 2", op, len(in))
	}
	g, err := value.Float64s(in[0])
	if err != nil {
		return nil, fmt.Errorf("ops: %v: %w", op, err)
	}
	x, err := value.Float64s(in[1])
	if err != nil {
		return nil, fmt.Errorf("ops: %v: %w", op, err)
	}
	a := op.sp.A
	if op.trans {
		g, x = x, g
	}
	if len(g) != a.Rows*op.d || len(x) != a.Cols*op.d {
		return nil, fmt.Errorf("ops: %v: inputs of %d and %d values do not fit a %d×%d matrix with d = %d", op, len(g), len(x), a.Rows, a.Cols, op.d)
	}
	e := make([]float64, a.NNZ())
	spmm.EdgeDots(e, a.Ptr, a.Col, g, x, op.d)
	return value.New(op.dtype, tensor.Shape{len(e)}, e)
}

func (op *edgeDotOp) ReturnsPtr() bool     { return false }
func (op *edgeDotOp) CallsExtern() bool    { return false }
func (op *edgeDotOp) OverwritesInput() int { return -1 }

func (op *edgeDotOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "edgedot#%d(trans=%v, d=%d)", op.sp.id, op.trans, op.d)
}

func (op *edgeDotOp) Hashcode() uint32 { return hashOf(op) }

func (op *edgeDotOp) String() string { return fmt.Sprintf("EdgeDot{nnz=%d}", op.sp.A.NNZ()) }
