package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(append(args, "-json"), &out, &errb); err != nil {
		t.Fatalf("%v: %v (%s)", args, err, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", out.String(), err)
	}
	return m
}

// TestContract checks the JSON keys and the accuracy that outside checks
// rely on.
func TestContract(t *testing.T) {
	m := runJSON(t, "-problem", "linear", "-alpha", "0.5", "-method", "pece", "-steps", "640")
	for _, k := range []string{"problem", "method", "alpha", "T", "steps", "xT", "exact", "max_abs_err", "seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if e := m["max_abs_err"].(float64); e >= 2e-6 {
		t.Errorf("max_abs_err %g, want below 2e-6", e)
	}
	if got := m["steps"].(float64); got != 640 {
		t.Errorf("steps %v", got)
	}
}

func TestProblems(t *testing.T) {
	for _, c := range []struct {
		args  []string
		bound float64
	}{
		{[]string{"-problem", "smooth", "-alpha", "0.5", "-method", "trap", "-steps", "200"}, 1e-5},
		{[]string{"-problem", "dff", "-alpha", "0.5", "-method", "flmm", "-steps", "200"}, 5e-5},
		{[]string{"-problem", "linear", "-alpha", "1", "-method", "dopri5", "-T", "3", "-rtol", "1e-9", "-atol", "1e-9"}, 1e-7},
		{[]string{"-problem", "linear", "-dim", "50", "-alpha", "0.9", "-method", "l1", "-steps", "400", "-lambda", "0.5", "-x0", "2"}, 1e-3},
	} {
		m := runJSON(t, c.args...)
		if e := m["max_abs_err"].(float64); e > c.bound {
			t.Errorf("%v: max_abs_err %g above %g", c.args, e, c.bound)
		}
	}
	// A non-zero start has no known solution for smooth: exact is null.
	m := runJSON(t, "-problem", "smooth", "-x0", "1")
	if m["exact"] != nil || m["max_abs_err"] != nil {
		t.Errorf("exact %v, max_abs_err %v: want null", m["exact"], m["max_abs_err"])
	}
}

func TestPlotAndText(t *testing.T) {
	png := filepath.Join(t.TempDir(), "x.png")
	var out bytes.Buffer
	if err := run([]string{"-problem", "linear", "-dim", "3", "-plot", png}, &out, &out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("no PNG written: %v", err)
	}
	if !strings.Contains(out.String(), "max abs error") {
		t.Errorf("text output %q", out.String())
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-problem", "heat"}, "unknown problem"},
		{[]string{"-method", "rk45"}, "unknown method"},
		{[]string{"-alpha", "1.2"}, "alpha"},
		{[]string{"-alpha", "0"}, "alpha"},
		{[]string{"-T", "-1"}, "final time"},
		{[]string{"-steps", "0"}, "steps"},
		{[]string{"-dim", "0"}, "dim"},
		{[]string{"-method", "rk4", "-alpha", "0.5"}, "alpha = 1"},
		{[]string{"-method", "dopri5", "-alpha", "1", "-rtol", "0"}, "rtol"},
		{[]string{"-x0", "NaN"}, "initial state"},
		{[]string{"extra"}, "unexpected"},
	} {
		var out, errb bytes.Buffer
		err := run(c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want mention of %q", c.args, err, c.want)
		}
	}
}

// TestGradModes checks that the four gradient modes agree on the linear
// problem, and the adjoint with the closed form dL/dλ = -0.2732120.
func TestGradModes(t *testing.T) {
	base := []string{"-problem", "linear", "-alpha", "0.5", "-method", "pece", "-steps", "640", "-dim", "2"}
	grads := map[string]map[string]any{}
	for _, mode := range []string{"adjoint", "continuous", "forward", "fd"} {
		m := runJSON(t, append(base, "-grad", mode)...)
		g, ok := m["grad"].(map[string]any)
		if !ok {
			t.Fatalf("%s: no grad object in %v", mode, m)
		}
		if _, ok := m["grad_seconds"].(float64); !ok {
			t.Errorf("%s: no grad_seconds", mode)
		}
		grads[mode] = g
	}
	lam := func(mode string) float64 { return grads[mode]["lambda"].(float64) }
	x0 := func(mode string) float64 { return grads[mode]["x0"].([]any)[0].(float64) }
	// Two components with rates 0.5 and 2 at λ = 1: the exact dL/dλ sums
	// r_i d/dz E_½ at z = -r_i; only component-wise checks are cheap, so
	// compare the modes with each other.
	if d := math.Abs(lam("adjoint") - lam("forward")); d > 1e-9*math.Abs(lam("forward")) {
		t.Errorf("adjoint %v vs forward %v", lam("adjoint"), lam("forward"))
	}
	if d := math.Abs(lam("adjoint") - lam("fd")); d > 1e-6*math.Abs(lam("fd")) {
		t.Errorf("adjoint %v vs fd %v", lam("adjoint"), lam("fd"))
	}
	if d := math.Abs(x0("adjoint") - x0("continuous")); d > 2e-3 {
		t.Errorf("adjoint %v vs continuous %v", x0("adjoint"), x0("continuous"))
	}
	if a, f := grads["adjoint"]["alpha"].(float64), grads["fd"]["alpha"].(float64); math.Abs(a-f) > 1e-5*math.Abs(f) {
		t.Errorf("dL/dalpha: adjoint %v vs fd %v", a, f)
	}
	if grads["forward"]["alpha"] != nil {
		t.Errorf("forward mode reports alpha %v; it has none", grads["forward"]["alpha"])
	}
	m := runJSON(t, "-problem", "linear", "-alpha", "0.5", "-method", "rect", "-steps", "640", "-grad", "adjoint")
	if got := m["grad"].(map[string]any)["lambda"].(float64); math.Abs(got+0.2732120) > 1e-3 {
		t.Errorf("dL/dlambda %v, closed form -0.2732120", got)
	}
	var out, errb bytes.Buffer
	if err := run([]string{"-grad", "forward", "-dim", "100"}, &out, &errb); err == nil {
		t.Error("-grad forward accepted -dim 100")
	}
	if err := run([]string{"-grad", "backprop"}, &out, &errb); err == nil {
		t.Error("unknown -grad accepted")
	}
}
