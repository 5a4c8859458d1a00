package ops

import (
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/conv"
	"github.com/gofde/gofde/internal/gemm"
	"github.com/gofde/gofde/internal/par"
)

// MatMul returns the node y = x w for a matrix x of shape (n, k) and
// weights w of shape (k, m), both float32 or both float64: a dense layer's
// product. Its gradients are one node each,
//
//	∂L/∂x = ∂L/∂y wᵀ,   ∂L/∂w = xᵀ ∂L/∂y,
//
// computed, like the product, with the library's matrix-multiply kernels,
// the rows split over GOMAXPROCS goroutines when the product is large
// (∂L/∂w summed from per-goroutine partial products). The output and both
// gradients are written into values kept from one run to the next, so a
// run's value is overwritten by the next run. It replaces G.Mul, whose
// output and gradients Gorgonia allocates on every run: fresh memory that
// the kernel zeroes page by page, a state-sized cost per training step for
// the decoder of a graph model.
func MatMul(x, w *G.Node) (*G.Node, error) {
	if x == nil || w == nil {
		return nil, errors.New("ops: MatMul: nil input or weights")
	}
	if x.Dims() != 2 || w.Dims() != 2 || x.Shape().TotalSize() == 0 || w.Shape().TotalSize() == 0 {
		return nil, fmt.Errorf("ops: MatMul: input of shape %v and weights of shape %v; want non-empty matrices (n, k) and (k, m)", x.Shape(), w.Shape())
	}
	if x.Shape()[1] != w.Shape()[0] {
		return nil, fmt.Errorf("ops: MatMul: input of shape %v and weights of shape %v do not chain", x.Shape(), w.Shape())
	}
	if err := sameFloat("MatMul", x.Dtype(), w); err != nil {
		return nil, err
	}
	op := &matMulOp{n: x.Shape()[0], k: x.Shape()[1], m: w.Shape()[1], dt: x.Dtype(), out: new(outBuf)}
	return apply(op, x, w)
}

// matMulChunk is the least number of multiply-adds worth a goroutine of
// its own: a few hundred microseconds of the kernels.
const matMulChunk = 1 << 22

// matMulKind says which product a matMulOp computes from its two inputs.
type matMulKind int

const (
	mmForward matMulKind = iota // (x, w) → x w
	mmGradX                     // (∂L/∂y, w) → ∂L/∂y wᵀ
	mmGradW                     // (x, ∂L/∂y) → xᵀ ∂L/∂y
)

// matMulOp is one of the three products of a dense layer with x of shape
// (n, k) and w of shape (k, m).
type matMulOp struct {
	n, k, m int
	dt      tensor.Dtype
	kind    matMulKind
	out     *outBuf

	mu   sync.Mutex // guards part
	part any        // []E: the per-goroutine partial products of mmGradW
}

// shapes returns the shapes of the two inputs and of the output.
func (op *matMulOp) shapes() (a, b, out tensor.Shape) {
	x, w, y := tensor.Shape{op.n, op.k}, tensor.Shape{op.k, op.m}, tensor.Shape{op.n, op.m}
	switch op.kind {
	case mmGradX:
		return y, w, x
	case mmGradW:
		return x, y, w
	}
	return x, w, y
}

func (op *matMulOp) Arity() int { return 2 }

func (op *matMulOp) Type() hm.Type {
	m := G.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	return hm.NewFnType(m, m, m)
}

func (op *matMulOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	_, _, s := op.shapes()
	return s, nil
}

func (op *matMulOp) ReturnsPtr() bool     { return false }
func (op *matMulOp) CallsExtern() bool    { return false }
func (op *matMulOp) OverwritesInput() int { return -1 }

func (op *matMulOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "matmul(%d,%d,%d,%v,%d)", op.n, op.k, op.m, op.dt, op.kind)
}

func (op *matMulOp) Hashcode() uint32 { return hashOf(op) }

func (op *matMulOp) String() string {
	name := [...]string{"MatMul", "∇ₓMatMul", "∇wMatMul"}[op.kind]
	return fmt.Sprintf("%s{%d×%d·%d×%d}", name, op.n, op.k, op.k, op.m)
}

func (op *matMulOp) Do(vals ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, vals...) }

// UsePreallocDo writes the product into prealloc when it fits, otherwise
// into the op's kept output.
func (op *matMulOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if len(vals) != 2 {
		return nil, fmt.Errorf("ops: %v: %d inputs, want 2", op, len(vals))
	}
	a, b, s := op.shapes()
	for i, sh := range []tensor.Shape{a, b} {
		if err := contiguousOf(vals[i], i, op.dt, sh); err != nil {
			return nil, fmt.Errorf("ops: %v: %w", op, err)
		}
	}
	out := op.out.output(prealloc, op.dt, s)
	var err error
	if op.dt == tensor.Float32 {
		err = matMulRun[float32](op, out.Data().([]float32), vals)
	} else {
		err = matMulRun[float64](op, out.Data().([]float64), vals)
	}
	if err != nil {
		return nil, fmt.Errorf("ops: %v: %w", op, err)
	}
	return out, nil
}

// matMulRun computes the op's product into o.
func matMulRun[E conv.Float](op *matMulOp, o []E, vals []G.Value) error {
	in, err := data[E](vals...)
	if err != nil {
		return err
	}
	a, b := in[0], in[1]
	n, k, m := op.n, op.k, op.m
	// Workers split the n rows of x (or of ∂L/∂y), each with at least
	// matMulChunk multiply-adds.
	p := min(par.Pieces(n*k*m, matMulChunk), n)
	switch op.kind {
	case mmForward:
		par.For(n, p, func(_, lo, hi int) {
			gemm.Mul(false, false, hi-lo, m, k, a[lo*k:hi*k], k, b, m, 0, o[lo*m:hi*m], m)
		})
	case mmGradX:
		par.For(n, p, func(_, lo, hi int) {
			gemm.Mul(false, true, hi-lo, k, m, a[lo*m:hi*m], m, b, m, 0, o[lo*k:hi*k], k)
		})
	case mmGradW:
		if p <= 1 {
			gemm.Mul(true, false, k, m, n, a, k, b, m, 0, o, m)
			return nil
		}
		// xᵀ ∂L/∂y sums over the rows: each worker forms the product of
		// its rows in its own k × m block, and the blocks are added up in
		// worker order, so the result does not depend on the timing.
		op.mu.Lock()
		defer op.mu.Unlock()
		part, _ := op.part.([]E)
		if len(part) < (p-1)*k*m {
			part = make([]E, (p-1)*k*m)
			op.part = part
		}
		par.For(n, p, func(w, lo, hi int) {
			dst := o
			if w > 0 {
				dst = part[(w-1)*k*m : w*k*m]
			}
			gemm.Mul(true, false, k, m, hi-lo, a[lo*k:hi*k], k, b[lo*m:hi*m], m, 0, dst, m)
		})
		for w := 1; w < p; w++ {
			blk := part[(w-1)*k*m : w*k*m]
			for i, v := range blk {
				o[i] += v
			}
		}
	}
	return nil
}

// DiffWRT: both inputs of the product are differentiable; the gradient
// products are not differentiated again.
func (op *matMulOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = op.kind == mmForward
	}
	return d
}

// grads returns the two gradient ops of a forward op.
func (op *matMulOp) grads() (gx, gw *matMulOp) {
	gx = &matMulOp{n: op.n, k: op.k, m: op.m, dt: op.dt, kind: mmGradX, out: new(outBuf)}
	gw = &matMulOp{n: op.n, k: op.k, m: op.m, dt: op.dt, kind: mmGradW, out: new(outBuf)}
	return gx, gw
}

// SymDiff returns the nodes ∂L/∂y wᵀ and xᵀ ∂L/∂y.
func (op *matMulOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if op.kind != mmForward || len(inputs) != 2 {
		return nil, fmt.Errorf("ops: %v: only the product itself is differentiable", op)
	}
	if grad == nil {
		return nil, fmt.Errorf("ops: %v gradient: nil cotangent", op)
	}
	gx, gw := op.grads()
	dx, err := apply(gx, grad, inputs[1])
	if err != nil {
		return nil, err
	}
	dw, err := apply(gw, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

// DoDiff adds the two gradients into the inputs' gradients (LispMachine).
func (op *matMulOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	if op.kind != mmForward || len(inputs) != 2 {
		return fmt.Errorf("ops: %v: only the product itself is differentiable", op)
	}
	dy, err := output.Grad()
	if err != nil {
		return fmt.Errorf("ops: %v: output gradient: %w", op, err)
	}
	gx, gw := op.grads()
	dx, err := gx.Do(dy, inputs[1].Value())
	if err != nil {
		return err
	}
	dw, err := gw.Do(inputs[0].Value(), dy)
	if err != nil {
		return err
	}
	for i, d := range []G.Value{dx, dw} {
		if err := addGradValue(inputs[i], d); err != nil {
			return fmt.Errorf("ops: %v: input %d: %w", op, i, err)
		}
	}
	return nil
}
