package main

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/data"
	"github.com/gofde/gofde/layers"
)

// sample is the Fashion-MNIST sample embedded in package data, used as a
// data directory so the tests need no installed dataset.
const sample = "../../data/sample"

func runJSON(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(append(args, "-json", "-quiet"), &out, &errb); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var r result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	return r
}

var small = []string{"-data", sample, "-train-limit", "192", "-test-limit", "100", "-batch", "32", "-epochs", "1", "-channels", "4", "-steps", "3"}

func TestTrainsAndReproduces(t *testing.T) {
	a := runJSON(t, small...)
	b := runJSON(t, small...)
	if a.TestAccuracy != b.TestAccuracy || a.Losses[len(a.Losses)-1] != b.Losses[len(b.Losses)-1] {
		t.Errorf("same seed, different runs: %v vs %v", a.Losses, b.Losses)
	}
	if a.TrainSize != 192 || a.TestSize != 100 || a.Epochs != 1 || a.Dataset != "fashion" || a.SecondsPerEpoch <= 0 || a.PeakRSSMB <= 0 {
		t.Errorf("summary %+v", a)
	}
	if !(a.Losses[len(a.Losses)-1] < a.Losses[0]) {
		t.Errorf("loss did not decrease: %v", a.Losses)
	}
}

// TestValidationHoldout: -val N holds out the last N training images. The
// model trains on the others alone (its losses are those of a run on them
// with -train-limit), and every epoch reports the held-out accuracy. A
// hold-out of every training image is an error.
func TestValidationHoldout(t *testing.T) {
	args := []string{"-data", sample, "-test-limit", "100", "-batch", "32", "-epochs", "2", "-channels", "4", "-steps", "3"}
	v := runJSON(t, append(args, "-train-limit", "256", "-val", "64")...)
	ref := runJSON(t, append(args, "-train-limit", "192")...)
	if v.TrainSize != 192 || v.ValSize != 64 || len(v.EpochValAccuracy) != 2 || v.ValAccuracy != v.EpochValAccuracy[1] {
		t.Fatalf("summary: %d train, %d validation images, validation accuracies %v (last %v)", v.TrainSize, v.ValSize, v.EpochValAccuracy, v.ValAccuracy)
	}
	for _, a := range v.EpochValAccuracy {
		if !(a >= 0 && a <= 1) {
			t.Errorf("validation accuracy %v", a)
		}
	}
	if len(v.Losses) != len(ref.Losses) || v.Losses[len(v.Losses)-1] != ref.Losses[len(ref.Losses)-1] || v.TestAccuracy != ref.TestAccuracy {
		t.Errorf("the held-out images changed training: losses %v against %v", v.Losses, ref.Losses)
	}
	if ref.ValSize != 0 || ref.EpochValAccuracy != nil {
		t.Errorf("without -val: %d validation images, accuracies %v", ref.ValSize, ref.EpochValAccuracy)
	}
	var out, errb bytes.Buffer
	if err := run(append(args, "-train-limit", "64", "-val", "64", "-quiet"), &out, &errb); err == nil || !strings.Contains(err.Error(), "-val") {
		t.Errorf("-val of every training image: error %v", err)
	}
}

// TestDropout: -dropout trains with a fresh mask on the pooled features
// every minibatch. Runs reproduce, differ from runs without dropout, do not
// depend on how the minibatch is split over replicas, and each mask zeroes
// about the rate's share of the features and scales the rest by 1/(1-rate).
func TestDropout(t *testing.T) {
	args := append(small, "-dtype", "float64", "-dropout", "0.5")
	a := runJSON(t, append(args, "-replicas", "2")...)
	b := runJSON(t, append(args, "-replicas", "2")...)
	one := runJSON(t, append(args, "-replicas", "1")...)
	ref := runJSON(t, append(small, "-dtype", "float64")...)
	if a.Dropout != 0.5 || ref.Dropout != 0 {
		t.Errorf("summary dropout %v and %v, want 0.5 and 0", a.Dropout, ref.Dropout)
	}
	if !slices.Equal(a.Losses, b.Losses) || a.TestAccuracy != b.TestAccuracy {
		t.Errorf("same seed, different runs: %v vs %v", a.Losses, b.Losses)
	}
	if a.Losses[0] == ref.Losses[0] {
		t.Errorf("first loss %v with and without dropout", a.Losses[0])
	}
	if !(a.Losses[len(a.Losses)-1] < a.Losses[0]) {
		t.Errorf("loss did not decrease with dropout: %v", a.Losses)
	}
	for i := range a.Losses {
		if math.Abs(a.Losses[i]-one.Losses[i]) > 1e-9*math.Abs(one.Losses[i]) {
			t.Errorf("loss %d: %.12g with two replicas, %.12g with one", i, a.Losses[i], one.Losses[i])
		}
	}

	cfg := modelConfig{Channels: 4, Alpha: 0.9, T: 1, Steps: 2, Method: "rect"}
	n, err := buildNet(cfg, tensor.Float32, layers.Adjoint, 64, 1, true, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	if err := n.drawMask(rng.Float64); err != nil {
		t.Fatal(err)
	}
	m := n.mask.Value().Data().([]float32)
	zeros := 0
	for _, v := range m {
		switch v {
		case 0:
			zeros++
		case 1 / 0.75:
		default:
			t.Fatalf("mask entry %v, want 0 or %v", v, float32(1/0.75))
		}
	}
	if share := float64(zeros) / float64(len(m)); math.Abs(share-0.25) > 0.03 {
		t.Errorf("%d of %d features dropped (%.3f), want about 0.25", zeros, len(m), share)
	}
	if _, err := buildNet(cfg, tensor.Float32, layers.Adjoint, 64, 1, true, 1); err == nil {
		t.Error("dropout rate 1 accepted")
	}
}

// TestDirectMatchesAdjoint checks that backpropagation through the
// unrolled solver gives the same loss curve as the adjoint, in float64.
func TestDirectMatchesAdjoint(t *testing.T) {
	a := runJSON(t, append(small, "-grad", "adjoint", "-dtype", "float64")...)
	d := runJSON(t, append(small, "-grad", "unrolled", "-dtype", "float64")...)
	for i := range a.Losses {
		if math.Abs(a.Losses[i]-d.Losses[i]) > 1e-9*math.Abs(d.Losses[i]) {
			t.Errorf("loss %d: adjoint %.12g, unrolled %.12g", i, a.Losses[i], d.Losses[i])
		}
	}
}

// TestSaveLoad checks that a saved model, loaded again, predicts exactly
// the same test accuracy.
func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.gob")
	a := runJSON(t, append(small, "-save", path)...)
	b := runJSON(t, append(small[:len(small)-6], "-epochs", "0", "-channels", "4", "-steps", "3", "-load", path)...)
	if a.TestAccuracy != b.TestAccuracy {
		t.Errorf("accuracy after training %v, after reloading %v", a.TestAccuracy, b.TestAccuracy)
	}
	var out, errb bytes.Buffer
	if err := run(append(small[:len(small)-6], "-epochs", "0", "-channels", "8", "-steps", "3", "-load", path), &out, &errb); err == nil {
		t.Error("loading a model into another architecture succeeded")
	}
	os.WriteFile(path, []byte("garbage"), 0o644)
	if err := run(append(small, "-load", path), &out, &errb); err == nil {
		t.Error("loading garbage succeeded")
	}
}

// TestOptimizers trains with every optimizer on a gradient-evaluation
// budget: each stops at the budget (a step may overrun it by its stages
// less one), counts its evaluations and lowers the loss.
func TestOptimizers(t *testing.T) {
	stages := map[string]int{"adam": 1, "sgd": 1, "heun": 2, "rk4": 4, "rk4-precond": 4, "rk-adaptive": 4}
	for _, name := range optimizers {
		t.Run(name, func(t *testing.T) {
			lr := "0.002"
			if name == "sgd" || name == "heun" || name == "rk4" {
				lr = "0.05"
			}
			r := runJSON(t, append(small, "-epochs", "3", "-grad-evals", "12", "-optimizer", name, "-lr", lr)...)
			if r.GradEvals < 12 || r.GradEvals > 12+stages[name]-1 {
				t.Errorf("%d gradient evaluations, budget 12 with %d-stage steps", r.GradEvals, stages[name])
			}
			if want := (12 + stages[name] - 1) / stages[name]; len(r.Losses) != min(want, 10) {
				t.Errorf("%d minibatch losses, want %d", len(r.Losses), want)
			}
			if !(r.Losses[len(r.Losses)-1] < r.Losses[0]) {
				t.Errorf("loss did not decrease: %v", r.Losses)
			}
		})
	}
}

func TestPlot(t *testing.T) {
	png := filepath.Join(t.TempDir(), "curves.png")
	runJSON(t, append(small, "-plot", png)...)
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("no PNG: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	// A truncated image file next to good label files.
	src := filepath.Join(sample, "t10k-labels-idx1-ubyte.gz")
	for _, f := range []string{"train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	img, _ := os.ReadFile(filepath.Join(sample, "t10k-images-idx3-ubyte.gz"))
	os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), img[:len(img)/2], 0o644)
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), img, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-data", dir}, "data"},
		{[]string{"-data", t.TempDir()}, "data"},
		{[]string{"-dataset", "cifar"}, "dataset"},
		{[]string{"-alpha", "1.5", "-data", sample}, "alpha"},
		{[]string{"-grad", "magic"}, "gradient mode"},
		{[]string{"-method", "rk45"}, "method"},
		{[]string{"-lr", "0"}, "lr"},
		{[]string{"-batch", "0"}, "batch"},
		{[]string{"-optimizer", "lbfgs"}, "optimizer"},
		{[]string{"-lr-decay", "step"}, "lr-decay"},
		{[]string{"-grad-evals", "-1"}, "grad-evals"},
		{[]string{"-dropout", "1"}, "dropout"},
		{[]string{"-dropout", "-0.1"}, "dropout"},
		{[]string{"-dropout", "NaN"}, "dropout"},
		{[]string{"-grad", "unrolled", "-method", "trap", "-data", sample}, "supports rect"},
	} {
		var out, errb bytes.Buffer
		err := run(append(c.args, "-quiet"), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want mention of %q", c.args, err, c.want)
		}
	}
}

// TestFloat32GradientMatchesFloat64 computes the gradient of one
// minibatch of the default network in float32 and in float64 from the
// same parameters and compares them: the relative difference of the whole
// gradient vector must stay below 1e-4.
func TestFloat32GradientMatchesFloat64(t *testing.T) {
	ds, err := data.Load("fashion", data.LoadOptions{Dir: sample, TrainLimit: 64, TestLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := modelConfig{Channels: 16, Alpha: 0.9, T: 1, Steps: 4, Method: "rect"}
	grads := map[tensor.Dtype][]float64{}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		n, err := buildNet(cfg, dt, layers.Adjoint, 64, 1, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		idx := make([]int, 64)
		for i := range idx {
			idx[i] = i
		}
		fill(n, ds.Train, idx, nil)
		vm := G.NewTapeMachine(n.g, G.BindDualValues(n.learn...))
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		grads[dt] = gradients(t, n.learn)
		vm.Close()
	}
	var d, nrm float64
	for i, g := range grads[tensor.Float64] {
		e := grads[tensor.Float32][i] - g
		d += e * e
		nrm += g * g
	}
	if rel := math.Sqrt(d / nrm); !(rel < 1e-4) || nrm == 0 {
		t.Errorf("float32 and float64 gradients differ by %.3g relative (norm² %g)", rel, nrm)
	} else {
		t.Logf("relative difference %.3g over %d values", rel, len(grads[tensor.Float64]))
	}
}

// TestAugment checks the augmentation on a 3×3 image: each drawn shift
// and flip moves the pixels where they must go, fills the background in
// with zeros, and keeps the label; over many draws every shift in
// [-2, 2]² and both flips occur.
func TestAugment(t *testing.T) {
	img := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	s := &data.Split{Images: &data.Images{N: 1, Rows: 3, Cols: 3, Pixels: img}, Labels: []int{4}}
	aug := &augmenter{rng: rand.New(rand.NewPCG(1, 2)), shift: 2, flip: true}
	// probe makes the same draws as fillAs, from an identical generator.
	probe := &augmenter{rng: rand.New(rand.NewPCG(1, 2)), shift: 2, flip: true}
	seen := map[[3]int]bool{}
	for range 2000 {
		dx, dy, flip := probe.draw()
		x, y := make([]float64, 9), make([]float64, 10)
		fillAs(x, y, s, []int{0}, aug)
		if y[4] != 1 {
			t.Fatal("label lost")
		}
		for oy := range 3 {
			for ox := range 3 {
				sx, sy := ox-dx, oy-dy
				if flip {
					sx = 2 - sx
				}
				want := 0.0
				if sx >= 0 && sx < 3 && sy >= 0 && sy < 3 {
					want = img[sy*3+sx]
				}
				if x[oy*3+ox] != want {
					t.Fatalf("shift (%d, %d), flip %v: pixel (%d, %d) = %v, want %v", dx, dy, flip, oy, ox, x[oy*3+ox], want)
				}
			}
		}
		f := 0
		if flip {
			f = 1
		}
		seen[[3]int{dx, dy, f}] = true
	}
	if len(seen) != 50 {
		t.Errorf("%d of the 50 shift and flip combinations drawn", len(seen))
	}
}
