package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func coraFixture(t *testing.T) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "data", "npz", "cora.npz")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("cora fixture %s not available: %v", p, err)
	}
	return p
}

// TestRunSmoke trains briefly on Cora with both fields and checks the JSON
// line; it is a smoke test, not an accuracy check.
func TestRunSmoke(t *testing.T) {
	data := coraFixture(t)
	for _, field := range []string{"linear", "attention"} {
		t.Run(field, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := []string{"-data", data, "-runs", "1", "-epochs", "3", "-T", "2", "-steps", "2", "-hidden", "8",
				"-field", field, "-json", "-quiet"}
			if err := run(args, &out, &errb); err != nil {
				t.Fatalf("%v\n%s", err, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var r map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"dataset", "runs", "test_accuracy_mean", "test_accuracy_std", "seconds_per_run"} {
				if _, ok := r[k]; !ok {
					t.Fatalf("JSON line lacks %q: %s", k, lines[len(lines)-1])
				}
			}
			if acc := r["test_accuracy_mean"].(float64); acc <= 0 || acc > 1 {
				t.Fatalf("accuracy %v", acc)
			}
		})
	}
}

// TestCoraFull runs the full 10-split experiment; it takes minutes, so it
// runs only with GOFDE_CORA_FULL=1.
func TestCoraFull(t *testing.T) {
	if os.Getenv("GOFDE_CORA_FULL") == "" || testing.Short() {
		t.Skip("set GOFDE_CORA_FULL=1 to run the 10-split Cora experiment")
	}
	var out, errb bytes.Buffer
	args := []string{"-data", coraFixture(t), "-runs", "10", "-T", "10", "-steps", "10", "-alpha", "0.85",
		"-wd", "5e-4", "-epochs", "150", "-patience", "40", "-json", "-quiet"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(out.String()))
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-field", "mlp"}, "want linear or attention"},
		{[]string{"-alpha", "1.5"}, "alpha"},
		{[]string{"-runs", "0"}, "-runs"},
		{[]string{"-method", "nope"}, "unknown method"},
		{[]string{"-data", filepath.Join(t.TempDir(), "x.npz")}, "graph: opening"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		err := run(tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
