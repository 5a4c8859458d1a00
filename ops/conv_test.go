package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/value"
)

// convNet is Σ w ⊙ pool(relu(conv(x, K) + b)) built from our ops (with the
// ReLU fused into the convolution when fused is set) or from Gorgonia's
// Conv2d, BroadcastAdd, Rectify and MaxPool2D, with the same values.
type convNet struct {
	g             *G.ExprGraph
	x, k, b, w    *G.Node
	y, cost       *G.Node
	dx, dk, db    *G.Node
	xv, kv, bv    []float64
	wv            []float64
	stride, pad   int
	size, pstride int
}

func newConvNet(t *testing.T, dt tensor.Dtype, ours bool, lisp bool) *convNet {
	return newConvNetFused(t, dt, ours, false, lisp)
}

func newConvNetFused(t *testing.T, dt tensor.Dtype, ours, fused, lisp bool) *convNet {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	r := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = 2*rng.Float64() - 1
		}
		return s
	}
	n := &convNet{g: G.NewGraph(), stride: 2, pad: 1, size: 2, pstride: 1}
	xs, ks := tensor.Shape{3, 2, 8, 8}, tensor.Shape{4, 2, 4, 4}
	n.xv, n.kv, n.bv = r(xs.TotalSize()), r(ks.TotalSize()), r(4)
	n.x = G.NewTensor(n.g, dt, 4, G.WithShape(xs...), G.WithName("x"), G.WithValue(mustTensor(t, dt, xs, n.xv)))
	n.k = G.NewTensor(n.g, dt, 4, G.WithShape(ks...), G.WithName("k"), G.WithValue(mustTensor(t, dt, ks, n.kv)))
	n.b = G.NewVector(n.g, dt, G.WithShape(4), G.WithName("b"), G.WithValue(mustTensor(t, dt, tensor.Shape{4}, n.bv)))
	var err error
	switch {
	case ours && fused:
		if n.y, err = Conv2DReLU(n.x, n.k, n.b, n.stride, n.pad); err != nil {
			t.Fatal(err)
		}
	case ours:
		if n.y, err = Conv2D(n.x, n.k, n.b, n.stride, n.pad); err != nil {
			t.Fatal(err)
		}
		if n.y, err = ReLU(n.y); err != nil {
			t.Fatal(err)
		}
	}
	if ours {
		if n.y, err = MaxPool2D(n.y, n.size, n.pstride); err != nil {
			t.Fatal(err)
		}
	} else {
		c := G.Must(G.Conv2d(n.x, n.k, tensor.Shape{4, 4}, []int{n.pad, n.pad}, []int{n.stride, n.stride}, []int{1, 1}))
		br := G.Must(G.Reshape(n.b, tensor.Shape{1, 4, 1, 1}))
		c = G.Must(G.BroadcastAdd(c, br, nil, []byte{0, 2, 3}))
		c = G.Must(G.Rectify(c))
		n.y = G.Must(G.MaxPool2D(c, tensor.Shape{n.size, n.size}, []int{0, 0}, []int{n.pstride, n.pstride}))
	}
	n.wv = r(n.y.Shape().TotalSize())
	w := G.NewTensor(n.g, dt, 4, G.WithShape(n.y.Shape()...), G.WithName("w"), G.WithValue(mustTensor(t, dt, n.y.Shape(), n.wv)))
	n.cost = G.Must(G.Sum(G.Must(G.HadamardProd(n.y, w))))
	if !lisp {
		gs, err := G.Grad(n.cost, n.x, n.k, n.b)
		if err != nil {
			t.Fatal(err)
		}
		n.dx, n.dk, n.db = gs[0], gs[1], gs[2]
	}
	return n
}

func mustTensor(t *testing.T, dt tensor.Dtype, s tensor.Shape, v []float64) *tensor.Dense {
	t.Helper()
	d, err := value.New(dt, s, v)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (n *convNet) run(t *testing.T, lisp bool) (y, dx, dk, db []float64) {
	t.Helper()
	var vm G.VM
	if lisp {
		vm = G.NewLispMachine(n.g)
	} else {
		vm = G.NewTapeMachine(n.g)
	}
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	grad := func(node, g *G.Node) []float64 {
		if lisp {
			v, err := node.Grad()
			if err != nil {
				t.Fatal(err)
			}
			return values(t, v)
		}
		return values(t, g.Value())
	}
	return append([]float64(nil), values(t, n.y.Value())...), grad(n.x, n.dx), grad(n.k, n.dk), grad(n.b, n.db)
}

func near(a, b []float64, tol float64) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol*(1+math.Abs(b[i])) {
			return i, false
		}
	}
	return 0, true
}

// TestConvPoolMatchGorgonia checks values and all gradients of Conv2D, ReLU
// and MaxPool2D against Gorgonia's own Conv2d, Rectify and MaxPool2D, in float64 to
// round-off and in float32 to float32 precision, with the TapeMachine and
// the LispMachine.
func TestConvPoolMatchGorgonia(t *testing.T) {
	ref := newConvNet(t, tensor.Float64, false, false)
	want := make([][]float64, 4)
	want[0], want[1], want[2], want[3] = ref.run(t, false)
	for _, fused := range []bool{false, true} {
		for _, tc := range []struct {
			dt   tensor.Dtype
			lisp bool
			tol  float64
		}{{tensor.Float64, false, 1e-12}, {tensor.Float64, true, 1e-12}, {tensor.Float32, false, 1e-5}, {tensor.Float32, true, 1e-5}} {
			n := newConvNetFused(t, tc.dt, true, fused, tc.lisp)
			got := make([][]float64, 4)
			got[0], got[1], got[2], got[3] = n.run(t, tc.lisp)
			for i, name := range []string{"y", "dx", "dk", "db"} {
				if j, ok := near(got[i], want[i], tc.tol); !ok {
					t.Errorf("%v lisp=%v fused=%v: %s[%d] differs from Gorgonia's", tc.dt, tc.lisp, fused, name, j)
				}
			}
		}
	}
}

// TestConvGradientFiniteDifferences checks four entries of dK and one of
// db of Conv2D + MaxPool2D against central differences of the cost in
// float64.
func TestConvGradientFiniteDifferences(t *testing.T) {
	n := newConvNet(t, tensor.Float64, true, false)
	_, _, dk, db := n.run(t, false)
	cost := func() float64 {
		m := newConvNet(t, tensor.Float64, true, true)
		copy(m.k.Value().Data().([]float64), n.kv)
		copy(m.b.Value().Data().([]float64), n.bv)
		vm := G.NewTapeMachine(m.g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return m.cost.Value().Data().(float64)
	}
	const h = 1e-6
	for _, i := range []int{0, 5, 17, len(n.kv) - 1} {
		n.kv[i] += h
		up := cost()
		n.kv[i] -= 2 * h
		down := cost()
		n.kv[i] += h
		if fd := (up - down) / (2 * h); math.Abs(fd-dk[i]) > 1e-6*(1+math.Abs(fd)) {
			t.Errorf("dK[%d] = %v, finite difference %v", i, dk[i], fd)
		}
	}
	n.bv[2] += h
	up := cost()
	n.bv[2] -= 2 * h
	down := cost()
	n.bv[2] += h
	if fd := (up - down) / (2 * h); math.Abs(fd-db[2]) > 1e-6*(1+math.Abs(fd)) {
		t.Errorf("db[2] = %v, finite difference %v", db[2], fd)
	}
}

func TestConvPoolBadInput(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 3, 5, 5), G.WithName("x"))
	x32 := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 3, 5, 5), G.WithName("x32"))
	k := G.NewTensor(g, tensor.Float64, 4, G.WithShape(4, 3, 3, 3), G.WithName("k"))
	kBad := G.NewTensor(g, tensor.Float64, 4, G.WithShape(4, 2, 3, 3), G.WithName("kbad"))
	m := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 3), G.WithName("m"))
	b := G.NewVector(g, tensor.Float64, G.WithShape(5), G.WithName("b"))
	for name, f := range map[string]func() (*G.Node, error){
		"nil":       func() (*G.Node, error) { return Conv2D(nil, k, nil, 1, 1) },
		"channels":  func() (*G.Node, error) { return Conv2D(x, kBad, nil, 1, 1) },
		"2-D":       func() (*G.Node, error) { return Conv2D(m, k, nil, 1, 1) },
		"dtype":     func() (*G.Node, error) { return Conv2D(x32, k, nil, 1, 1) },
		"bias":      func() (*G.Node, error) { return Conv2D(x, k, b, 1, 1) },
		"stride":    func() (*G.Node, error) { return Conv2D(x, k, nil, 0, 1) },
		"padding":   func() (*G.Node, error) { return Conv2D(x, k, nil, 1, 7) },
		"pool 2-D":  func() (*G.Node, error) { return MaxPool2D(m, 2, 1) },
		"pool size": func() (*G.Node, error) { return MaxPool2D(x, 6, 1) },
		"pool nil":  func() (*G.Node, error) { return MaxPool2D(nil, 2, 1) },
		"pool zero": func() (*G.Node, error) { return MaxPool2D(x, 2, 0) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestConvKeptPlanesFollowInput runs one TapeMachine twice with new input
// values in between: the kernel gradient, which reuses the forward pass's
// padded input planes, must follow the new input.
func TestConvKeptPlanesFollowInput(t *testing.T) {
	n := newConvNet(t, tensor.Float64, true, false)
	vm := G.NewTapeMachine(n.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	x := n.x.Value().Data().([]float64)
	for i := range x {
		x[i] = -0.5 * x[i]
	}
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := append([]float64(nil), values(t, n.dk.Value())...)
	fresh := newConvNet(t, tensor.Float64, true, false)
	copy(fresh.x.Value().Data().([]float64), x)
	_, _, want, _ := fresh.run(t, false)
	if j, ok := near(got, want, 1e-12); !ok {
		t.Errorf("second run: dK[%d] = %v, want %v", j, got[j], want[j])
	}
}

// TestReLULarge runs ReLU and its gradient on an activation large enough
// to be split across goroutines and checks every value.
func TestReLULarge(t *testing.T) {
	g := G.NewGraph()
	shape := tensor.Shape{4, 8, 64, 64}
	rng := rand.New(rand.NewPCG(11, 12))
	xv := make([]float64, shape.TotalSize())
	for i := range xv {
		xv[i] = 2*rng.Float64() - 1
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(shape...), G.WithName("x"), G.WithValue(mustTensor(t, tensor.Float32, shape, xv)))
	y, err := ReLU(x)
	if err != nil {
		t.Fatal(err)
	}
	cost := G.Must(G.Sum(y))
	gs, err := G.Grad(cost, x)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	yv, dx := values(t, y.Value()), values(t, gs[0].Value())
	for i, v := range xv {
		v = float64(float32(v))
		want, wantG := math.Max(v, 0), 0.0
		if v > 0 {
			wantG = 1
		}
		if yv[i] != want || dx[i] != wantG {
			t.Fatalf("at %d: relu %v, grad %v for x = %v", i, yv[i], dx[i], v)
		}
	}
}
