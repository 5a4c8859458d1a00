package layers_test

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"fmt"
	"github.com/gofde/gofde/fode"
	"log"
	"math/rand/v2"

	"github.com/gofde/gofde/layers"
)

// ExampleMLPField builds f(t, x) = W2 tanh(W1 [x; t] + b1) + b2 on
// two-dimensional states, initialises θ and evaluates a batch of two rows.
func ExampleMLPField() {
	f, err := layers.NewMLPField(2, 8, true)
	if err != nil {
		log.Fatal(err)
	}
	theta := make([]float64, f.NumParams())
	f.Init(theta, rand.New(rand.NewPCG(1, 2)))
	for _, b := range f.Layout() {
		fmt.Printf("%s %v at θ[%d:%d]\n", b.Name, b.Shape, b.Offset, b.Offset+b.Size())
	}

	x := []float64{
		1, 0, // row 0
		0, 1, // row 1
	}
	dst := make([]float64, len(x))
	if err := f.Eval(dst, 0.5, x, theta); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("f(0.5, x) = %.4f\n", dst)
	// Output:
	// W1 [8 3] at θ[0:24]
	// b1 [8] at θ[24:32]
	// W2 [2 8] at θ[32:48]
	// b2 [2] at θ[48:50]
	// f(0.5, x) = [0.4621 -0.8258 -0.3347 0.4522]
}

// ExampleConvField builds a convolutional field on 1×4×4 images with four
// hidden channels in two normalisation groups and t as an extra channel.
func ExampleConvField() {
	f, err := layers.NewConvField(1, 4, 4, 4, layers.ConvOptions{TimeInput: true, Groups: 2})
	if err != nil {
		log.Fatal(err)
	}
	theta := make([]float64, f.NumParams())
	f.Init(theta, rand.New(rand.NewPCG(1, 2)))
	fmt.Println("dim", f.Dim(), "params", f.NumParams())
	for _, b := range f.Layout() {
		fmt.Printf("%s %v\n", b.Name, b.Shape)
	}

	// One sample: a 4×4 image with a bright centre, stored row-major (NCHW).
	x := []float64{
		0, 0, 0, 0,
		0, 1, 1, 0,
		0, 1, 1, 0,
		0, 0, 0, 0,
	}
	dst := make([]float64, len(x))
	if err := f.Eval(dst, 0.25, x, theta); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("first row of f(0.25, x): %.3f\n", dst[:4])
	// Output:
	// dim 16 params 121
	// K1 [4 2 3 3]
	// b1 [4]
	// gamma [4]
	// beta [4]
	// K2 [1 4 3 3]
	// b2 [1]
	// first row of f(0.25, x): [0.524 0.179 -0.795 -0.494]
}

// An FDE block between two dense layers, trained with Gorgonia's own
// machinery: the whole solve is one node whose backward pass is the
// adjoint solve.
func ExampleFDEBlock() {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(8, 3), G.WithName("x"), G.WithInit(G.Gaussian(0, 1)))
	enc, _ := layers.NewDense(g, tensor.Float64, "enc", 3, 16, 1)
	field, _ := layers.NewMLPField(16, 32, false)
	block, err := layers.NewFDEBlock(g, "fde", field, layers.BlockConfig{
		Solve: fode.Options{Method: fode.PECE, Alpha: 0.8, T: 1, Steps: 20},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	dec, _ := layers.NewDense(g, tensor.Float64, "dec", 16, 1, 2)
	y := G.Must(dec.Fwd(G.Must(block.Fwd(G.Must(enc.Fwd(x))))))
	loss := G.Must(G.Mean(G.Must(G.Square(y))))

	params := append(append(enc.Learnables(), block.Learnables()...), dec.Learnables()...)
	if _, err := G.Grad(loss, params...); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(0.01))
	var first, last float64
	for step := range 20 {
		if err := vm.RunAll(); err != nil {
			fmt.Println(err)
			return
		}
		if step == 0 {
			first = loss.Value().Data().(float64)
		}
		last = loss.Value().Data().(float64)
		solver.Step(G.NodesToValueGrads(params))
		vm.Reset()
	}
	fmt.Println("loss decreased:", last < first)
	// Output: loss decreased: true
}
