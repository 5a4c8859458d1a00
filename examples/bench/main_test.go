package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
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

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-steps", "0"}, {"-steps", "x"}, {"-modes", "magic"}, {"-batch", "0"}} {
		var out, errb bytes.Buffer
		if err := run(args, &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
