package ops

import (
	"errors"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// TestValuesBadInput: the exported value helpers return errors, never
// panic, on mismatched sizes, missing values and unsupported types.
func TestValuesBadInput(t *testing.T) {
	for name, c := range map[string]struct {
		dt    tensor.Dtype
		shape tensor.Shape
		n     int
	}{
		"short":    {tensor.Float64, tensor.Shape{2, 3}, 5},
		"long":     {tensor.Float32, tensor.Shape{2}, 3},
		"scalar":   {tensor.Float64, tensor.Shape{}, 2},
		"empty":    {tensor.Float64, tensor.Shape{0}, 0},
		"negative": {tensor.Float64, tensor.Shape{-1, 2}, 2},
		"dtype":    {tensor.Int, tensor.Shape{2}, 2},
	} {
		if _, err := NewTensor(c.dt, c.shape, make([]float64, c.n)); err == nil {
			t.Errorf("NewTensor %s: no error", name)
		}
	}
	if v, err := NewTensor(tensor.Float32, tensor.Shape{}, []float64{2}); err != nil || !v.Shape().IsScalar() {
		t.Errorf("scalar NewTensor: %v, %v", v, err)
	}
	s64, s32 := G.F64(1), G.F32(1)
	d, _ := NewTensor(tensor.Float64, tensor.Shape{2}, []float64{1, 2})
	for name, f := range map[string]func() error{
		"AddInto scalar nil":    func() error { return AddInto(&s64, nil) },
		"AddInto f32 scalar 2":  func() error { return AddInto(&s32, []float64{1, 2}) },
		"AddInto short":         func() error { return AddInto(d, []float64{1}) },
		"AddInto nil value":     func() error { return AddInto(nil, []float64{1}) },
		"SetFloat64s short":     func() error { return SetFloat64s(d, []float64{1}) },
		"SetFloat64s nil value": func() error { return SetFloat64s(nil, []float64{1}) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Float64s(nil); err == nil {
		t.Error("Float64s(nil): no error")
	}
}

// TestCause: a machine error around a non-finite FDE input comes back as
// the op's own error, and errors.Is still finds fode.ErrNotFinite.
func TestCause(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	l := buildLoss(t, tensor.Float64, false, true, Config{Field: lin, Solve: fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 4}})
	x := l.x0.Value().Data().([]float64)
	x[0] = math.NaN()
	vm := G.NewTapeMachine(l.g)
	defer vm.Close()
	err := vm.RunAll()
	if err == nil {
		t.Fatal("NaN initial state: no error")
	}
	c := Cause(err)
	if !strings.HasPrefix(c.Error(), "ops: FDE") || !errors.Is(c, fode.ErrNotFinite) {
		t.Errorf("Cause = %q (from %q)", c, err)
	}
	other := errors.New("elsewhere")
	if Cause(other) != other {
		t.Error("Cause changed an error of other origin")
	}
}
