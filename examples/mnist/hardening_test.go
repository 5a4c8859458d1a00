package main

import (
	"bytes"
	"encoding/gob"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// learns is a configuration that trains enough in about a second to be
// far above chance (10 %): seed 1 reaches 64 % (seeds 2 and 3: 69.5 %
// and 62 %).
var learns = []string{"-data", sample, "-train-limit", "512", "-test-limit", "200", "-batch", "16", "-epochs", "2",
	"-channels", "4", "-steps", "3", "-lr", "0.01"}

// accuracyFloor is what learns must reach: a broken gradient, optimizer
// or data path stays near 10 %.
const accuracyFloor = 0.5

// TestAccuracyFloor trains the learns configuration twice: the two runs
// must agree exactly (the seed fixes everything) and reach accuracyFloor.
func TestAccuracyFloor(t *testing.T) {
	a := runJSON(t, learns...)
	b := runJSON(t, learns...)
	if a.TestAccuracy != b.TestAccuracy || !slices.Equal(a.Losses, b.Losses) {
		t.Errorf("same seed, different runs: accuracy %v vs %v, losses %v vs %v", a.TestAccuracy, b.TestAccuracy, a.Losses, b.Losses)
	}
	if a.TestAccuracy < accuracyFloor || a.TestAccuracy > 1 {
		t.Errorf("test accuracy %v, want at least %v", a.TestAccuracy, accuracyFloor)
	}
	t.Logf("test accuracy %v", a.TestAccuracy)
}

// TestOutputPathCheckedBeforeTraining: an output that cannot be written
// fails the run before any epoch.
func TestOutputPathCheckedBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-save", "/nonexistent/dir/model.gob"}, "-save /nonexistent/dir/model.gob"},
		{[]string{"-save", filepath.Join(file, "model.gob")}, "not a directory"},
		{[]string{"-save", dir}, "is a directory"},
		{[]string{"-plot", "/nonexistent/dir/curves.png"}, "-plot"},
	} {
		var out, errb bytes.Buffer
		err := run(append(append([]string(nil), small...), append(c.args, "-quiet")...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want mention of %q", c.args, err, c.want)
		}
		if strings.Contains(errb.String(), "epoch") {
			t.Errorf("%v: trained before failing:\n%s", c.args, errb.String())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the checks left files behind: %v", entries)
	}
}

// TestSaveRemovesStaleTemps: a save removes the temporary files of
// crashed saves (named .gofde-model- and digits, older than staleAge) and
// nothing else.
func TestSaveRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * staleAge)
	files := map[string]bool{ // name: removed by the save
		".gofde-model-123456": true,
		".gofde-model-42":     false, // fresh: maybe a save in progress
		".gofde-model-notes":  false, // not a temporary name
		"gofde-model-77":      false,
	}
	for name := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("partial"), 0o644)
		if name != ".gofde-model-42" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(dir, "model.gob")
	runJSON(t, append(small[:len(small)-6], "-epochs", "0", "-channels", "4", "-steps", "3", "-save", path)...)
	for name, stale := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if stale != errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: stale %v, stat after the save: %v", name, stale, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(files) { // the stale one gone, the model added
		t.Errorf("directory after the save: %v", entries)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
	for _, name := range []string{".gofde-model-1", ".gofde-model-0123"} {
		if !isTempName(name) {
			t.Errorf("isTempName(%q) = false", name)
		}
	}
	for _, name := range []string{".gofde-model-", ".gofde-model-1a", "x.gofde-model-1", ".gofde-model-*"} {
		if isTempName(name) {
			t.Errorf("isTempName(%q) = true", name)
		}
	}
}

// TestLoadDetectsCorruption: a flipped bit anywhere in a saved model (in
// a parameter, the checksum or the header), a truncated file and a file
// of the earlier format (a bare gob stream) are refused with a clear
// error.
func TestLoadDetectsCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.gob")
	evalOnly := append(append([]string(nil), small[:len(small)-6]...), "-epochs", "0", "-channels", "4", "-steps", "3")
	runJSON(t, append(small, "-save", path)...)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	runJSON(t, append(evalOnly, "-load", path)...) // the intact file loads
	flip := func(i int, bit byte) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= bit
		return b
	}
	var oldFormat bytes.Buffer
	gob.NewEncoder(&oldFormat).Encode(savedModel{Config: modelConfig{Channels: 4, Alpha: 0.9, T: 1, Steps: 3, Method: "rect"}})
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"parameter bit", flip(len(good)-3, 0x01), errModelChecksum},
		{"parameter sign", flip(len(good)-1000, 0x80), errModelChecksum},
		{"checksum bit", flip(len(modelMagic)+5, 0x10), errModelChecksum},
		{"header bit", flip(3, 0x02), errNotModel},
		{"truncated", good[:len(good)-1], errModelChecksum},
		{"header only", good[:len(modelMagic)+10], errNotModel},
		{"old format", oldFormat.Bytes(), errNotModel},
	} {
		p := filepath.Join(dir, "bad.gob")
		os.WriteFile(p, c.b, 0o644)
		var out, errb bytes.Buffer
		err := run(append(evalOnly, "-load", p, "-quiet"), &out, &errb)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want %v naming the file", c.name, err, c.want)
		}
	}
}

// TestDefaultLearnRates: without -lr each optimizer gets its own
// measured default (rk4 used to get Adam's 0.002 and barely trained);
// -lr overrides it, and must be positive and finite when given.
func TestDefaultLearnRates(t *testing.T) {
	for _, name := range optimizers {
		c, err := parseFlags([]string{"-optimizer", name}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if c.lr != defaultLR[name] || !(c.lr > 0) {
			t.Errorf("%s: default -lr %v, want %v", name, c.lr, defaultLR[name])
		}
		c, err = parseFlags([]string{"-optimizer", name, "-lr", "0.25"}, &bytes.Buffer{})
		if err != nil || c.lr != 0.25 {
			t.Errorf("%s -lr 0.25: lr %v, error %v", name, c.lr, err)
		}
	}
	if c, _ := parseFlags([]string{"-optimizer", "rk4"}, &bytes.Buffer{}); c.lr < 0.01 {
		t.Errorf("rk4's default -lr %v: measured best 0.1, 0.002 barely trains", c.lr)
	}
	for _, lr := range []string{"0", "-1", "NaN", "Inf"} {
		if _, err := parseFlags([]string{"-lr", lr}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-lr") {
			t.Errorf("-lr %s: error %v", lr, err)
		}
	}
	var help bytes.Buffer
	parseFlags([]string{"-h"}, &help)
	for _, name := range optimizers {
		if !strings.Contains(help.String(), name) {
			t.Errorf("-h does not list %s's default -lr", name)
		}
	}
}

// TestSizeFlagsBounded: huge -batch, -channels and -steps, alone or
// together, are refused by the flag parser itself, before anything large
// is allocated; huge limits mean "all images".
func TestSizeFlagsBounded(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-batch", "1000000000"}, "-batch"},
		{[]string{"-channels", "1000000"}, "-channels"},
		{[]string{"-steps", "1000000000"}, "-steps"},
		{[]string{"-batch", "16384", "-channels", "1024"}, "GiB"},
		{[]string{"-batch", "4096", "-steps", "65536"}, "-steps"},
		{[]string{"-channels", "6", "-groups", "4"}, "-groups"},
		{[]string{"-alpha", "NaN"}, "-alpha"},
		{[]string{"-T", "Inf"}, "-T"},
		{[]string{"-method", "rk4"}, "alpha"}, // classical with alpha 0.9
		{[]string{"-val", "-1"}, "-val"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := parseFlags(c.args, &bytes.Buffer{})
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want mention of %q", c.args, err, c.want)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
			t.Errorf("%v: parsing allocated %d bytes", c.args, a)
		}
	}
	// Large sizes that fit.
	for _, args := range [][]string{{"-batch", "4096"}, {"-channels", "256"}, {"-steps", "2000"}, {"-batch", "1024", "-channels", "64", "-steps", "20"}} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	r := runJSON(t, "-data", sample, "-train-limit", "9223372036854775807", "-test-limit", "16", "-epochs", "0",
		"-batch", "8", "-channels", "2", "-steps", "1")
	if r.TrainSize != 2000 || r.TestSize != 16 {
		t.Errorf("huge -train-limit: %d train, %d test images, want 2000 and 16", r.TrainSize, r.TestSize)
	}
}

// TestMemoryEstimate: the estimate grows with each size flag and the
// default configuration is far below the limit.
func TestMemoryEstimate(t *testing.T) {
	c, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	base, err := memoryEstimate(c)
	if err != nil || base <= 0 || base > 1<<30 {
		t.Fatalf("default configuration: %d bytes, %v", base, err)
	}
	for _, grow := range []func(*config){
		func(c *config) { c.batch *= 2 },
		func(c *config) { c.channels *= 2 },
		func(c *config) { c.steps *= 2 },
		func(c *config) { c.dtype = "float64" },
	} {
		d := c
		grow(&d)
		if m, err := memoryEstimate(d); err != nil || m <= base || math.IsInf(float64(m), 0) {
			t.Errorf("%+v: %d bytes (default %d), %v", d, m, base, err)
		}
	}
}

// FuzzParseFlags parses argument lists built from the input (split at
// NUL bytes): the parser must never panic, and a configuration it
// accepts must satisfy the bounds the rest of the program relies on.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{
		"", "-batch\x0064", "-lr\x00NaN", "-lr\x00Inf", "-optimizer\x00rk4", "-steps\x00-1",
		"-batch\x0016384\x00-channels\x001024", "-channels\x00999999999999999999999",
		"-method\x00flmm\x00-alpha\x000.01", "-groups\x003\x00-channels\x009", "-h", "--", "-save",
		"-dtype\x00float64\x00-steps\x0065536", "-T\x001e308\x00-steps\x001",
		"-dropout\x000.5", "-dropout\x001", "-dropout\x00NaN", "-val\x00-3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var args []string
		if in != "" {
			args = strings.Split(in, "\x00")
		}
		c, err := parseFlags(args, &bytes.Buffer{})
		if err != nil {
			return
		}
		switch {
		case c.batch < 1 || c.batch > maxBatch, c.channels < 1 || c.channels > maxChannels, c.steps < 1 || c.steps > maxSteps:
			t.Fatalf("%q: accepted sizes %+v", args, c)
		case !(c.lr > 0) || math.IsInf(c.lr, 0):
			t.Fatalf("%q: accepted -lr %v", args, c.lr)
		case !(c.dropout >= 0 && c.dropout < 1):
			t.Fatalf("%q: accepted -dropout %v", args, c.dropout)
		case c.epochs < 0 || c.trainLimit < 0 || c.testLimit < 0 || c.val < 0 || c.groups < 0 || c.gradEvals < 0 || c.logLosses < 0:
			t.Fatalf("%q: accepted negative counts %+v", args, c)
		}
		if m, err := memoryEstimate(c); err != nil || m > maxMemory {
			t.Fatalf("%q: accepted, but the estimate is %d bytes (%v)", args, m, err)
		}
	})
}

// TestDivergenceReported: learning rates far too large stop training with
// a message that says so (not a machine dump, not an exit with losses of
// 1e116).
func TestDivergenceReported(t *testing.T) {
	for _, args := range [][]string{
		{"-lr", "1e300"},
		{"-optimizer", "sgd", "-lr", "1e6"},
		{"-optimizer", "rk4", "-lr", "1e6"},
	} {
		var out, errb bytes.Buffer
		a := append([]string{"-data", sample, "-train-limit", "256", "-test-limit", "64", "-batch", "32", "-epochs", "1", "-channels", "4", "-quiet"}, args...)
		err := run(a, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "diverged") || !strings.Contains(err.Error(), "lower -lr") || strings.Contains(err.Error(), "PC ") {
			t.Errorf("%v: error %v", args, err)
		}
	}
}
