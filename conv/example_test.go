package conv_test

import (
	"fmt"

	"github.com/gofde/gofde/conv"
)

// A 2×2 box filter with stride 2 on one 4×4 image: each output pixel is
// the sum of a 2×2 block. Backward of an all-ones cotangent gives, for
// the kernel, the sum of the pixels each tap saw.
func ExampleConv() {
	g := conv.Geometry{InC: 1, H: 4, W: 4, OutC: 1, Kernel: 2, Stride: 2, Padding: 0}
	c, err := conv.New[float64](g, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	x := []float64{
		1, 2, 3, 4,
		5, 6, 7, 8,
		9, 10, 11, 12,
		13, 14, 15, 16,
	}
	kernel := []float64{1, 1, 1, 1}
	y := make([]float64, g.OutSize())
	if err := c.Forward(y, x, kernel, nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("y:", y)

	dk := make([]float64, g.KernelSize())
	if err := c.Backward(nil, dk, nil, x, nil, nil, []float64{1, 1, 1, 1}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("dL/dkernel:", dk)
	// Output:
	// y: [14 22 46 54]
	// dL/dkernel: [24 28 40 44]
}

// Max pooling over 2×2 windows, and its gradient: the cotangent goes to
// the maximum of each window.
func ExampleMaxPoolForward() {
	p := conv.Pool{C: 1, H: 2, W: 4, Size: 2, Stride: 2}
	x := []float64{
		1, 5, 2, 0,
		3, 4, 8, 6,
	}
	y := make([]float64, p.OutH()*p.OutW())
	if err := conv.MaxPoolForward(p, y, x); err != nil {
		fmt.Println(err)
		return
	}
	dx := make([]float64, len(x))
	if err := conv.MaxPoolBackward(p, dx, x, []float64{1, 1}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("y:", y)
	fmt.Println("dx:", dx)
	// Output:
	// y: [5 8]
	// dx: [0 1 0 0 0 0 1 0]
}
