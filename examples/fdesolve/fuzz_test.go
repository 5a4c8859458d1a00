package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gofde/gofde/fode"
)

// FuzzParse parses argument lists built from the input (split at NUL
// bytes): parse must never panic, and a configuration it accepts must
// name a known problem, gradient mode and history engine, keep -grad
// forward within maxForwardDim, and give solver options (single- or
// multi-term, on the linear problem only for the latter) that
// fode.CheckOptions accepts and whose solve of -dim components fits
// fode.DefaultMaxMemory. Run it in CI with
//
//	go test ./examples/fdesolve -run '^$' -fuzz '^FuzzParse$' -fuzztime 60000x
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "-h", "--", "extra", "-json",
		"-problem\x00linear\x00-alpha\x000.5\x00-method\x00pece\x00-steps\x00640\x00-json",
		"-problem\x00smooth\x00-method\x00flmm\x00-alpha\x000.9\x00-steps\x0064", "-problem\x00dff\x00-x0\x001\x00-T\x00174",
		"-method\x00gl-implicit\x00-orders\x001,0.5\x00-coeffs\x001,0.5\x00-grad\x00adjoint",
		"-method\x00l1\x00-T\x0010\x00-steps\x0010000\x00-memory\x00100", "-method\x00l1\x00-memory\x00-3",
		"-method\x00gl\x00-orders\x00" + strings.Repeat("0.5,", 64) + "0.5", "-method\x00gl\x00-orders\x000.5,x",
		"-method\x00gl\x00-orders\x000.5\x00-alpha\x000.5", "-method\x00gl\x00-coeffs\x001", "-orders\x000.5\x00-problem\x00dff\x00-method\x00gl",
		"-method\x00dopri5\x00-alpha\x001\x00-steps\x000\x00-rtol\x000", "-method\x00rk4\x00-alpha\x000.5",
		"-steps\x009223372036854775807", "-steps\x003000000000", "-dim\x0099999999999", "-dim\x000",
		"-correctors\x002000000000\x00-steps\x002", "-method\x00flmm\x00-alpha\x001e-300", "-T\x00-1", "-T\x00NaN",
		"-grad\x00forward\x00-dim\x00100", "-grad\x00fd\x00-dim\x003", "-grad\x00backprop\x00-steps\x00100000000",
		"-history\x00fft\x00-dim\x0064", "-history\x00gpu", "-x0\x00NaN", "-lambda\x00Inf", "-plot\x00p.png",
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
		case c.problem != "linear" && c.problem != "smooth" && c.problem != "dff":
			t.Fatalf("%q: accepted -problem %q", args, c.problem)
		case c.grad != "none" && c.grad != "adjoint" && c.grad != "continuous" && c.grad != "forward" && c.grad != "fd":
			t.Fatalf("%q: accepted -grad %q", args, c.grad)
		case c.history != "direct" && c.history != "fft" && c.history != "auto":
			t.Fatalf("%q: accepted -history %q", args, c.history)
		case c.dim < 1, c.grad == "forward" && c.dim > maxForwardDim:
			t.Fatalf("%q: accepted -dim %d with -grad %s", args, c.dim, c.grad)
		}
		opt, multi, err := c.options()
		if err != nil {
			t.Fatalf("%q: accepted, but options: %v", args, err)
		}
		if err := fode.CheckOptions(opt); err != nil {
			t.Fatalf("%q: accepted options that fode refuses: %v", args, err)
		}
		if m, err := opt.Memory(c.dim); err != nil || m > fode.DefaultMaxMemory {
			t.Fatalf("%q: accepted a solve of %d bytes (%v)", args, m, err)
		}
		switch {
		case multi && (c.problem != "linear" || opt.Alpha != 0 || len(opt.Orders) > fode.MaxTerms || len(opt.Coeffs) != len(opt.Orders)):
			t.Fatalf("%q: accepted the multi-term options %+v on -problem %s", args, opt, c.problem)
		case !multi && (c.coeffs != "" || !(opt.Alpha > 0 && opt.Alpha <= 1)):
			t.Fatalf("%q: accepted -coeffs %q, -alpha %v without -orders", args, c.coeffs, opt.Alpha)
		}
	})
}
