// Package value converts between Gorgonia values of dtype Float64 or
// Float32 and float64 slices: the plumbing of the library's ops, which
// compute in float64 whatever the dtype of their nodes, and of the
// programs that read and set node values.
package value

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/internal/vec"
)

// Float64s returns the elements of a Float64 or Float32 Gorgonia value as
// float64: the backing slice itself for Float64, a copy for Float32.
func Float64s(v G.Value) ([]float64, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		switch x.Dtype() {
		case tensor.Float64:
			return x.Float64s(), nil
		case tensor.Float32:
			f := x.Float32s()
			out := make([]float64, len(f))
			vec.Widen(out, f)
			return out, nil
		}
		return nil, fmt.Errorf("unsupported dtype %v", x.Dtype())
	case *G.F64:
		return []float64{float64(*x)}, nil
	case *G.F32:
		return []float64{float64(*x)}, nil
	case nil:
		return nil, fmt.Errorf("no value")
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// AppendFloat64s appends the elements of a Float64 or Float32 Gorgonia
// value to dst as float64 and returns the extended slice: unlike Float64s
// it allocates nothing when dst has the room.
func AppendFloat64s(dst []float64, v G.Value) ([]float64, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		switch x.Dtype() {
		case tensor.Float64:
			return append(dst, x.Float64s()...), nil
		case tensor.Float32:
			f := x.Float32s()
			dst = slices.Grow(dst, len(f))
			n := len(dst)
			dst = dst[:n+len(f)]
			vec.Widen(dst[n:], f)
			return dst, nil
		}
		return dst, fmt.Errorf("unsupported dtype %v", x.Dtype())
	case *G.F64, *G.F32, nil:
		f, err := Float64s(v)
		return append(dst, f...), err
	}
	return dst, fmt.Errorf("unsupported value type %T", v)
}

// New wraps data in a tensor of the given dtype and shape: data
// itself backs a Float64 tensor, a Float32 tensor gets a converted copy.
// A scalar shape gives a scalar tensor.
//
// It returns an error unless dt is Float64 or Float32 and data holds
// exactly the shape's number of elements (one for a scalar shape).
func New(dt tensor.Dtype, shape tensor.Shape, data []float64) (*tensor.Dense, error) {
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("new tensor: shape %v has a negative dimension", shape)
		}
	}
	if n := max(1, shape.TotalSize()); len(data) != n || (len(shape) > 0 && shape.TotalSize() == 0) {
		return nil, fmt.Errorf("new tensor: %d values for shape %v", len(data), shape)
	}
	switch dt {
	case tensor.Float32:
		f := make([]float32, len(data))
		vec.Narrow(f, data)
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f)), nil
	case tensor.Float64:
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data)), nil
	}
	return nil, fmt.Errorf("new tensor: dtype %v; want float64 or float32", dt)
}

// AddInto adds delta element-wise into a Float64 or Float32 value in place
// (how a DoDiff accumulates into an input's gradient).
func AddInto(v G.Value, delta []float64) error {
	switch x := v.(type) {
	case *tensor.Dense:
		switch x.Dtype() {
		case tensor.Float64:
			d := x.Float64s()
			if len(d) != len(delta) {
				return fmt.Errorf("gradient of %d values, cotangent of %d", len(d), len(delta))
			}
			for i, e := range delta {
				d[i] += e
			}
			return nil
		case tensor.Float32:
			d := x.Float32s()
			if len(d) != len(delta) {
				return fmt.Errorf("gradient of %d values, cotangent of %d", len(d), len(delta))
			}
			for i, e := range delta {
				d[i] += float32(e)
			}
			return nil
		}
	case *G.F64:
		if len(delta) != 1 {
			return fmt.Errorf("scalar gradient, cotangent of %d values", len(delta))
		}
		*x += G.F64(delta[0])
		return nil
	case *G.F32:
		if len(delta) != 1 {
			return fmt.Errorf("scalar gradient, cotangent of %d values", len(delta))
		}
		*x += G.F32(delta[0])
		return nil
	}
	return fmt.Errorf("cannot accumulate into %T", v)
}

// SetFloat64s copies src into a Float64 or Float32 value of the same size
// (converting to float32 for a Float32 value).
func SetFloat64s(v G.Value, src []float64) error {
	if v != nil && v.Shape().TotalSize() != len(src) {
		return fmt.Errorf("value of %d elements, source of %d", v.Shape().TotalSize(), len(src))
	}
	return SetFloat64sAt(v, 0, src)
}

// SetFloat64sAt copies src into the elements off, off+1, … of a Float64
// or Float32 value (converting to float32 for a Float32 value).
func SetFloat64sAt(v G.Value, off int, src []float64) error {
	x, ok := v.(*tensor.Dense)
	switch {
	case v == nil:
		return fmt.Errorf("no value")
	case !ok:
		return fmt.Errorf("unsupported value type %T", v)
	case off < 0 || off+len(src) > x.Shape().TotalSize():
		return fmt.Errorf("%d values at offset %d do not fit a value of %d", len(src), off, x.Shape().TotalSize())
	}
	switch d := x.Data().(type) {
	case []float64:
		copy(d[off:], src)
		return nil
	case []float32:
		vec.Narrow(d[off:off+len(src)], src)
		return nil
	}
	return fmt.Errorf("unsupported dtype %v", x.Dtype())
}
