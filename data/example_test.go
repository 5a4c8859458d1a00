package data_test

import (
	"fmt"
	"log"

	"github.com/gofde/gofde/data"
)

// Load the Fashion-MNIST sample built into the package. Without Sources,
// AllowSample makes the sample a last resort behind $GOFDE_DATA, Debian's
// package and the cache; here it is asked for directly so that the
// output is the same on every machine.
func ExampleLoad() {
	ds, err := data.Load("fashion", data.LoadOptions{Sources: []string{data.SourceSample}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ds.Source)
	fmt.Println("train:", ds.Train.Len(), "test:", ds.Test.Len())
	im := ds.Train.Images
	fmt.Printf("%dx%d pixels, first label %d (%s)\n", im.Rows, im.Cols, ds.Train.Labels[0], ds.Classes[ds.Train.Labels[0]])
	// Output:
	// embedded sample
	// train: 2000 test: 500
	// 28x28 pixels, first label 9 (Ankle boot)
}

// The offline protocol: only the official test set is used, its first
// part for training and the rest for testing (for MNIST's 10,000 test
// images, SplitTest(ds, 8000)).
func ExampleSplitTest() {
	ds, err := data.Load("fashion", data.LoadOptions{Sources: []string{data.SourceSample}, TestOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	sp, err := data.SplitTest(ds, 400)
	if err != nil {
		log.Fatal(err)
	}
	mean, std := sp.Train.Images.MeanStd()
	if err := sp.Train.Images.Normalize(mean, std); err != nil {
		log.Fatal(err)
	}
	if err := sp.Test.Images.Normalize(mean, std); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ds.Train == nil, sp.Train.Len(), sp.Test.Len())
	// Output: true 400 100
}
