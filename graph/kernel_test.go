package graph

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// naiveProduct returns A X (A r × c, X c × d) from A's dense form.
func naiveProduct(a *CSR, x []float64, d int) []float64 {
	dense := a.Dense()
	y := make([]float64, a.Rows*d)
	for i := 0; i < a.Rows; i++ {
		for j := 0; j < a.Cols; j++ {
			if v := dense[i*a.Cols+j]; v != 0 {
				for c := 0; c < d; c++ {
					y[i*d+c] += v * x[j*d+c]
				}
			}
		}
	}
	return y
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	narrow(y, x)
	return y
}

// TestKernels compares the blocked, parallel products (float64 and
// float32, overwriting and adding, transposed) with a dense product, on
// matrices small enough for one block and large enough for all cores, and
// widths that are and are not multiples of eight.
func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, sz := range []struct{ rows, cols int }{{1, 1}, {7, 5}, {400, 300}} {
		a := randomCSR(t, rng, sz.rows, sz.cols, 0.05)
		for _, d := range []int{1, 3, 8, 13, 40, 64, 71} {
			if a.NNZ()*d >= parallelWork && runtime.GOMAXPROCS(0) == 1 {
				t.Log("one core: the parallel path is not exercised")
			}
			x := randVec(rng, a.Cols*d)
			want := naiveProduct(a, x, d)
			base := randVec(rng, a.Rows*d)

			got := append([]float64(nil), base...)
			spmmPar(got, a.Ptr, a.Col, a.Val, x, d, false)
			got2 := append([]float64(nil), base...)
			spmmPar(got2, a.Ptr, a.Col, a.Val, x, d, true)
			got32 := to32(base)
			spmmPar(got32, a.Ptr, a.Col, to32(a.Val), to32(x), d, false)
			add32 := to32(base)
			spmmPar(add32, a.Ptr, a.Col, to32(a.Val), to32(x), d, true)
			for i := range want {
				if math.Abs(float64(add32[i])-base[i]-want[i]) > 1e-5*(1+math.Abs(want[i])+math.Abs(base[i])) {
					t.Fatalf("%d×%d, d = %d: float32 added entry %d = %v, want %v", sz.rows, sz.cols, d, i, float64(add32[i])-base[i], want[i])
				}
				if math.Abs(got[i]-want[i]) > 1e-12 || math.Abs(got2[i]-base[i]-want[i]) > 1e-12 {
					t.Fatalf("%d×%d, d = %d: entry %d = %v (added: %v), want %v", sz.rows, sz.cols, d, i, got[i], got2[i]-base[i], want[i])
				}
				if math.Abs(float64(got32[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("%d×%d, d = %d: float32 entry %d = %v, want %v", sz.rows, sz.cols, d, i, got32[i], want[i])
				}
			}

			// Aᵀ g by scattering, against the product with the transpose.
			g := randVec(rng, a.Rows*d)
			tr, _ := a.Transpose()
			wantT := naiveProduct(tr, g, d)
			gotT := randVec(rng, a.Cols*d) // overwritten
			spmmTransPar(gotT, a.Ptr, a.Col, a.Val, g, d)
			gotT32 := make([]float32, a.Cols*d)
			spmmTransPar(gotT32, a.Ptr, a.Col, to32(a.Val), to32(g), d)
			for i := range wantT {
				if math.Abs(gotT[i]-wantT[i]) > 1e-12 || math.Abs(float64(gotT32[i])-wantT[i]) > 1e-5*(1+math.Abs(wantT[i])) {
					t.Fatalf("%d×%d, d = %d: transposed entry %d = %v (float32 %v), want %v", sz.rows, sz.cols, d, i, gotT[i], gotT32[i], wantT[i])
				}
			}
		}
	}
}

// TestGatherRowBadIndex: the vector kernel leaves a row whose column
// index is outside x to the checked Go loop instead of reading past x.
func TestGatherRowBadIndex(t *testing.T) {
	x := make([]float32, 3*16)
	out := make([]float32, 16)
	if got := gatherRow32(out, x, 16, []int{0, 3}, []float32{1, 1}, false); got != 0 {
		t.Errorf("index 3 of 3 rows: the kernel did %d columns", got)
	}
	if got := gatherRow32(out, x, 16, []int{0, -1}, []float32{1, 1}, false); got != 0 {
		t.Errorf("index -1: the kernel did %d columns", got)
	}
	if hasAVX2 {
		if got := gatherRow32(out, x, 16, []int{2, 0}, []float32{1, 1}, false); got != 16 {
			t.Errorf("valid indices: the kernel did %d of 16 columns", got)
		}
	}
}

// TestRowBlocks: the blocks cover the rows in order, and no block holds
// much more than its share of the work.
func TestRowBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, rows := range []int{1, 2, 5, 1000} {
		ptr := make([]int, rows+1)
		for i := 0; i < rows; i++ {
			ptr[i+1] = ptr[i] + rng.IntN(20)
		}
		for _, blocks := range []int{1, 2, 4, 64, 1000} {
			var b [maxBlocks + 1]int
			nb := rowBlocks(b[:], ptr, blocks)
			if nb < 1 || nb > min(blocks, rows, maxBlocks) || b[0] != 0 || b[nb] != rows {
				t.Fatalf("%d rows, %d blocks: %d blocks %v", rows, blocks, nb, b[:nb+1])
			}
			total := ptr[rows] + rows
			for k := 0; k < nb; k++ {
				if b[k] > b[k+1] {
					t.Fatalf("%d rows, %d blocks: bounds %v decrease", rows, blocks, b[:nb+1])
				}
				if w := ptr[b[k+1]] + b[k+1] - ptr[b[k]] - b[k]; rows >= 100 && w > total/nb+2*21 {
					t.Errorf("%d rows, %d blocks: block %d holds %d of %d", rows, blocks, k, w, total)
				}
			}
		}
	}
}

// TestLinearDiffusionFloat32: in float32 mode Eval and VJP agree with
// float64 to float32 precision, on a symmetric matrix (whose transpose is
// shared) and a non-symmetric one; a symmetric Â is stored once.
func TestLinearDiffusionFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	sq := randomCSR(t, rng, 300, 300, 0.03)
	for k := range sq.Val {
		sq.Val[k] = math.Abs(sq.Val[k])
	}
	sym, err := Symmetrize(sq)
	if err != nil {
		t.Fatal(err)
	}
	as, err := NormalizeSym(sym)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := NormalizeRW(sym)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		a      *CSR
		shared bool
		d      int
	}{{"sym", as, true, 20}, {"rw", ar, false, 64}} {
		d := tc.d
		f64, err := NewLinearDiffusion(tc.a, d)
		if err != nil {
			t.Fatal(err)
		}
		f32, err := NewLinearDiffusion(tc.a, d)
		if err != nil {
			t.Fatal(err)
		}
		f32.SetFloat32(true)
		if !f32.Float32() || f64.Float32() {
			t.Fatal("Float32 does not report SetFloat32")
		}
		if got := f64.sp.t == f64.sp.a; got != tc.shared {
			t.Errorf("%s: transpose shared = %v, want %v", tc.name, got, tc.shared)
		}
		x, v := randVec(rng, 2*f64.Dim()), randVec(rng, 2*f64.Dim()) // two samples
		y64, y32 := make([]float64, len(x)), make([]float64, len(x))
		b64, b32 := make([]float64, len(x)), make([]float64, len(x))
		for _, f := range []struct {
			f    *LinearDiffusion
			y, b []float64
		}{{f64, y64, b64}, {f32, y32, b32}} {
			if err := f.f.Eval(f.y, 0, x, nil); err != nil {
				t.Fatal(err)
			}
			if err := f.f.VJP(f.b, nil, 0, x, nil, v); err != nil {
				t.Fatal(err)
			}
		}
		want := naiveProduct(tc.a, x[:f64.Dim()], d)
		for i := range y64 {
			if i < len(want) && math.Abs(y64[i]-(want[i]-x[i])) > 1e-12 {
				t.Fatalf("%s: float64 Eval[%d] = %v, want %v", tc.name, i, y64[i], want[i]-x[i])
			}
			if math.Abs(y32[i]-y64[i]) > 1e-6 || math.Abs(b32[i]-b64[i]) > 1e-6 {
				t.Fatalf("%s: float32 Eval/VJP [%d] = %v/%v, float64 %v/%v", tc.name, i, y32[i], b32[i], y64[i], b64[i])
			}
		}
	}
}

// TestDiffusionAllocs: the float32 and float64 fields allocate nothing
// per evaluation once warm (the FDE solver calls them every step).
func TestDiffusionAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers under the race detector")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	a := randomCSR(t, rng, 2000, 2000, 0.005)
	for _, on := range []bool{false, true} {
		f, err := NewLinearDiffusion(a, 16)
		if err != nil {
			t.Fatal(err)
		}
		f.SetFloat32(on)
		x, y := randVec(rng, f.Dim()), make([]float64, f.Dim())
		if n := testing.AllocsPerRun(20, func() {
			if err := f.Eval(y, 0, x, nil); err != nil {
				t.Fatal(err)
			}
			if err := f.VJP(y, nil, 0, x, nil, x); err != nil {
				t.Fatal(err)
			}
		}); n > 0 {
			t.Errorf("float32 %v: %v allocations per Eval + VJP", on, n)
		}
	}
}

// TestSparseMatMulGradient checks dL/dW of (X ⊙ M) W against central
// differences (float64, TapeMachine and LispMachine), with and without a
// mask.
func TestSparseMatMulGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	x := randomCSR(t, rng, 9, 6, 0.3)
	mask := randVec(rng, x.NNZ())
	for _, masked := range []bool{false, true} {
		checkGrad(t, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
			var m *G.Node
			if masked {
				m = G.NewVector(g, tensor.Float64, G.WithShape(x.NNZ()), G.WithName("mask"),
					G.WithValue(tensor.New(tensor.WithShape(x.NNZ()), tensor.WithBacking(append([]float64(nil), mask...)))))
			}
			return SparseMatMul(x, in[0], m)
		}, [][]float64{randVec(rng, 6*4)}, []tensor.Shape{{6, 4}}, 1e-7)
	}
}

// TestSparseMatMulFloat32: the float32 op's output and weight gradient
// equal the dense float64 products (X ⊙ M) W and (X ⊙ M)ᵀ C for the loss
// Σ C ⊙ Y, to float32 precision, on a matrix large enough for all cores.
func TestSparseMatMulFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const h = 16
	x := randomCSR(t, rng, 1500, 100, 0.05)
	mask := make([]float32, x.NNZ())
	if err := FillDropout(mask, 0.5, rng.Float64); err != nil {
		t.Fatal(err)
	}
	xm := x.clone()
	for k := range xm.Val {
		xm.Val[k] *= float64(mask[k])
	}
	w, c := randVec(rng, x.Cols*h), randVec(rng, x.Rows*h)
	g := G.NewGraph()
	wn := G.NewMatrix(g, tensor.Float32, G.WithShape(x.Cols, h), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(x.Cols, h), tensor.WithBacking(to32(w)))))
	mn := G.NewVector(g, tensor.Float32, G.WithShape(x.NNZ()), G.WithName("mask"),
		G.WithValue(tensor.New(tensor.WithShape(x.NNZ()), tensor.WithBacking(mask))))
	cn := G.NewMatrix(g, tensor.Float32, G.WithShape(x.Rows, h), G.WithName("c"),
		G.WithValue(tensor.New(tensor.WithShape(x.Rows, h), tensor.WithBacking(to32(c)))))
	y, err := SparseMatMul(x, wn, mn)
	if err != nil {
		t.Fatal(err)
	}
	l := G.Must(G.Sum(G.Must(G.HadamardProd(y, cn))))
	if _, err := G.Grad(l, wn); err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g, G.BindDualValues(wn))
	defer m.Close()
	for run := 0; run < 2; run++ { // the second run reuses the output values
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		wantY := naiveProduct(xm, w, h)
		tr, _ := xm.Transpose()
		wantG := naiveProduct(tr, c, h)
		gotY := y.Value().Data().([]float32)
		gv, err := wn.Grad()
		if err != nil {
			t.Fatal(err)
		}
		gotG := gv.Data().([]float32)
		for i := range wantY {
			if math.Abs(float64(gotY[i])-wantY[i]) > 1e-5*(1+math.Abs(wantY[i])) {
				t.Fatalf("run %d: Y[%d] = %v, want %v", run, i, gotY[i], wantY[i])
			}
		}
		for i := range wantG {
			if math.Abs(float64(gotG[i])-wantG[i]) > 1e-4*(1+math.Abs(wantG[i])) {
				t.Fatalf("run %d: dW[%d] = %v, want %v", run, i, gotG[i], wantG[i])
			}
		}
		m.Reset()
		// The machine adds into bound gradients (an optimizer step
		// zeroes them); zero them as a step would.
		clear(gotG)
	}
}

func TestSparseMatMulErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x := randomCSR(t, rng, 5, 4, 0.3)
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("w"))
	bad := []struct {
		name string
		x    *CSR
		w, m *G.Node
	}{
		{"nil matrix", nil, w, nil},
		{"nil weights", x, nil, nil},
		{"invalid matrix", &CSR{Rows: 1, Cols: 1, Ptr: []int{0, 2}, Col: []int{0}, Val: []float64{1}}, w, nil},
		{"wrong weight rows", x, G.NewMatrix(g, tensor.Float64, G.WithShape(5, 3), G.WithName("w5")), nil},
		{"integer weights", x, G.NewMatrix(g, tensor.Int, G.WithShape(4, 3), G.WithName("wi")), nil},
		{"short mask", x, w, G.NewVector(g, tensor.Float64, G.WithShape(x.NNZ()-1), G.WithName("m1"))},
		{"mask dtype", x, w, G.NewVector(g, tensor.Float32, G.WithShape(x.NNZ()), G.WithName("m2"))},
	}
	for _, tc := range bad {
		if _, err := SparseMatMul(tc.x, tc.w, tc.m); err == nil {
			t.Errorf("%s accepted", tc.name)
		}
	}
	if err := FillDropout(make([]float64, 3), 1, rng.Float64); err == nil {
		t.Error("dropout rate 1 accepted")
	}
	if err := FillDropout(make([]float64, 3), math.NaN(), rng.Float64); err == nil {
		t.Error("dropout rate NaN accepted")
	}
	if err := FillDropout(make([]float32, 3), 0.5, nil); err == nil {
		t.Error("nil random source accepted")
	}
	m := make([]float64, 10000)
	if err := FillDropout(m, 0.3, rng.Float64); err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, v := range m {
		switch v {
		case 0:
		case 1 / 0.7:
			kept++
		default:
			t.Fatalf("mask value %v", v)
		}
	}
	if math.Abs(float64(kept)/1e4-0.7) > 0.03 {
		t.Errorf("kept %d of 10000 at rate 0.3", kept)
	}
}
