package layers

import (
	"fmt"

	"github.com/gofde/gofde/internal/scratch"
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

// core32 is a field's arithmetic in float32: what evalIn32 and vjpIn32
// serve behind fode's float64 interface.
type core32 interface {
	eval(dst []float32, t float64, x, theta []float32) error
	vjp(xbar, thetabar []float32, t float64, x, theta, v []float32) error
}

// evalIn32 evaluates c on float32 roundings of x and θ, with buffers from
// pool, and widens the result into dst. The solver's states and history
// sums stay float64; only the field's arithmetic runs in float32.
func evalIn32(c core32, pool *scratch.Pool[float32], dst []float64, t float64, x, theta []float64) error {
	n, np := len(x), len(theta)
	buf := pool.Get(2*n + np)
	defer pool.Put(buf)
	s := *buf
	x32, d32, th32 := s[:n], s[n:2*n], s[2*n:]
	convert(x32, x)
	convert(th32, theta)
	if err := c.eval(d32, t, x32, th32); err != nil {
		return err
	}
	convert(dst, d32)
	return nil
}

// vjpIn32 is evalIn32 for the vector-Jacobian product: xbar is
// overwritten (when not nil) and the float32 parameter cotangent is added
// into the float64 thetabar (when not nil), so the adjoint's accumulators
// stay float64.
func vjpIn32(c core32, pool *scratch.Pool[float32], xbar, thetabar []float64, t float64, x, theta, v []float64) error {
	n, np := len(x), len(theta)
	buf := pool.Get(3*n + 2*np)
	defer pool.Put(buf)
	s := *buf
	x32, v32, xb32, th32, tb32 := s[:n], s[n:2*n], s[2*n:3*n], s[3*n:3*n+np], s[3*n+np:]
	convert(x32, x)
	convert(v32, v)
	convert(th32, theta)
	if xbar == nil {
		xb32 = nil
	}
	if thetabar == nil {
		tb32 = nil
	} else {
		clear(tb32)
	}
	if err := c.vjp(xb32, tb32, t, x32, th32, v32); err != nil {
		return err
	}
	if xbar != nil {
		convert(xbar, xb32)
	}
	for i, g := range tb32 {
		thetabar[i] += float64(g)
	}
	return nil
}
