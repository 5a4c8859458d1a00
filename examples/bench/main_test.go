package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestChildModesAgree runs one small configuration per mode in-process and
// checks the output line and that the adjoint and unrolled gradients agree.
func TestChildModesAgree(t *testing.T) {
	dir := t.TempDir()
	grads := map[string][]float64{}
	for _, mode := range []string{"adjoint", "unrolled"} {
		var out, errb bytes.Buffer
		gfile := filepath.Join(dir, mode)
		args := []string{"-child", "-child-steps", "4", "-child-mode", mode, "-batch", "3", "-dim", "5", "-hidden", "7", "-iters", "2", "-grad-out", gfile, "-dtype", "float64"}
		if err := run(args, &out, &errb); err != nil {
			t.Fatalf("%s: %v (%s)", mode, err, errb.String())
		}
		var r result
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("%s: output %q: %v", mode, out.String(), err)
		}
		if r.Steps != 4 || r.Mode != mode || r.MsPerIter <= 0 || r.PeakHeapMB <= 0 || r.MaxRSSMB <= 0 || r.Iters != 2 {
			t.Errorf("%s: implausible result %+v", mode, r)
		}
		g, err := readGrad(gfile)
		if err != nil {
			t.Fatal(err)
		}
		grads[mode] = g
	}
	if len(grads["adjoint"]) == 0 || len(grads["adjoint"]) != len(grads["unrolled"]) {
		t.Fatalf("gradient lengths %d and %d", len(grads["adjoint"]), len(grads["unrolled"]))
	}
	if d := relDiff(grads["adjoint"], grads["unrolled"]); d > 1e-12 {
		t.Errorf("adjoint and unrolled gradients differ by %.3g", d)
	}
}

// TestBadFlags: parse refuses bad flags before anything runs. It calls
// parse, not run: were "extra" accepted again, run would start the test
// binary itself as a child.
func TestBadFlags(t *testing.T) {
	child := []string{"-child", "-child-steps", "1", "-child-mode", "adjoint"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-steps", "0"}, "bad step count"},
		{[]string{"-steps", "x"}, "bad step count"},
		{[]string{"-modes", "magic"}, "unknown gradient mode"},
		{[]string{"-batch", "0"}, "must be positive"},
		// A positional argument ended the flags, so each child ignored
		// its -child flags and ran the parent again: a chain of
		// processes without end.
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-steps", "2", "extra", "-json"}, "unexpected arguments"},
		// The child multiplied -batch by -dim unchecked: makeslice
		// panicked on the overflow, or a 32 GiB state was allocated.
		{append(child, "-batch", "3037000500", "-dim", "3037000500"), "at most"},
		{append(child, "-batch", "1", "-dim", "4294967296", "-hidden", "4294967296"), "at most"},
		{append(child, "-hidden", "4097"), "at most"},
		{[]string{"-child", "-child-steps", "0", "-child-mode", "adjoint"}, "steps = 0"},
		{[]string{"-child", "-child-steps", "1", "-child-mode", "nope"}, "-child-mode"},
		{[]string{"-steps", "9223372036854775807"}, "GiB"},
		{[]string{"-batch", "65536", "-dim", "4096", "-steps", "1"}, "GiB"},
		{[]string{"-alpha", "NaN"}, "alpha"},
		{[]string{"-alpha", "1.5"}, "alpha"},
	} {
		_, err := parse(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one that mentions %q", c.args, err, c.want)
		}
	}
}
