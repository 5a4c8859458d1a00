package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gofde/gofde/fode"
)

// TestHostileFlags (issue 15): huge sizes panicked, ran out of memory or
// hung; non-finite solutions and gradients were printed with exit 0.
func TestHostileFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    string
		nonFini bool
	}{
		{[]string{"-steps", "9223372036854775807"}, "GiB", false},
		{[]string{"-steps", "99999999999"}, "GiB", false},
		{[]string{"-steps", "3000000000"}, "GiB", false},
		{[]string{"-correctors", "2000000000", "-steps", "2"}, "correctors", false},
		{[]string{"-dim", "99999999999"}, "GiB", false},
		{[]string{"-method", "flmm", "-alpha", "1e-4"}, "FLMMMinAlpha", false},
		{[]string{"-method", "flmm", "-alpha", "1e-300"}, "FLMMMinAlpha", false},
		{[]string{"-problem", "dff", "-method", "flmm", "-alpha", "0.9", "-T", "174", "-steps", "2", "-x0", "1"}, "non-finite", true},
		{[]string{"-problem", "linear", "-lambda", "-1", "-x0", "3e307", "-alpha", "0.5", "-T", "1", "-steps", "20", "-method", "pece", "-correctors", "8", "-grad", "adjoint"}, "gradient", true},
		// An unknown -grad, and -grad forward beyond maxForwardDim, were
		// refused only after the solve: here PECE solves the memory check
		// lets through (about 9 and 3 GiB) before the error.
		{[]string{"-grad", "backprop", "-steps", "10000000"}, "unknown -grad", false},
		{[]string{"-grad", "forward", "-dim", "65", "-steps", "1000000"}, "-dim <= 64", false},
	} {
		for _, js := range []bool{false, true} {
			args := c.args
			if js {
				args = append(args[:len(args):len(args)], "-json")
			}
			var out, errb bytes.Buffer
			err := run(args, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: err = %v, want one that mentions %q", args, err, c.want)
				continue
			}
			if c.nonFini && !errors.Is(err, fode.ErrNotFinite) {
				t.Errorf("%v: err = %v, want ErrNotFinite", args, err)
			}
			if out.Len() != 0 {
				t.Errorf("%v: printed %q despite the error", args, out.String())
			}
		}
	}
}

// TestStiffExits: the stiff linear problem with an explicit scheme printed
// 1e55 and exited 0; it must fail with ErrUnstable and the remedy.
func TestStiffExits(t *testing.T) {
	for _, m := range []string{"rect", "pece", "gl"} {
		for _, js := range []bool{false, true} {
			args := []string{"-problem", "linear", "-lambda", "1e6", "-steps", "10", "-method", m, "-alpha", "0.5"}
			if js {
				args = append(args, "-json")
			}
			var out, errb bytes.Buffer
			err := run(args, &out, &errb)
			if !errors.Is(err, fode.ErrUnstable) || !strings.Contains(err.Error(), "reduce the step size or use an implicit method") {
				t.Errorf("%v: err = %v, want ErrUnstable with the remedy", args, err)
			}
			if out.Len() != 0 {
				t.Errorf("%v: printed %q despite the error", args, out.String())
			}
		}
	}
}
