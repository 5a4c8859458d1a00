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

// TestMultiTermFlags: -orders, -coeffs and -memory reach the solver and
// the JSON, and the adjoint's dL/dorders and dL/dcoeffs agree with the
// finite differences of the same solve.
func TestMultiTermFlags(t *testing.T) {
	base := []string{"-method", "gl-implicit", "-orders", "1, 0.5", "-coeffs", "1,0.5", "-steps", "200"}
	adj := runJSON(t, append(base, "-grad", "adjoint")...)
	fd := runJSON(t, append(base, "-grad", "fd")...)
	for _, k := range []string{"orders", "coeffs", "memory"} {
		if _, ok := adj[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if o := adj["orders"].([]any); len(o) != 2 || o[1].(float64) != 0.5 {
		t.Errorf("orders %v", o)
	}
	if adj["exact"] != nil || adj["alpha"].(float64) != 0 {
		t.Errorf("exact %v, alpha %v: want null and 0 for a multi-term equation", adj["exact"], adj["alpha"])
	}
	ga, gf := adj["grad"].(map[string]any), fd["grad"].(map[string]any)
	if ga["alpha"] != nil {
		t.Errorf("grad.alpha %v, want null", ga["alpha"])
	}
	for _, k := range []string{"orders", "coeffs"} {
		a, f := ga[k].([]any), gf[k].([]any)
		if len(a) != 2 || len(f) != 2 {
			t.Fatalf("grad.%s: adjoint %v, fd %v", k, a, f)
		}
		for i := range a {
			x, y := a[i].(float64), f[i].(float64)
			if math.Abs(x-y) > 1e-6*math.Max(1, math.Abs(y)) {
				t.Errorf("grad.%s[%d]: adjoint %v, fd %v", k, i, x, y)
			}
		}
	}
	// Without -coeffs every coefficient is 1.
	m := runJSON(t, "-method", "l1", "-orders", "0.3,0.9", "-steps", "50")
	if c := m["coeffs"].([]any); len(c) != 2 || c[0].(float64) != 1 || c[1].(float64) != 1 {
		t.Errorf("default coeffs %v", c)
	}
	// A single-term solve reports itself as one term of coefficient 1.
	m = runJSON(t, "-alpha", "0.7", "-method", "gl", "-steps", "50")
	if o, c := m["orders"].([]any), m["coeffs"].([]any); len(o) != 1 || o[0].(float64) != 0.7 || c[0].(float64) != 1 {
		t.Errorf("single-term orders %v coeffs %v", o, c)
	}
	// Short memory: the error against the Mittag-Leffler solution grows
	// as the memory shrinks; -memory of at least -steps changes nothing.
	full := runJSON(t, "-method", "l1", "-T", "10", "-steps", "400")
	short := runJSON(t, "-method", "l1", "-T", "10", "-steps", "400", "-memory", "40")
	long := runJSON(t, "-method", "l1", "-T", "10", "-steps", "400", "-memory", "400")
	ef, es := full["max_abs_err"].(float64), short["max_abs_err"].(float64)
	if !(es > 10*ef) || long["max_abs_err"].(float64) != ef || short["memory"].(float64) != 40 {
		t.Errorf("max_abs_err %g full, %g with memory 40, %v with memory 400", ef, es, long["max_abs_err"])
	}
}

func TestMultiTermBadFlags(t *testing.T) {
	many := strings.Repeat("0.5,", 100) + "0.5"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-method", "gl", "-orders", "0.5,0.7", "-coeffs", "1"}, "2 orders but 1 coefficients"},
		{[]string{"-method", "gl", "-orders", "0.5,x"}, "value 2 \"x\" is not a number"},
		{[]string{"-method", "gl", "-orders", "0.5,1.5"}, "outside (0, 1]"},
		{[]string{"-method", "gl", "-orders", "0.5", "-coeffs", "-1"}, "must be positive"},
		{[]string{"-method", "gl", "-orders", "0.5", "-coeffs", "NaN"}, "positive and finite"},
		{[]string{"-method", "gl", "-orders", many}, "101 values, at most"},
		{[]string{"-method", "gl", "-orders", "0.5", "-alpha", "0.5"}, "exclude each other"},
		{[]string{"-method", "gl", "-coeffs", "1"}, "-coeffs needs -orders"},
		{[]string{"-method", "pece", "-orders", "0.5,0.7"}, "does not solve multi-term"},
		{[]string{"-method", "gl", "-orders", "0.5", "-problem", "dff"}, "needs -problem linear"},
		{[]string{"-method", "l1", "-memory", "-3"}, "short memory = -3"},
		{[]string{"-method", "l1", "-memory", "10", "-grad", "continuous"}, "continuous adjoint"},
	} {
		var out, errb bytes.Buffer
		err := run(append(c.args, "-json"), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want one that mentions %q", c.args, err, c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: printed %q despite the error", c.args, out.String())
		}
	}
}
