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
		{[]string{"-problem", "linear", "-lambda", "63", "-x0", "-14", "-alpha", "0.13333333333333333", "-T", "27", "-steps", "17", "-method", "pece", "-correctors", "8", "-grad", "adjoint"}, "gradient", true},
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
