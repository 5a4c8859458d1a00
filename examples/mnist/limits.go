package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofde/gofde/fode"
)

// Caps on the size flags. They keep the memory estimate's arithmetic far
// from overflow and reject absurd values at once; memoryEstimate bounds
// their combination.
const (
	maxBatch    = 1 << 14 // -batch
	maxChannels = 1 << 10 // -channels
	maxSteps    = 1 << 16 // -steps
	maxReplicas = 64      // -replicas
)

// maxMemory is the largest memoryEstimate a run may have: 16 GiB.
const maxMemory = 16 << 30

// memoryEstimate returns a rough estimate of the bytes the training and
// evaluation networks of c allocate, and an error when it exceeds
// maxMemory or the FDE solve's own budget (fode.DefaultMaxMemory). It
// counts, per image of a batch, the activations of the convolutions, their
// working buffers and gradients, the FDE solve (fode.Options.Memory, twice:
// forward and adjoint) and the pooled and dense features, for both
// networks; and the parameters with their gradients and two optimizer
// moments. It is meant to refuse sizes that cannot run, before anything
// large is allocated, not to predict the peak to the megabyte: it counts
// live values, and the process's peak RSS, with the garbage collector's
// headroom, runtime and data, came out about 1.5 times as large (2.1 GB
// for an estimate of 1.46 GiB at -batch 512 -channels 32; 340 MB for
// 94 MiB at the defaults). The size flags must already be positive and
// within their caps.
func memoryEstimate(c config) (int64, error) {
	method, err := fode.ParseMethod(c.method)
	if err != nil {
		return 0, err
	}
	C, B := float64(c.channels), float64(c.batch)
	word := 4.0
	if c.dtype == "float64" {
		word = 8
	}
	// Values per image of the training graph: a node and its gradient for
	// each activation (convolution output, ReLU), and a working buffer per
	// convolution, counted as an im2col matrix (3×3×1 patches at 28×28,
	// 4×4×C at 14×14 and 7×7): package conv's padded planes are smaller,
	// so this errs on the safe side.
	perImage := 4*C*28*28 + 2*9*28*28 + 4*C*14*14 + 2*16*C*14*14 + 4*C*7*7 + 2*16*C*7*7 +
		4*C*6*6 + 2*(28*28+10)
	// The evaluation graph has no gradients: about half as much again.
	act := 1.5 * perImage * B * word
	// The FDE solve works in float64 whatever the dtype.
	opts := fode.Options{Method: method, Alpha: c.alpha, T: c.T, Steps: c.steps}
	fdeBytes, err := opts.Memory(c.batch * c.channels * 7 * 7)
	if err != nil {
		return 0, fmt.Errorf("-batch %d, -channels %d, -steps %d: the FDE block: %w", c.batch, c.channels, c.steps, err)
	}
	// Forward and adjoint solves of training, forward of evaluation.
	fde := 3 * float64(fdeBytes)
	// Parameters: conv1 (9C), conv2 and conv3 (16C² each), the field's two
	// 3×3 convolutions (9C² each) and the dense layer (36C·10), each with
	// a gradient, two optimizer moments (float64) and the evaluation copy.
	params := (9*C + 2*16*C*C + 2*9*C*C + 360*C) * (3*word + 2*8)
	total := act + fde + params
	if total > maxMemory {
		return int64(total), fmt.Errorf("-batch %d, -channels %d, -steps %d (-dtype %s) would need about %.1f GiB, more than the %d GiB this example allows: lower them",
			c.batch, c.channels, c.steps, c.dtype, total/(1<<30), maxMemory>>30)
	}
	return int64(total), nil
}

// checkOutputPath checks, before any training, that the file path named
// by -flag can be written: its directory exists, is a directory and takes
// a new file (one is created there and removed again, named like the
// temporary files of save), and path itself is not a directory. An empty
// path is not checked.
func checkOutputPath(flag, path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("-%s %s: the directory: %w", flag, path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("-%s %s: %s is not a directory", flag, path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("-%s %s: is a directory", flag, path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("-%s %s: %w", flag, path, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("-%s %s: the directory is not writable: %w", flag, path, err)
	}
	name := f.Name()
	cerr := f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("-%s %s: removing the probe file: %w", flag, path, err)
	}
	if cerr != nil {
		return fmt.Errorf("-%s %s: %w", flag, path, cerr)
	}
	return nil
}
