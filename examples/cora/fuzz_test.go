package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/graph"
	"github.com/gofde/gofde/ops"
)

// FuzzParse parses argument lists built from the input (split at NUL
// bytes): parse must never panic, and a configuration it accepts must
// satisfy the bounds and the combination rules parse checks, give solver
// options that fode.CheckOptions accepts, and give split sizes that
// RandomSplit handles (an error or a split, no panic) on a three-node
// graph. Run it in CI with
//
//	go test ./examples/cora -run '^$' -fuzz '^FuzzParse$' -fuzztime 20000x
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "-h", "--", "extra", "-runs\x000", "-runs\x001001", "-hidden\x0016385", "-attn-dim\x000",
		"-runs\x001\x00-epochs\x003\x00-patience\x000\x00-T\x002\x00-steps\x002\x00-hidden\x008\x00-json\x00-quiet",
		"-alpha\x000.5\x00-method\x00pece\x00-history\x00fft\x00-dtype\x00float64",
		"-method\x00gl\x00-orders\x001,0.5\x00-coeffs\x001,0.5\x00-learn-orders\x00-memory\x0020",
		"-method\x00l1\x00-orders\x000.3,0.9\x00-field\x00attention\x00-attn-from\x00state\x00-learn-orders",
		"-method\x00gl-implicit\x00-orders\x00" + strings.Repeat("0.5,", 64) + "0.5",
		"-orders\x00NaN\x00-method\x00gl", "-coeffs\x001", "-learn-orders", "-memory\x00-1",
		"-field\x00attention\x00-attn-norm\x00row\x00-attn-dim\x0016\x00-attn-dropout\x000.3\x00-attn-clean",
		"-field\x00attention\x00-attn-from\x00state\x00-attn-dropout\x000.2",
		"-diffuse\x00hidden\x00-label-input\x002", "-label-input\x00Inf", "-learn-alpha\x00-method\x00euler\x00-alpha\x001",
		"-method\x00dopri5\x00-alpha\x001\x00-steps\x000", "-steps\x00-1", "-T\x00Inf", "-T\x001e308\x00-steps\x009223372036854775807",
		"-lr\x00NaN", "-lr\x001e300", "-wd\x00-1", "-wd-dec\x00Inf", "-ema\x000.999", "-label-smoothing\x001",
		"-dropout\x001", "-input-dropout\x00NaN\x00-drop-node", "-consistency\x00Inf", "-temp\x000",
		"-select\x00acc-loss", "-select\x00val", "-epochs\x001048577", "-every\x00-1", "-patience\x00-5",
		"-per-class\x000", "-val\x009223372036854775807\x00-test\x001", "-per-class\x001073741825",
		"-seed\x0018446744073709551615", "-lcc=false\x00-row-norm\x00-norm\x00rw", "-split\x00s.npz\x00-data\x00d.npz",
	} {
		f.Add(s)
	}
	tiny := &graph.Dataset{Labels: []int{0, 1, 1}, Classes: 2}
	f.Fuzz(func(t *testing.T, in string) {
		var args []string
		if in != "" {
			args = strings.Split(in, "\x00")
		}
		c, err := parse(args, &bytes.Buffer{})
		if err != nil {
			return
		}
		finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
		in01 := func(v float64) bool { return v >= 0 && v < 1 }
		switch {
		case c.runs < 1 || c.runs > maxRuns, c.epochs < 1 || c.epochs > maxEpochs,
			c.hidden < 1 || c.hidden > maxWidth, c.attnDim < 1 || c.attnDim > maxWidth:
			t.Fatalf("%q: accepted sizes %+v", args, c)
		case c.patience < 0, c.every < 0, c.memory < 0, c.perClass < 1 || c.perClass > maxSplit,
			c.nVal < 0 || c.nVal > maxSplit, c.nTest < 0 || c.nTest > maxSplit:
			t.Fatalf("%q: accepted counts %+v", args, c)
		case !(c.lr > 0) || !finite(c.lr), !(c.wd >= 0) || !finite(c.wd), !finite(c.wdDec),
			!(c.labelIn >= 0) || !finite(c.labelIn), !(c.consistency >= 0) || !finite(c.consistency), !(c.temp > 0) || !finite(c.temp):
			t.Fatalf("%q: accepted rates %+v", args, c)
		case !in01(c.ema), !in01(c.smooth), !in01(c.inDrop), !in01(c.drop), !in01(c.attnDrop):
			t.Fatalf("%q: accepted fractions %+v", args, c)
		case c.selectBy != "acc" && c.selectBy != "loss" && c.selectBy != "acc-loss",
			c.dtype != "float32" && c.dtype != "float64", c.field != "linear" && c.field != "attention",
			c.diffuse != "hidden" && c.diffuse != "logits", c.norm != "sym" && c.norm != "rw",
			c.attnFrom != "encoding" && c.attnFrom != "state":
			t.Fatalf("%q: accepted names %+v", args, c)
		case c.labelIn > 0 && c.diffuse != "logits", c.attnFrom == "state" && (c.attnDrop > 0 || c.attnClean),
			len(c.coeffs) > 0 && len(c.orders) == 0, c.learnOrders && len(c.orders) == 0,
			c.learnOrders && c.field == "attention" && c.attnFrom == "encoding", c.learnAlpha && len(c.orders) > 0:
			t.Fatalf("%q: accepted an excluded combination %+v", args, c)
		case len(c.orders) > fode.MaxTerms, len(c.coeffs) > fode.MaxTerms:
			t.Fatalf("%q: accepted %d orders and %d coefficients", args, len(c.orders), len(c.coeffs))
		}
		if _, err := ops.ParseAttentionNorm(c.attnNorm); err != nil {
			t.Fatalf("%q: accepted -attn-norm %q: %v", args, c.attnNorm, err)
		}
		opt, err := c.solveOptions()
		if err != nil {
			t.Fatalf("%q: accepted, but solveOptions: %v", args, err)
		}
		if err := fode.CheckOptions(opt); err != nil {
			t.Fatalf("%q: accepted options that fode refuses: %v", args, err)
		}
		if c.learnAlpha && !opt.Method.Fractional() {
			t.Fatalf("%q: accepted -learn-alpha with method %v", args, opt.Method)
		}
		if len(c.orders) == 0 && !(c.alpha > 0 && c.alpha <= 1) {
			t.Fatalf("%q: accepted -alpha %v", args, c.alpha)
		}
		for i, a := range c.orders {
			if !(a > 0 && a <= 1) {
				t.Fatalf("%q: accepted order %d = %v", args, i, a)
			}
		}
		// What run does next with the sizes, on a tiny graph: the memory
		// check and a random split are errors or results, never panics.
		_, _ = opt.Memory(tiny.Nodes() * c.hidden)
		if s, err := tiny.RandomSplit(c.seed, c.perClass, c.nVal, c.nTest); err == nil && len(s.Train)+len(s.Val)+len(s.Test) > tiny.Nodes() {
			t.Fatalf("%q: a split of %d+%d+%d nodes of %d", args, len(s.Train), len(s.Val), len(s.Test), tiny.Nodes())
		}
	})
}
