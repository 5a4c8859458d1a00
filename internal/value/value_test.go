package value

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestValuesBadInput: the value helpers return errors, never
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
		if _, err := New(c.dt, c.shape, make([]float64, c.n)); err == nil {
			t.Errorf("New %s: no error", name)
		}
	}
	if v, err := New(tensor.Float32, tensor.Shape{}, []float64{2}); err != nil || !v.Shape().IsScalar() {
		t.Errorf("scalar New: %v, %v", v, err)
	}
	s64, s32 := G.F64(1), G.F32(1)
	d, _ := New(tensor.Float64, tensor.Shape{2}, []float64{1, 2})
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

// TestAppendFloat64s: the elements of each dtype come after what dst
// holds, without an allocation when dst has the room, and an unsupported
// value is an error.
func TestAppendFloat64s(t *testing.T) {
	a, _ := New(tensor.Float64, tensor.Shape{2}, []float64{1, 2})
	b, _ := New(tensor.Float32, tensor.Shape{3}, []float64{3, 4, 5.5})
	s := G.F32(6)
	dst := make([]float64, 1, 16)
	dst[0] = 0
	var err error
	for _, v := range []G.Value{a, b, &s} {
		if dst, err = AppendFloat64s(dst, v); err != nil {
			t.Fatal(err)
		}
	}
	want := []float64{0, 1, 2, 3, 4, 5.5, 6}
	if len(dst) != len(want) {
		t.Fatalf("got %v, want %v", dst, want)
	}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("got %v, want %v", dst, want)
		}
	}
	if allocs := testing.AllocsPerRun(10, func() { _, _ = AppendFloat64s(dst[:0], b) }); allocs != 0 {
		t.Errorf("%v allocations appending into a slice with room", allocs)
	}
	bad := tensor.New(tensor.WithShape(2), tensor.Of(tensor.Int))
	for _, v := range []G.Value{nil, bad} {
		if _, err := AppendFloat64s(nil, v); err == nil {
			t.Errorf("AppendFloat64s(%v): no error", v)
		}
	}
}
