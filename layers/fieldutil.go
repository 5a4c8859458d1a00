package layers

import (
	"fmt"
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
