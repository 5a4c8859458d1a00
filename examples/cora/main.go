// Command cora trains a graph neural FDE node classifier on a data set in
// the gnn-benchmark .npz layout. By default (-diffuse logits) the FDE
// diffuses the class scores of a two-layer encoder:
//
//	input dropout → dense encoder (sparse features × W) → ReLU → dropout
//	→ dense decoder → graph FDE block D^α Y = (Â - I) Y on the class
//	scores → softmax cross-entropy,
//
// and with -diffuse hidden it diffuses the encoding, as GRAND and FROND's
// F-GRAND-l do (encoder → FDE → ReLU → dropout → decoder). With -field
// attention the field is (A(w) - I) X with attention weights w computed
// once from the encoding (-attn-from encoding, F-GRAND-l with attention)
// or recomputed from the state at every evaluation of the field
// (-attn-from state, F-GRAND-nl). The loss is the cross-entropy on the
// training nodes plus -consistency times the cross-entropy of every other
// node's prediction against the sharpened prediction
// (softmax(logits/-temp)) of the network without dropout after the
// previous epoch; no label outside the training set is used (-label-input
// also diffuses the training labels, with the label trick).
//
// Training is full-batch with Adam and L2 weight decay (-wd, and -wd-dec
// for the decoder). The epoch whose network is reported is chosen on the
// validation nodes (-select: lowest cross-entropy, the default, or best
// accuracy), and training stops after -patience epochs without a better
// one; the test accuracy is taken at that epoch. Each run draws a random
// split with seed -seed+run: 20 labelled nodes per class for training,
// 500 for validation and 1000 for testing, from the largest connected
// component (-lcc, the default, GRAND's protocol) or the whole graph
// (-lcc=false); -split FILE uses a fixed split (an .npz with train_idx,
// val_idx, test_idx) instead.
//
//	go run ./examples/cora -data ../shared/data/npz/cora.npz -runs 10
//
// The defaults (α 0.7, T 5, 10 rectangle steps, hidden 64, raw features,
// Adam lr 0.02, weight decay 5e-3, consistency 0.5 at temperature 0.5,
// epoch chosen on the validation loss, patience 80, at most 300 epochs)
// were chosen on validation figures of Cora's random splits (seeds
// 101-110 and 201-220, not the default seeds 1-10); -learn-alpha learns
// α, -field attention uses the attention field (symmetric normalisation,
// key dimension 4).
//
// -orders a1,a2,... and -coeffs c1,c2,... make the FDE multi-term,
// Σ c_i D^{a_i} Y = (Â - I) Y (with -method gl, gl-implicit or l1), and
// -learn-orders learns the orders and coefficients (one Adam step each
// epoch, no weight decay; orders kept in [0.05, 1], coefficients at
// least 0.01). -memory M keeps only the last M steps of the fractional
// history (short memory), in the solve and in its exact gradient.
//
// The Go heap is held to half of the machine's memory unless
// $GOMEMLIMIT sets another limit.
//
// Per-epoch progress goes to stderr; with -json the last stdout line is
// {"dataset", "runs", "test_accuracy_mean", "test_accuracy_std",
// "seconds_per_run", ...}.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/graph"
	"github.com/gofde/gofde/ops"
)

type config struct {
	data, split, method, field, norm, history string
	attnNorm, attnFrom, diffuse, selectBy     string
	dtype, cpuProfile, memProfile             string
	runs, steps, hidden, epochs, patience     int
	attnDim, perClass, nVal, nTest            int
	alpha, T, lr, wd, inDrop, drop, attnDrop  float64
	consistency, temp, ema, wdDec, smooth     float64
	labelIn                                   float64
	seed                                      uint64
	lcc, json, quiet, rowNorm, learnAlpha     bool
	attnClean, dropNode, learnOrders          bool
	every, memory                             int
	orders, coeffs                            []float64
}

type result struct {
	Dataset          string  `json:"dataset"`
	Runs             int     `json:"runs"`
	TestAccuracyMean float64 `json:"test_accuracy_mean"`
	TestAccuracyStd  float64 `json:"test_accuracy_std"`
	SecondsPerRun    float64 `json:"seconds_per_run"`
	SecondsPerEpoch  float64 `json:"seconds_per_epoch"`
	// SecondsPerLaterEpoch leaves out each run's first epoch, which also
	// pays for touching its memory for the first time (0 when every run
	// trained one epoch).
	SecondsPerLaterEpoch float64   `json:"seconds_per_later_epoch"`
	PeakRSSMB            float64   `json:"peak_rss_mb"`
	Dtype                string    `json:"dtype"`
	TestAccuracies       []float64 `json:"test_accuracies"`
	ValAccuracies        []float64 `json:"val_accuracies"`
	// ValAccuracies holds, per run, the validation accuracy at the epoch
	// chosen on the validation nodes (-select). ValHeldout holds the
	// accuracy on each half of the validation nodes at the epoch chosen
	// on the other half, averaged over the two halves: unlike the
	// validation accuracy at its own chosen epoch, it is not inflated by
	// the choice of the epoch, so it ranks settings whose validation
	// curves are noisy fairly.
	ValHeldout    []float64 `json:"val_heldout_accuracies"`
	BestEpochs    []int     `json:"best_epochs"`
	EpochsTrained []int     `json:"epochs_trained"`
	Field         string    `json:"field"`
	Alpha         float64   `json:"alpha"`
	T             float64   `json:"T"`
	Steps         int       `json:"steps"`
	Method        string    `json:"method"`
	Hidden        int       `json:"hidden"`
	Nodes         int       `json:"nodes"`
	Split         string    `json:"split"`
	Select        string    `json:"select"`
	LearnAlpha    bool      `json:"learn_alpha"`
	// LearnedAlphas holds each run's learned α at the chosen epoch, and
	// LearnedAlphaMean/Std their mean and standard deviation (with
	// -learn-alpha).
	LearnedAlphas    []float64 `json:"learned_alphas,omitempty"`
	LearnedAlphaMean float64   `json:"learned_alpha_mean,omitempty"`
	LearnedAlphaStd  float64   `json:"learned_alpha_std,omitempty"`
	// Orders and Coeffs are the multi-term equation's orders α_i and
	// coefficients c_i as given (-orders, -coeffs), Memory the short
	// memory (-memory, 0: full). With -learn-orders, LearnedOrders and
	// LearnedCoeffs hold each run's values at the chosen epoch.
	Orders        []float64   `json:"orders,omitempty"`
	Coeffs        []float64   `json:"coeffs,omitempty"`
	Memory        int         `json:"memory"`
	LearnedOrders [][]float64 `json:"learned_orders,omitempty"`
	LearnedCoeffs [][]float64 `json:"learned_coeffs,omitempty"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cora:", err)
		os.Exit(1)
	}
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("cora", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.data, "data", "../shared/data/npz/cora.npz", "graph data set in the gnn-benchmark .npz layout")
	fs.StringVar(&c.split, "split", "", "fixed split: .npz with train_idx, val_idx, test_idx (node indices of the data file); default random splits")
	fs.IntVar(&c.runs, "runs", 10, "number of runs (random splits / initialisations)")
	fs.Float64Var(&c.alpha, "alpha", 0.7, "order α of the FDE, in (0, 1]")
	fs.Float64Var(&c.T, "T", 5, "final time")
	fs.IntVar(&c.steps, "steps", 10, "solver steps")
	fs.BoolVar(&c.learnAlpha, "learn-alpha", false, "learn the order α (starting from -alpha; kept in [0.05, 1], no weight decay)")
	var orders, coeffs string
	fs.StringVar(&orders, "orders", "", "orders α_1,α_2,... of a multi-term equation Σ c_i D^{α_i} X = f (with -method gl, gl-implicit or l1; replaces -alpha)")
	fs.StringVar(&coeffs, "coeffs", "", "coefficients c_1,c_2,... of the multi-term equation (default all 1)")
	fs.BoolVar(&c.learnOrders, "learn-orders", false, "learn the orders and coefficients of the multi-term equation (starting from -orders and -coeffs; orders kept in [0.05, 1], coefficients at least 0.01, no weight decay)")
	fs.IntVar(&c.memory, "memory", 0, "short memory: keep only the last M steps of the fractional history (0: full memory)")
	fs.StringVar(&c.method, "method", "rect", "solver method (rect, pece, ...; euler/rk4 with alpha 1)")
	fs.StringVar(&c.history, "history", "auto", "history engine: direct, fft or auto")
	fs.StringVar(&c.dtype, "dtype", "float32", "float type of the network: float32 (fast) or float64 (exact)")
	fs.StringVar(&c.field, "field", "linear", "vector field: linear or attention")
	fs.StringVar(&c.diffuse, "diffuse", "logits", "what the FDE diffuses: hidden (the encoding, before the decoder) or logits (the decoder's class scores)")
	fs.StringVar(&c.norm, "norm", "sym", "adjacency normalisation of the linear field: sym or rw")
	fs.IntVar(&c.hidden, "hidden", 64, "hidden features per node")
	fs.IntVar(&c.attnDim, "attn-dim", 2, "key/query dimension of the attention field")
	fs.StringVar(&c.attnNorm, "attn-norm", "sym", "normalisation of the attention weights: row (softmax over each node's neighbours) or sym (geometric mean of both directions' softmaxes)")
	fs.Float64Var(&c.lr, "lr", 0.02, "Adam learning rate")
	fs.Float64Var(&c.wd, "wd", 5e-3, "weight decay (L2, added to the gradient)")
	fs.Float64Var(&c.wdDec, "wd-dec", -1, "weight decay of the decoder; negative: the same as -wd")
	fs.Float64Var(&c.labelIn, "label-input", 0, "with -diffuse logits: add this multiple of the training nodes' one-hot labels to the class scores before the diffusion (the label trick: each epoch half the training nodes give their labels, the other half is supervised); 0: none")
	fs.Float64Var(&c.smooth, "label-smoothing", 0, "label smoothing of the training targets, in [0, 1)")
	fs.Float64Var(&c.ema, "ema", 0, "evaluate (and take the consistency targets from) an exponential moving average of the weights with this decay, in [0, 1); 0: the weights themselves")
	fs.StringVar(&c.selectBy, "select", "loss", "epoch selection and early stopping on the validation nodes: acc (accuracy), loss (cross-entropy) or acc-loss (accuracy, ties broken by the loss)")
	fs.Float64Var(&c.inDrop, "input-dropout", 0.6, "dropout on the input features")
	fs.Float64Var(&c.drop, "dropout", 0.2, "dropout before the decoder")
	fs.BoolVar(&c.dropNode, "drop-node", false, "input dropout drops whole nodes' feature rows (DropNode) instead of single feature entries")
	fs.StringVar(&c.attnFrom, "attn-from", "encoding", "what the attention field's weights are computed from: encoding (once, from the encoder's output: F-GRAND-l) or state (from the FDE's state at every evaluation of the field: F-GRAND-nl)")
	fs.BoolVar(&c.attnClean, "attn-clean", false, "compute the attention from the encoding without input dropout")
	fs.Float64Var(&c.attnDrop, "attn-dropout", 0, "dropout on the attention weights (attention field)")
	fs.Float64Var(&c.consistency, "consistency", 0.5, "weight of the consistency loss on the unlabelled nodes (cross-entropy against the sharpened predictions of the last epoch); 0: none")
	fs.Float64Var(&c.temp, "temp", 0.5, "temperature that sharpens the consistency targets (softmax(logits/temp))")
	fs.IntVar(&c.epochs, "epochs", 300, "maximum epochs per run")
	fs.IntVar(&c.patience, "patience", 80, "stop after this many epochs without a better validation score (-select) (0: never)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the splits and the initialisation (run r uses seed+r)")
	fs.BoolVar(&c.lcc, "lcc", true, "use the largest connected component (GRAND's protocol)")
	fs.BoolVar(&c.rowNorm, "row-norm", false, "normalise feature rows to sum one")
	fs.IntVar(&c.perClass, "per-class", 20, "training nodes per class (random splits)")
	fs.IntVar(&c.nVal, "val", 500, "validation nodes (random splits)")
	fs.IntVar(&c.nTest, "test", 1000, "test nodes (random splits)")
	fs.IntVar(&c.every, "every", 10, "print progress every this many epochs")
	fs.BoolVar(&c.json, "json", false, "print a JSON summary as the last stdout line")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress output")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the training to this file")
	fs.StringVar(&c.memProfile, "memprofile", "", "write an allocation profile (allocs, with in-use figures) to this file at the end")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	var err error
	if c.orders, err = parseList("-orders", orders); err != nil {
		return c, err
	}
	if c.coeffs, err = parseList("-coeffs", coeffs); err != nil {
		return c, err
	}
	switch {
	case c.runs < 1 || c.runs > maxRuns:
		return c, fmt.Errorf("-runs %d outside [1, %d]", c.runs, maxRuns)
	case c.hidden < 1 || c.attnDim < 1 || c.hidden > maxWidth || c.attnDim > maxWidth:
		return c, fmt.Errorf("-hidden %d and -attn-dim %d must lie in [1, %d]", c.hidden, c.attnDim, maxWidth)
	case c.epochs < 1 || c.epochs > maxEpochs:
		return c, fmt.Errorf("-epochs %d outside [1, %d]", c.epochs, maxEpochs)
	case c.patience < 0 || c.every < 0 || c.perClass < 1 || c.nVal < 0 || c.nTest < 0:
		return c, errors.New("-patience, -every, -val and -test must not be negative and -per-class must be at least 1")
	case c.perClass > maxSplit || c.nVal > maxSplit || c.nTest > maxSplit:
		return c, fmt.Errorf("-per-class %d, -val %d and -test %d must be at most %d", c.perClass, c.nVal, c.nTest, maxSplit)
	case !(c.lr > 0) || math.IsInf(c.lr, 0) || !(c.wd >= 0) || math.IsInf(c.wd, 0) || math.IsNaN(c.wdDec) || math.IsInf(c.wdDec, 0):
		return c, errors.New("-lr must be positive, -wd not negative and -wd-dec finite")
	case !(c.ema >= 0 && c.ema < 1) || !(c.smooth >= 0 && c.smooth < 1): // also NaN
		return c, errors.New("-ema and -label-smoothing must lie in [0, 1)")
	case !(c.labelIn >= 0) || math.IsInf(c.labelIn, 0):
		return c, errors.New("-label-input must be finite and not negative")
	case c.labelIn > 0 && c.diffuse != "logits":
		return c, errors.New("-label-input needs -diffuse logits")
	case c.selectBy != "acc" && c.selectBy != "loss" && c.selectBy != "acc-loss":
		return c, fmt.Errorf("-select %q: want acc, loss or acc-loss", c.selectBy)
	case !(c.inDrop >= 0 && c.inDrop < 1 && c.drop >= 0 && c.drop < 1 && c.attnDrop >= 0 && c.attnDrop < 1): // also NaN
		return c, errors.New("dropout rates must lie in [0, 1)")
	case !(c.consistency >= 0) || math.IsInf(c.consistency, 0) || !(c.temp > 0) || math.IsInf(c.temp, 0):
		return c, errors.New("-consistency must be finite and not negative, -temp finite and positive")
	case c.dtype != "float32" && c.dtype != "float64":
		return c, fmt.Errorf("-dtype %q: want float32 or float64", c.dtype)
	case c.field != "linear" && c.field != "attention":
		return c, fmt.Errorf("-field %q: want linear or attention", c.field)
	case c.diffuse != "hidden" && c.diffuse != "logits":
		return c, fmt.Errorf("-diffuse %q: want hidden or logits", c.diffuse)
	case c.norm != "sym" && c.norm != "rw":
		return c, fmt.Errorf("-norm %q: want sym or rw", c.norm)
	case c.attnFrom != "encoding" && c.attnFrom != "state":
		return c, fmt.Errorf("-attn-from %q: want encoding or state", c.attnFrom)
	case c.attnFrom == "state" && (c.attnDrop > 0 || c.attnClean):
		return c, errors.New("-attn-dropout and -attn-clean apply to the attention computed from the encoding, not to -attn-from state")
	case len(c.coeffs) > 0 && len(c.orders) == 0:
		return c, errors.New("-coeffs needs -orders")
	case c.learnOrders && len(c.orders) == 0:
		return c, errors.New("-learn-orders needs -orders")
	case c.learnOrders && c.field == "attention" && c.attnFrom == "encoding":
		return c, errors.New("-learn-orders needs -field linear or -attn-from state")
	case len(c.orders) > 0 && c.learnAlpha:
		return c, errors.New("-learn-alpha learns the single order α; with -orders use -learn-orders")
	case c.memory < 0:
		return c, fmt.Errorf("-memory %d must not be negative", c.memory)
	}
	if _, err := ops.ParseAttentionNorm(c.attnNorm); err != nil {
		return c, fmt.Errorf("-attn-norm: %w", err)
	}
	opt, err := c.solveOptions()
	if err != nil {
		return c, err
	}
	if err := fode.CheckOptions(opt); err != nil {
		return c, err
	}
	if m := opt.Method; c.learnAlpha && !m.Fractional() {
		return c, fmt.Errorf("-learn-alpha needs a fractional method, not %v", m)
	}
	return c, nil
}

// Bounds of the flags whose size is not checked elsewhere: the solver's
// memory for -steps × nodes × the state's width (-hidden, or the classes
// with -diffuse logits) is checked by fode.Options.Memory once the data
// set is loaded. maxSplit bounds the split sizes (-per-class,
// -val, -test): that check counts more than 16 bytes per node against a
// 16 GiB budget, so no graph it admits has maxSplit nodes, and the sum
// of two sizes cannot overflow.
const (
	maxRuns   = 1000
	maxWidth  = 1 << 14
	maxEpochs = 1 << 20
	maxSplit  = 1 << 30
	// maxEncoderWeights bounds features × -hidden (256 MiB per float32
	// copy; the model keeps four), e.g. a million features at -hidden 64.
	maxEncoderWeights = 1 << 26
)

// solveOptions returns the FDE's solver options from the flags: one
// order -alpha, or the multi-term -orders and -coeffs.
func (c config) solveOptions() (fode.Options, error) {
	m, err := fode.ParseMethod(c.method)
	if err != nil {
		return fode.Options{}, err
	}
	hist, err := parseHistory(c.history)
	if err != nil {
		return fode.Options{}, err
	}
	opt := fode.Options{Method: m, Alpha: c.alpha, T: c.T, Steps: c.steps, History: hist, ShortMemory: c.memory}
	if c.dtype == "float32" {
		// The fields compute in float32: an implicit step's fixed-point
		// iteration cannot settle below float32's round-off.
		opt.Iteration.Tol = 1e-6
	}
	if len(c.orders) > 0 {
		opt.Alpha, opt.Orders, opt.Coeffs = 0, c.orders, c.coeffs
	}
	return opt, nil
}

// parseList parses a comma-separated list of at most fode.MaxTerms
// numbers ("" is none); the count is checked before the list is split.
func parseList(flag, s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	if n := strings.Count(s, ",") + 1; n > fode.MaxTerms {
		return nil, fmt.Errorf("%s: %d values, at most %d", flag, n, fode.MaxTerms)
	}
	parts := strings.Split(s, ",")
	out := make([]float64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %d: %w", flag, i+1, err)
		}
		out[i] = v
	}
	return out, nil
}

func parseHistory(s string) (fode.HistoryEngine, error) {
	switch s {
	case "direct":
		return fode.Direct, nil
	case "fft":
		return fode.FFT, nil
	case "auto":
		return fode.Auto, nil
	}
	return fode.Direct, fmt.Errorf("-history %q: want direct, fft or auto", s)
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if limit := memoryLimit(); limit > 0 {
			debug.SetMemoryLimit(limit)
		}
	}
	progress := stderr
	if c.quiet {
		progress = io.Discard
	}
	ds, err := graph.LoadNPZ(c.data)
	if err != nil {
		return err
	}
	// The solve stores (steps+1) states of nodes × hidden values (and its
	// gradient about as much again): refuse what cannot fit up front.
	opt, err := c.solveOptions()
	if err != nil {
		return err
	}
	width, what := c.hidden, "-hidden"
	if c.diffuse == "logits" {
		width, what = ds.Classes, "classes"
	}
	if _, err := opt.Memory(ds.Nodes() * width); err != nil {
		return fmt.Errorf("-steps %d with %d nodes × %d %s: %w", c.steps, ds.Nodes(), width, what, err)
	}
	// The encoder's weights (and their gradient and two Adam moments) are
	// features × -hidden: a file's feature count must not size them past
	// the memory of the network's other parts.
	if ds.Features.Cols > maxEncoderWeights/c.hidden {
		return fmt.Errorf("%d features × -hidden %d: more than %d encoder weights", ds.Features.Cols, c.hidden, maxEncoderWeights)
	}
	full := ds.Nodes()
	splitDesc := "random, whole graph"
	if c.lcc {
		if ds, err = ds.LargestComponent(); err != nil {
			return err
		}
		splitDesc = "random, largest connected component"
	}
	var fixed *graph.Split
	if c.split != "" {
		if fixed, err = graph.LoadSplit(c.split, ds); err != nil {
			return err
		}
		splitDesc = "fixed from " + c.split
	}
	fmt.Fprintf(progress, "%s: %d nodes (%d in the file), %d edges stored, %d features, %d classes; split: %s\n",
		ds.Name, ds.Nodes(), full, ds.Adj.NNZ(), ds.Features.Cols, ds.Classes, splitDesc)
	prep, err := prepare(c, ds)
	if err != nil {
		return err
	}
	ds = prep.ds
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res := &result{Dataset: ds.Name, Runs: c.runs, Field: c.field, Alpha: c.alpha, T: c.T, Steps: c.steps,
		Method: c.method, Hidden: c.hidden, Nodes: ds.Nodes(), Split: splitDesc, Dtype: c.dtype, LearnAlpha: c.learnAlpha, Select: c.selectBy,
		Orders: c.orders, Coeffs: c.coeffs, Memory: c.memory}
	var secs, trainSecs, laterSecs float64
	laterEpochs := 0
	epochs := 0
	for r := 0; r < c.runs; r++ {
		split := fixed
		if split == nil {
			if split, err = ds.RandomSplit(c.seed+uint64(r), c.perClass, c.nVal, c.nTest); err != nil {
				return err
			}
		}
		start := time.Now()
		rr, err := trainRun(c, prep, split, c.seed+uint64(r), r, progress)
		if err != nil {
			return fmt.Errorf("run %d: %w", r+1, err)
		}
		el := time.Since(start).Seconds()
		secs += el
		trainSecs += rr.trainSeconds
		laterSecs += rr.trainSeconds - rr.firstSeconds
		laterEpochs += max(0, rr.epochs-1)
		epochs += rr.epochs
		res.TestAccuracies = append(res.TestAccuracies, rr.test)
		res.ValAccuracies = append(res.ValAccuracies, rr.val)
		res.ValHeldout = append(res.ValHeldout, rr.heldout)
		res.BestEpochs = append(res.BestEpochs, rr.epoch)
		res.EpochsTrained = append(res.EpochsTrained, rr.epochs)
		learned := ""
		if c.learnAlpha {
			res.LearnedAlphas = append(res.LearnedAlphas, rr.bestAlpha)
			learned = fmt.Sprintf(", learned α %.4f", rr.bestAlpha)
		}
		if c.learnOrders {
			res.LearnedOrders = append(res.LearnedOrders, rr.bestOrders)
			res.LearnedCoeffs = append(res.LearnedCoeffs, rr.bestCoeffs)
			learned = fmt.Sprintf(", learned orders %.4f, coefficients %.4f", rr.bestOrders, rr.bestCoeffs)
		}
		fmt.Fprintf(progress, "run %d/%d: test accuracy %.2f%% (validation %.2f%%, epoch %d%s, %.1f s)\n",
			r+1, c.runs, 100*rr.test, 100*rr.val, rr.epoch, learned, el)
	}
	res.TestAccuracyMean, res.TestAccuracyStd = meanStd(res.TestAccuracies)
	if c.learnAlpha {
		res.LearnedAlphaMean, res.LearnedAlphaStd = meanStd(res.LearnedAlphas)
	}
	res.SecondsPerRun = secs / float64(c.runs)
	res.SecondsPerEpoch = trainSecs / float64(max(1, epochs))
	if laterEpochs > 0 {
		res.SecondsPerLaterEpoch = laterSecs / float64(laterEpochs)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.PeakRSSMB = float64(ru.Maxrss) / 1024 // Linux reports KiB
	}
	if c.memProfile != "" {
		if err := writeMemProfile(c.memProfile); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "%s: test accuracy %.2f ± %.2f%% over %d runs, %.1f s per run\n",
		ds.Name, 100*res.TestAccuracyMean, 100*res.TestAccuracyStd, c.runs, res.SecondsPerRun)
	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	return nil
}

// writeMemProfile writes the allocation profile (which also holds the
// in-use figures) to path.
func writeMemProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("-memprofile: %w", err)
	}
	return f.Close()
}

func meanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	if len(x) > 1 {
		std = math.Sqrt(std / float64(len(x)-1))
	}
	return mean, std
}
