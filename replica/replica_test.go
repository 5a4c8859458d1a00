package replica_test

import (
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/replica"
)

// regression builds the mean squared error of tanh(X W) against Y for the
// rows [from, from+n) of a fixed data set, with W initialised from seed.
func regression(t testing.TB, dt tensor.Dtype, from, n int, seed float64) (replica.Model, *G.Node) {
	g := G.NewGraph()
	xs, ys := make([]float64, n*3), make([]float64, n*2)
	for i := range n {
		r := float64(from + i)
		xs[i*3], xs[i*3+1], xs[i*3+2] = math.Sin(r), math.Cos(2*r), 1
		ys[i*2], ys[i*2+1] = math.Sin(3*r), r/10
	}
	w := []float64{0.1 * seed, -0.2, 0.3, 0.05, -0.4 * seed, 0.2}
	conv := func(v []float64) any {
		if dt == tensor.Float32 {
			f := make([]float32, len(v))
			for i, x := range v {
				f[i] = float32(x)
			}
			return f
		}
		return v
	}
	x := G.NewMatrix(g, dt, G.WithShape(n, 3), G.WithValue(tensor.New(tensor.WithShape(n, 3), tensor.WithBacking(conv(xs)))))
	y := G.NewMatrix(g, dt, G.WithShape(n, 2), G.WithValue(tensor.New(tensor.WithShape(n, 2), tensor.WithBacking(conv(ys)))))
	W := G.NewMatrix(g, dt, G.WithShape(3, 2), G.WithName("W"), G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking(conv(w)))))
	d := G.Must(G.Sub(G.Must(G.Tanh(G.Must(G.Mul(x, W)))), y))
	loss := G.Must(G.Mean(G.Must(G.Square(d))))
	if _, err := G.Grad(loss, W); err != nil {
		t.Fatal(err)
	}
	return replica.Model{Graph: g, Learn: G.Nodes{W}, Loss: loss, Batch: n}, W
}

func grad64(t testing.TB, n *G.Node) []float64 {
	gv, err := n.Grad()
	if err != nil {
		t.Fatal(err)
	}
	switch d := gv.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	t.Fatalf("gradient data %T", gv.Data())
	return nil
}

// The mean over a minibatch split 5/4/3 across three replicas, whose
// initial parameters differ, equals the mean over the whole minibatch on
// one machine: the loss and the gradient.
func TestMatchesOneMachine(t *testing.T) {
	for _, tc := range []struct {
		dt  tensor.Dtype
		tol float64
	}{{tensor.Float64, 1e-14}, {tensor.Float32, 1e-6}} {
		whole, w := regression(t, tc.dt, 0, 12, 1)
		vm := G.NewTapeMachine(whole.Graph, G.BindDualValues(whole.Learn...))
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		want := grad64(t, w)
		wantLoss := whole.Loss.Value().Data()
		vm.Close()

		var models []replica.Model
		var first *G.Node
		from := 0
		for i, n := range []int{5, 4, 3} {
			m, w := regression(t, tc.dt, from, n, float64(i+1))
			if i == 0 {
				first = w
			}
			models = append(models, m)
			from += n
		}
		s, err := replica.New(models)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := grad64(t, first)
		for i := range want {
			if math.Abs(got[i]-want[i]) > tc.tol*(1+math.Abs(want[i])) {
				t.Errorf("%v: gradient[%d] = %v, one machine %v", tc.dt, i, got[i], want[i])
			}
		}
		loss, err := s.Loss()
		if err != nil {
			t.Fatal(err)
		}
		var wl float64
		switch v := wantLoss.(type) {
		case float64:
			wl = v
		case float32:
			wl = float64(v)
		}
		if math.Abs(loss-wl) > tc.tol*wl {
			t.Errorf("%v: loss %v, one machine %v", tc.dt, loss, wl)
		}
		if s.Len() != 3 || s.Learnables()[0] != first {
			t.Errorf("Len %d, Learnables %v", s.Len(), s.Learnables())
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestBadModels(t *testing.T) {
	good, _ := regression(t, tensor.Float64, 0, 4, 1)
	other, _ := regression(t, tensor.Float32, 0, 4, 1)
	noBatch := good
	noBatch.Batch = 0
	fewer := good
	fewer.Learn = nil
	for _, tc := range []struct {
		models []replica.Model
		want   string
	}{
		{nil, "no models"},
		{[]replica.Model{good, noBatch}, "batch 0"},
		{[]replica.Model{good, other}, "the first model has float64"},
		{[]replica.Model{good, fewer}, "0 learnables"},
		{[]replica.Model{good, {Batch: 1}}, "nil graph"},
	} {
		if _, err := replica.New(tc.models); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
}

func TestLossBeforeRun(t *testing.T) {
	m, _ := regression(t, tensor.Float64, 0, 4, 1)
	s, err := replica.New([]replica.Model{m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Loss(); err == nil {
		t.Error("Loss before RunAll: no error")
	}
}
