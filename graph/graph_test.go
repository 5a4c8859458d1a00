package graph

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sbinet/npyio/npz"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/sparsetest"
	"github.com/gofde/gofde/layers"
	"github.com/gofde/gofde/ops"
	"github.com/gofde/gofde/sparse"
)

// coraPath returns ../shared/data/npz/cora.npz relative to the repository
// root, or skips the test.
func coraPath(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, "..", "shared", "data", "npz", "cora.npz")
			if _, err := os.Stat(p); err != nil {
				t.Skipf("cora fixture %s not available: %v", p, err)
			}
			return p
		}
		if filepath.Dir(d) == d {
			t.Skip("repository root (go.mod) not found")
		}
	}
}

func TestNormalize(t *testing.T) {
	// path 0-1-2
	a, err := sparse.FromCOO(3, 3, []int{0, 1, 1, 2}, []int{1, 0, 2, 1}, []float64{1, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NormalizeSym(a)
	if err != nil {
		t.Fatal(err)
	}
	deg := []float64{2, 3, 2}
	d := s.Dense()
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			want := 0.0
			if i == j || (i-j)*(i-j) == 1 {
				want = 1 / math.Sqrt(deg[i]*deg[j])
			}
			if math.Abs(d[i*3+j]-want) > 1e-15 {
				t.Fatalf("sym (%d,%d) = %v, want %v", i, j, d[i*3+j], want)
			}
		}
	}
	r, err := NormalizeRW(a)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		sum := 0.0
		for k := r.Ptr[i]; k < r.Ptr[i+1]; k++ {
			sum += r.Val[k]
		}
		if math.Abs(sum-1) > 1e-15 {
			t.Fatalf("random-walk row %d sums to %v", i, sum)
		}
	}
	if _, err := NormalizeSym(&sparse.CSR{Rows: 2, Cols: 3, Ptr: []int{0, 0, 0}}); err == nil {
		t.Fatal("non-square matrix accepted")
	}
}

// TestFieldVJP checks the fields' VJPs against central differences of Eval.
func TestFieldVJP(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a := sparsetest.RandomCSR(t, rng, 6, 6, 0.3)
	lin, err := NewLinearDiffusion(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	edge, err := NewEdgeDiffusion(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	sym, err := Symmetrize(a)
	if err != nil {
		t.Fatal(err)
	}
	pattern, err := NormalizeSym(sym) // A + I: every row has an entry
	if err != nil {
		t.Fatal(err)
	}
	attRow, err := NewAttentionDiffusion(pattern, 2, 3, ops.RowSoftmax)
	if err != nil {
		t.Fatal(err)
	}
	attSym, err := NewAttentionDiffusion(pattern, 3, 2, ops.SymSoftmax)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []fode.Field{lin, edge, attRow, attSym} {
		// Two states in a row for the attention fields: each block gets
		// its own attention.
		rows := 1
		if _, ok := f.(*AttentionDiffusion); ok {
			rows = 2
		}
		x, v := sparsetest.RandVec(rng, rows*f.Dim()), sparsetest.RandVec(rng, rows*f.Dim())
		th := sparsetest.RandVec(rng, f.NumParams())
		xbar, tbar := make([]float64, len(x)), make([]float64, len(th))
		if err := f.VJP(xbar, tbar, 0, x, th, v); err != nil {
			t.Fatal(err)
		}
		dot := func(x, th []float64) float64 {
			y := make([]float64, len(x))
			if err := f.Eval(y, 0, x, th); err != nil {
				t.Fatal(err)
			}
			s := 0.0
			for i := range y {
				s += y[i] * v[i]
			}
			return s
		}
		const h = 1e-6
		for i := range x {
			p, m := append([]float64(nil), x...), append([]float64(nil), x...)
			p[i] += h
			m[i] -= h
			if fd := (dot(p, th) - dot(m, th)) / (2 * h); math.Abs(fd-xbar[i]) > 1e-8 {
				t.Fatalf("%T xbar[%d] = %v, fd %v", f, i, xbar[i], fd)
			}
		}
		for i := range th {
			p, m := append([]float64(nil), th...), append([]float64(nil), th...)
			p[i] += h
			m[i] -= h
			if fd := (dot(x, p) - dot(x, m)) / (2 * h); math.Abs(fd-tbar[i]) > 1e-8 {
				t.Fatalf("%T thetabar[%d] = %v, fd %v", f, i, tbar[i], fd)
			}
		}
	}
}

// TestAttentionDiffusion: the state-dependent attention field with
// equal keys (W_K = 0) is the diffusion on the normalised pattern
// (D⁻¹(A+I) for the row softmax, NormalizeSym's matrix for the symmetric
// one); Init fills θ; bad arguments are errors.
func TestAttentionDiffusion(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := sparsetest.RandomCSR(t, rng, 7, 7, 0.3)
	sym, err := Symmetrize(a)
	if err != nil {
		t.Fatal(err)
	}
	ahat, err := NormalizeSym(sym)
	if err != nil {
		t.Fatal(err)
	}
	arw, err := NormalizeRW(sym)
	if err != nil {
		t.Fatal(err)
	}
	const d, dk = 3, 2
	for _, tc := range []struct {
		norm ops.AttentionNorm
		want *sparse.CSR
	}{{ops.RowSoftmax, arw}, {ops.SymSoftmax, ahat}} {
		f, err := NewAttentionDiffusion(ahat, d, dk, tc.norm)
		if err != nil {
			t.Fatal(err)
		}
		if f.Dim() != 7*d || f.NumParams() != 2*d*dk || len(f.ParamShapes()) != 2 {
			t.Fatalf("Dim %d, NumParams %d, shapes %v", f.Dim(), f.NumParams(), f.ParamShapes())
		}
		th := make([]float64, f.NumParams())
		if err := f.Init(th, rand.New(rand.NewPCG(1, 1))); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(th, make([]float64, len(th))) {
			t.Error("Init left θ at zero")
		}
		for i := range d * dk {
			th[i] = 0 // W_K = 0: every score is 0
		}
		lin, err := NewLinearDiffusion(tc.want, d)
		if err != nil {
			t.Fatal(err)
		}
		x := sparsetest.RandVec(rng, f.Dim())
		got, want := make([]float64, len(x)), make([]float64, len(x))
		if err := f.Eval(got, 0, x, th); err != nil {
			t.Fatal(err)
		}
		if err := lin.Eval(want, 0, x, nil); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Fatalf("%v: f(x)[%d] = %v, want %v", tc.norm, i, got[i], want[i])
			}
		}
		if err := f.Eval(got, 0, x, th[1:]); err == nil {
			t.Error("short θ accepted")
		}
		if err := f.VJP(make([]float64, 2), nil, 0, x, th, x); err == nil {
			t.Error("short xbar accepted")
		}
		if err := f.Init(th, nil); err == nil {
			t.Error("Init without a random source accepted")
		}
	}
	if _, err := NewAttentionDiffusion(ahat, 0, 2, ops.RowSoftmax); err == nil {
		t.Error("d = 0 accepted")
	}
	if _, err := NewAttentionDiffusion(ahat, 2, 2, ops.AttentionNorm(7)); err == nil {
		t.Error("unknown normalisation accepted")
	}
	noSelf, err := sparse.NewCSR(2, 2, []int{0, 1, 1}, []int{1}, []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAttentionDiffusion(noSelf, 2, 2, ops.RowSoftmax); err == nil || !strings.Contains(err.Error(), "no neighbours") {
		t.Errorf("a row without entries: %v", err)
	}
	asym, err := sparse.NewCSR(2, 2, []int{0, 2, 3}, []int{0, 1, 1}, []float64{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAttentionDiffusion(asym, 2, 2, ops.SymSoftmax); err == nil || !strings.Contains(err.Error(), "symmetric") {
		t.Errorf("an asymmetric pattern with ops.SymSoftmax: %v", err)
	}
}

// TestBlockMatchesUnrolled compares the gradients of a graph FDE block
// (adjoint) with backpropagation through the unrolled solver.
func TestBlockMatchesUnrolled(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	adjRaw := sparsetest.RandomCSR(t, rng, 12, 12, 0.2)
	for k := range adjRaw.Val {
		adjRaw.Val[k] = 1
	}
	sym, err := Symmetrize(adjRaw)
	if err != nil {
		t.Fatal(err)
	}
	norm, err := NormalizeSym(sym)
	if err != nil {
		t.Fatal(err)
	}
	const d = 3
	x0 := sparsetest.RandVec(rng, 12*d)
	cw := sparsetest.RandVec(rng, 12*d)
	newField := map[string]func() (layers.ParamField, error){
		"linear": func() (layers.ParamField, error) { return NewLinearDiffusion(norm, d) },
		"edge":   func() (layers.ParamField, error) { return NewEdgeDiffusion(norm, d) },
	}
	for _, name := range []string{"linear", "edge"} {
		for _, method := range []fode.Method{fode.Rectangle, fode.PECE} {
			t.Run(name+"/"+method.String(), func(t *testing.T) {
				grads := func(mode layers.Mode) [][]float64 {
					f, err := newField[name]()
					if err != nil {
						t.Fatal(err)
					}
					g := G.NewGraph()
					x := G.NewMatrix(g, tensor.Float64, G.WithShape(12, d), G.WithName("x0"),
						G.WithValue(tensor.New(tensor.WithShape(12, d), tensor.WithBacking(append([]float64(nil), x0...)))))
					b, err := layers.NewFDEBlock(g, "blk", f, layers.BlockConfig{Grad: mode,
						Solve: fode.Options{Method: method, Alpha: 0.7, T: 3, Steps: 6}})
					if err != nil {
						t.Fatal(err)
					}
					y, err := b.Fwd(x)
					if err != nil {
						t.Fatal(err)
					}
					c := G.NewMatrix(g, tensor.Float64, G.WithShape(12, d), G.WithName("c"),
						G.WithValue(tensor.New(tensor.WithShape(12, d), tensor.WithBacking(append([]float64(nil), cw...)))))
					l := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Square(y)), c))))
					wrt := append(G.Nodes{x}, b.Learnables()...)
					if _, err := G.Grad(l, wrt...); err != nil {
						t.Fatal(err)
					}
					m := G.NewTapeMachine(g, G.BindDualValues(wrt...))
					defer m.Close()
					if err := m.RunAll(); err != nil {
						t.Fatal(err)
					}
					var out [][]float64
					for _, n := range wrt {
						gv, err := n.Grad()
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, append([]float64(nil), gv.Data().([]float64)...))
					}
					return out
				}
				adj, unr := grads(layers.Adjoint), grads(layers.Unrolled)
				if len(adj) != len(unr) {
					t.Fatalf("%d vs %d gradients", len(adj), len(unr))
				}
				for i := range adj {
					for j := range adj[i] {
						if math.Abs(adj[i][j]-unr[i][j]) > 1e-10*(1+math.Abs(unr[i][j])) {
							t.Fatalf("gradient %d[%d]: adjoint %v, unrolled %v", i, j, adj[i][j], unr[i][j])
						}
					}
				}
			})
		}
	}
}

func TestLoadCora(t *testing.T) {
	ds, err := LoadNPZ(coraPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Nodes() != 2708 || ds.Features.Cols != 1433 || ds.Classes != 7 || ds.Adj.NNZ() != 5429 {
		t.Fatalf("cora: %d nodes, %d features, %d classes, %d edges", ds.Nodes(), ds.Features.Cols, ds.Classes, ds.Adj.NNZ())
	}
	lcc, err := ds.LargestComponent()
	if err != nil {
		t.Fatal(err)
	}
	if lcc.Nodes() != 2485 {
		t.Fatalf("largest component of %d nodes, want 2485", lcc.Nodes())
	}
	s, err := lcc.RandomSplit(1, 20, 500, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Train) != 140 || len(s.Val) != 500 || len(s.Test) != 1000 {
		t.Fatalf("split sizes %d/%d/%d", len(s.Train), len(s.Val), len(s.Test))
	}
	seen := map[int]bool{}
	per := make([]int, lcc.Classes)
	for _, part := range [][]int{s.Train, s.Val, s.Test} {
		for _, i := range part {
			if seen[i] {
				t.Fatalf("node %d in two parts", i)
			}
			seen[i] = true
		}
	}
	for _, i := range s.Train {
		per[lcc.Labels[i]]++
	}
	for c, n := range per {
		if n != 20 {
			t.Fatalf("class %d has %d training nodes", c, n)
		}
	}
	// A fixed split round-trips through a file, also onto the whole graph.
	p := filepath.Join(t.TempDir(), "split.npz")
	if err := WriteSplit(p, lcc, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSplit(p, lcc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Test {
		if got.Test[i] != s.Test[i] {
			t.Fatal("split did not round-trip")
		}
	}
	whole, err := LoadSplit(p, ds)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range whole.Train {
		if k != lcc.NodeIDs[s.Train[i]] {
			t.Fatal("split not mapped to the whole graph")
		}
	}
}

// writeNPZ writes arrays into an .npz file in dir.
func writeNPZ(t *testing.T, dir string, arrays map[string]any) string {
	t.Helper()
	p := filepath.Join(dir, "g.npz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := npz.NewWriter(f)
	for k, v := range arrays {
		if err := w.Write(k+".npy", v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func goodArrays() map[string]any {
	return map[string]any{
		"adj_data": []float32{1, 1, 1, 1}, "adj_indices": []int32{1, 0, 2, 1}, "adj_indptr": []int32{0, 1, 3, 4}, "adj_shape": []int64{3, 3},
		"attr_data": []float32{1, 1, 1}, "attr_indices": []int32{0, 1, 0}, "attr_indptr": []int32{0, 1, 2, 3}, "attr_shape": []int64{3, 2},
		"labels": []int8{0, 1, 0},
	}
}

func TestLoadNPZMalformed(t *testing.T) {
	tests := []struct {
		name   string
		modify func(m map[string]any)
		want   string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"int64 and float64", func(m map[string]any) {
			m["adj_indices"], m["adj_data"], m["labels"] = []int64{1, 0, 2, 1}, []float64{1, 1, 1, 1}, []int64{0, 1, 0}
		}, ""},
		{"missing labels", func(m map[string]any) { delete(m, "labels") }, `missing array "labels"`},
		{"missing adj_indptr", func(m map[string]any) { delete(m, "adj_indptr") }, `missing array "adj_indptr"`},
		{"missing attributes", func(m map[string]any) { delete(m, "attr_data") }, `missing array "attr_data"`},
		{"indptr length", func(m map[string]any) { m["adj_indptr"] = []int32{0, 1, 4} }, "indptr has 3 entries"},
		{"indptr decreasing", func(m map[string]any) { m["adj_indptr"] = []int32{0, 3, 1, 4} }, "decreases"},
		{"indptr end", func(m map[string]any) { m["adj_indptr"] = []int32{0, 1, 3, 5} }, "indptr[3] = 5"},
		{"index range", func(m map[string]any) { m["adj_indices"] = []int32{1, 0, 7, 1} }, "column index 7"},
		{"data length", func(m map[string]any) { m["adj_data"] = []float32{1, 1} }, "2 values and 4 column"},
		{"labels length", func(m map[string]any) { m["labels"] = []int8{0, 1} }, "labels has 2 entries, the graph 3 nodes"},
		{"negative label", func(m map[string]any) { m["labels"] = []int8{0, -1, 0} }, "negative"},
		{"feature rows", func(m map[string]any) { m["attr_shape"] = []int64{2, 2}; m["attr_indptr"] = []int32{0, 1, 3} }, "features have 2 rows"},
		{"non-square", func(m map[string]any) { m["adj_shape"] = []int64{3, 4} }, "not square"},
		{"float labels", func(m map[string]any) { m["labels"] = []float32{0, 1, 0} }, "want an integer type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := goodArrays()
			tc.modify(m)
			ds, err := LoadNPZ(writeNPZ(t, t.TempDir(), m))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if ds.Nodes() != 3 || ds.Classes != 2 || ds.Adj.NNZ() != 4 {
					t.Fatalf("loaded %+v", ds)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "graph: ") {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := LoadNPZ(filepath.Join(t.TempDir(), "absent.npz")); err == nil {
		t.Fatal("missing file accepted")
	}
}
