package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/layers"
)

// FuzzParse parses argument lists built from the input (split at NUL
// bytes) without running a benchmark: parse must never panic, and a
// configuration it accepts must have no positional arguments, sizes
// within maxBatch and maxWidth, a known history engine and dtype, at
// least one step count and mode, all valid, and (in child mode) a valid
// -child-mode; every solve it would run (each step count, or the child's
// -child-steps) must fit fode.DefaultMaxMemory.
// Run it in CI with
//
//	go test ./examples/bench -run '^$' -fuzz '^FuzzParse$' -fuzztime 30000x
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "-h", "--", "extra", "-steps\x002\x00extra\x00-json", "-json",
		"-steps\x0020,100,400\x00-modes\x00adjoint,unrolled\x00-json",
		"-steps\x00400\x00-modes\x00continuous\x00-history\x00fft\x00-dtype\x00float64\x00-store-float32",
		"-child\x00-child-steps\x004\x00-child-mode\x00adjoint\x00-batch\x003\x00-dim\x005\x00-hidden\x007\x00-iters\x002\x00-grad-out\x00g",
		"-child\x00-child-steps\x000\x00-child-mode\x00adjoint", "-child\x00-child-steps\x001\x00-child-mode\x00nope",
		"-child\x00-child-steps\x001\x00-child-mode\x00adjoint\x00-batch\x003037000500\x00-dim\x003037000500",
		"-batch\x0065536\x00-dim\x004096\x00-hidden\x004096\x00-steps\x001", "-hidden\x004097", "-batch\x000", "-iters\x00-1",
		"-steps\x000", "-steps\x00x", "-steps\x00 7 , 9", "-steps\x009223372036854775807", "-steps\x00,",
		"-modes\x00magic", "-modes\x00", "-modes\x00unrolled\x00-unrolled-max-steps\x00-1",
		"-alpha\x00NaN", "-alpha\x001", "-alpha\x001e-300", "-history\x00gpu", "-dtype\x00float16", "-cpuprofile\x00p",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var args []string
		if in != "" {
			args = strings.Split(in, "\x00")
		}
		c, err := parse(args, &bytes.Buffer{})
		if err != nil {
			return
		}
		switch {
		case c.batch < 1 || c.batch > maxBatch, c.dim < 1 || c.dim > maxWidth, c.hidden < 1 || c.hidden > maxWidth, c.iters < 0:
			t.Fatalf("%q: accepted sizes %+v", args, c)
		case c.dtype != "float32" && c.dtype != "float64", engines[c.history] == nil:
			t.Fatalf("%q: accepted -dtype %q, -history %q", args, c.dtype, c.history)
		case len(c.steps) == 0, len(c.modes) == 0:
			t.Fatalf("%q: accepted %d step counts and %d modes", args, len(c.steps), len(c.modes))
		}
		for _, m := range c.modes {
			if _, err := layers.ParseMode(m); err != nil {
				t.Fatalf("%q: accepted mode %q", args, m)
			}
		}
		for _, n := range c.steps {
			if n < 1 {
				t.Fatalf("%q: accepted %d steps", args, n)
			}
		}
		// The solves this process would run or start: one per step
		// count, or the child's one.
		run := c.steps
		if c.child {
			if _, err := layers.ParseMode(c.childMode); err != nil {
				t.Fatalf("%q: accepted -child-mode %q", args, c.childMode)
			}
			run = []int{c.childSteps}
		}
		for _, n := range run {
			if m, err := c.solveOptions(n).Memory(c.batch * c.dim); err != nil || m > fode.DefaultMaxMemory {
				t.Fatalf("%q: accepted %d steps needing %d bytes (%v)", args, n, m, err)
			}
		}
	})
}
