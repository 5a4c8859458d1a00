// Command mnist trains an image classifier with a neural FDE block on
// Fashion-MNIST or MNIST:
//
//	conv 3×3 → conv 4×4/2 → conv 4×4/2 (C×7×7) → FDE block, D^α h = f(h),
//	f two 3×3 convolutions → 2×2 max pool (stride 1, C×6×6) → dense(10),
//	softmax cross-entropy
//
// trained on minibatches with Adam and a cosine learning-rate schedule, or
// with SGD with momentum or a Runge-Kutta optimizer of package optim
// (-optimizer heun|rk4|rk4-precond|rk-adaptive, each stage one more
// gradient evaluation on the same minibatch; -grad-evals N trains on a
// fixed budget of evaluations), with the FDE block's gradient from the
// adjoint solve (-grad adjoint) or from backpropagation through the
// unrolled solver (-grad unrolled). The network computes in float32 by
// default (-dtype float64 for the exact path; the FDE solver's states and
// history sums are float64 either way); -tags openblas builds it against
// OpenBLAS. Training runs -replicas copies of the graph at once (default
// one per core), each on a slice of the minibatch, with their gradients
// averaged: the same gradient as one copy on the whole minibatch, on all
// cores. Each optimizer has its own default
// learning rate, measured on a log grid (see defaultLR and -h); -lr
// overrides it.
//
// -save checks before training that its directory exists and is
// writable; it writes the model atomically (temporary file, sync, rename,
// directory sync) with a SHA-256 checksum that -load verifies, and
// removes temporary files of crashed saves (".gofde-model-" and digits)
// older than an hour. -batch, -channels and -steps are capped and their
// combination is refused above an estimated 16 GiB before anything is
// allocated.
//
//	go run ./examples/mnist                        # Fashion-MNIST: installed, cached or the embedded sample
//	go run ./examples/mnist -dataset mnist -data ../shared/data/mnist
//
// Data are looked up in -data, $GOFDE_DATA, Debian's dataset-fashion-mnist
// package and the user cache; -download fetches them (SHA-256 verified).
// Without any of these, Fashion-MNIST falls back to a 2,000/500-image
// sample embedded in the binary. MNIST without its training images (as in
// ../shared/data/mnist) uses the offline protocol: the official test set's
// first 8,000 images for training and the last 2,000 for testing.
//
// A progress bar runs on stderr during each epoch; with -json the last
// stdout line is one JSON object {"dataset", "train_size", "test_size",
// "epochs", "test_accuracy", "seconds_per_epoch", "train_seconds",
// "peak_rss_mb", "grad", "dtype", "blas", "losses", "grad_evals", ...}
// (losses: the first minibatch losses, for comparing modes; blas: the
// matrix-multiply kernels in use). -cpuprofile and -memprofile write CPU
// and allocation profiles.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/gofde/gofde/data"
	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/layers"
)

type config struct {
	dataset, dir, method, grad string
	dtype                      string
	optimizer, lrDecay         string
	plot, save, load           string
	cpuProfile, memProfile     string
	epochs, batch, steps       int
	channels, groups           int
	trainLimit, testLimit      int
	val                        int
	lr, alpha, T               float64
	dropout                    float64
	seed                       uint64
	json, download, quiet      bool
	augment                    bool
	logLosses, gradEvals       int
	replicas                   int
}

// result is the JSON summary; its keys are a contract with outside checks.
type result struct {
	Dataset         string    `json:"dataset"`
	Source          string    `json:"source"`
	TrainSize       int       `json:"train_size"`
	TestSize        int       `json:"test_size"`
	Epochs          int       `json:"epochs"`
	TestAccuracy    float64   `json:"test_accuracy"`
	SecondsPerEpoch float64   `json:"seconds_per_epoch"`
	PeakRSSMB       float64   `json:"peak_rss_mb"`
	Grad            string    `json:"grad"`
	Dtype           string    `json:"dtype"`
	BLAS            string    `json:"blas"`
	Alpha           float64   `json:"alpha"`
	Method          string    `json:"method"`
	Steps           int       `json:"steps"`
	Optimizer       string    `json:"optimizer"`
	LRDecay         string    `json:"lr_decay"`
	Channels        int       `json:"channels"`
	Augment         bool      `json:"augment"`
	Dropout         float64   `json:"dropout"`
	GradEvals       int       `json:"grad_evals"`
	Replicas        int       `json:"replicas"`
	TrainSeconds    float64   `json:"train_seconds"`
	Losses          []float64 `json:"losses"`
	EpochAccuracy   []float64 `json:"epoch_accuracy"`
	// ValSize, ValAccuracy and EpochValAccuracy are set with -val: the
	// held-out training images and their accuracy after the last and
	// after every epoch.
	ValSize          int       `json:"val_size,omitempty"`
	ValAccuracy      float64   `json:"val_accuracy,omitempty"`
	EpochValAccuracy []float64 `json:"epoch_val_accuracy,omitempty"`
	EpochLoss        []float64 `json:"epoch_loss"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mnist:", err)
		}
		os.Exit(2)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataset, "dataset", "fashion", "dataset: fashion or mnist")
	fs.StringVar(&c.dir, "data", "", "directory holding the four IDX files (.gz or raw)")
	fs.BoolVar(&c.download, "download", false, "download missing data from the public mirrors (SHA-256 verified)")
	fs.IntVar(&c.epochs, "epochs", 2, "training epochs")
	fs.IntVar(&c.batch, "batch", 64, fmt.Sprintf("minibatch size (at most %d)", maxBatch))
	fs.Float64Var(&c.lr, "lr", 0, "learning rate (default: the optimizer's, "+defaultLRHelp()+")")
	fs.StringVar(&c.optimizer, "optimizer", "adam", "optimizer: adam, sgd (momentum 0.9), heun, rk4 (Runge-Kutta steps on the gradient flow), rk4-precond (RK4 with RMSprop preconditioning and momentum 0.9) or rk-adaptive (Bogacki-Shampine 3(2), RMSprop, embedded step control); each has its own default -lr")
	fs.StringVar(&c.lrDecay, "lr-decay", "cosine", "learning-rate schedule: cosine (to 0 over the epochs or the -grad-evals budget) or none")
	fs.IntVar(&c.gradEvals, "grad-evals", 0, "stop training after this many gradient evaluations (0: train all -epochs)")
	fs.Float64Var(&c.alpha, "alpha", 0.9, "order alpha of the FDE block, 0 < alpha <= 1")
	fs.Float64Var(&c.T, "T", 1, "integration time of the FDE block")
	fs.IntVar(&c.steps, "steps", 4, fmt.Sprintf("solver steps of the FDE block (at most %d)", maxSteps))
	fs.StringVar(&c.method, "method", "rect", "FDE scheme (rect, pece, trap, l1, gl, flmm; euler/rk4/dopri5 need alpha 1)")
	fs.StringVar(&c.grad, "grad", "adjoint", "gradient of the FDE block: adjoint, continuous or unrolled (backpropagation through the solver steps)")
	fs.StringVar(&c.dtype, "dtype", "float32", "float type of the network: float32 (fast) or float64 (exact)")
	fs.IntVar(&c.channels, "channels", 16, fmt.Sprintf("channels C of the convolutions and of the FDE state (at most %d)", maxChannels))
	fs.IntVar(&c.groups, "groups", 0, "group-norm groups in the vector field (0: none; the unrolled mode needs 0)")
	fs.BoolVar(&c.augment, "augment", false, "augment the training images: random shifts of up to 2 pixels and, on Fashion-MNIST, horizontal flips")
	fs.Float64Var(&c.dropout, "dropout", 0, "dropout rate in [0, 1) on the features before the dense layer, while training")
	fs.IntVar(&c.trainLimit, "train-limit", 0, "use at most this many training images (0 or more than there are: all)")
	fs.IntVar(&c.testLimit, "test-limit", 0, "use at most this many test images (0 or more than there are: all)")
	fs.IntVar(&c.val, "val", 0, "hold out the last N training images (after -train-limit) as a validation set, scored after every epoch, to choose settings on without the test set")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the initialisation and the shuffling")
	fs.BoolVar(&c.json, "json", false, "print a JSON summary as the last stdout line")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress bar")
	fs.StringVar(&c.plot, "plot", "", "write loss and accuracy curves to this PNG")
	fs.StringVar(&c.save, "save", "", "save the trained model to this file (its directory must exist and be writable: checked before training; the file carries a SHA-256 checksum verified by -load)")
	fs.StringVar(&c.load, "load", "", "load a model saved with -save before training (with -epochs 0: evaluate only)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.StringVar(&c.memProfile, "memprofile", "", "write an allocation profile of the run to this file")
	fs.IntVar(&c.logLosses, "log-losses", 10, "number of first minibatch losses to report")
	fs.IntVar(&c.replicas, "replicas", 0, fmt.Sprintf("data-parallel replicas of the training graph, each on its own core with a slice of the minibatch (0: one per core, at most one per %d images of the batch; at most %d)", minReplicaBatch, maxReplicas))
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	lrSet := false
	fs.Visit(func(f *flag.Flag) { lrSet = lrSet || f.Name == "lr" })
	if !lrSet {
		c.lr = defaultLR[c.optimizer] // 0 for an unknown optimizer, reported below
	}
	switch {
	case c.dtype != "float32" && c.dtype != "float64":
		return c, fmt.Errorf("-dtype %q: want float32 or float64", c.dtype)
	case c.dataset != "fashion" && c.dataset != "mnist":
		return c, fmt.Errorf("-dataset %q: want fashion or mnist", c.dataset)
	case c.epochs < 0 || c.batch < 1 || c.steps < 1 || c.channels < 1 || c.groups < 0:
		return c, errors.New("-epochs must be >= 0 and -batch, -steps, -channels >= 1, -groups >= 0")
	case c.trainLimit < 0 || c.testLimit < 0 || c.logLosses < 0 || c.val < 0:
		return c, errors.New("-train-limit, -test-limit, -val and -log-losses must not be negative")
	case !slices.Contains(optimizers, c.optimizer):
		return c, fmt.Errorf("-optimizer %q: want one of %q", c.optimizer, optimizers)
	case !(c.lr > 0) || math.IsInf(c.lr, 0):
		return c, fmt.Errorf("-lr %v must be positive and finite", c.lr)
	case c.batch > maxBatch || c.channels > maxChannels || c.steps > maxSteps:
		return c, fmt.Errorf("-batch %d, -channels %d, -steps %d: at most %d, %d and %d", c.batch, c.channels, c.steps, maxBatch, maxChannels, maxSteps)
	case c.groups > 0 && c.channels%c.groups != 0:
		return c, fmt.Errorf("-groups %d does not divide -channels %d", c.groups, c.channels)
	case !(c.dropout >= 0 && c.dropout < 1):
		return c, fmt.Errorf("-dropout %v: want a rate in [0, 1)", c.dropout)
	case c.lrDecay != "cosine" && c.lrDecay != "none":
		return c, fmt.Errorf("-lr-decay %q: want cosine or none", c.lrDecay)
	case c.gradEvals < 0:
		return c, errors.New("-grad-evals must not be negative")
	case c.replicas < 0 || c.replicas > maxReplicas || c.replicas > c.batch:
		return c, fmt.Errorf("-replicas %d: want 0 (automatic) to %d, and at most -batch %d", c.replicas, maxReplicas, c.batch)
	}
	if c.replicas == 0 {
		c.replicas = autoReplicas(c.batch)
	}
	if _, err := layers.ParseMode(c.grad); err != nil {
		return c, err
	}
	method, err := fode.ParseMethod(c.method)
	if err != nil {
		return c, err
	}
	if err := fode.CheckOptions(fode.Options{Method: method, Alpha: c.alpha, T: c.T, Steps: c.steps}); err != nil {
		return c, fmt.Errorf("-alpha %v, -T %v, -steps %d, -method %s: %w", c.alpha, c.T, c.steps, c.method, err)
	}
	if _, err := memoryEstimate(c); err != nil {
		return c, err
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	// Fail now, not after training, if an output cannot be written.
	if err := checkOutputPath("save", c.save); err != nil {
		return err
	}
	if err := checkOutputPath("plot", c.plot); err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ds, err := loadData(c, stderr)
	if err != nil {
		return err
	}
	res, err := train(c, ds, stderr)
	if err != nil {
		return err
	}
	if c.memProfile != "" {
		f, err := os.Create(c.memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.PeakRSSMB = float64(ru.Maxrss) / 1024
	}
	if c.plot != "" {
		if err := plotCurves(c.plot, res); err != nil {
			return err
		}
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s (%s): %d train, %d test images; %d epochs, %.1f s/epoch, %d gradient evaluations (%s); test accuracy %.2f%%; peak RSS %.0f MB\n",
		res.Dataset, res.Source, res.TrainSize, res.TestSize, res.Epochs, res.SecondsPerEpoch, res.GradEvals, res.Optimizer, 100*res.TestAccuracy, res.PeakRSSMB)
	return nil
}

// loadData finds the dataset; MNIST without training images falls back to
// the offline protocol, Fashion-MNIST without files to the embedded sample.
func loadData(c config, stderr io.Writer) (*data.Dataset, error) {
	// Decode only the images the limits keep.
	opt := data.LoadOptions{Dir: c.dir, Download: c.download, AllowSample: true, Progress: stderr,
		TrainLimit: c.trainLimit, TestLimit: c.testLimit}
	ds, err := data.Load(c.dataset, opt)
	if err != nil && c.dataset == "mnist" && errors.Is(err, data.ErrNotFound) {
		// The offline protocol splits the test file; limits apply after.
		opt.TestOnly, opt.TrainLimit, opt.TestLimit = true, 0, 0
		test, terr := data.Load(c.dataset, opt)
		if terr != nil {
			return nil, fmt.Errorf("%w (and no MNIST test set either: %v)", err, terr)
		}
		fmt.Fprintln(stderr, "MNIST training images not found: offline protocol, the official test set split 8,000 train / 2,000 test (the real protocol trains on the 60,000 training images: pass -download)")
		return data.SplitTest(test, 8000)
	}
	if err != nil {
		return nil, err
	}
	if ds.Source == data.SourceSample {
		fmt.Fprintln(stderr, "using the embedded Fashion-MNIST sample (2,000 train / 500 test); install dataset-fashion-mnist or pass -download for the full set")
	}
	return ds, nil
}

// limit returns the first n examples of s (all when n is 0 or too large).
func limit(s *data.Split, n int) *data.Split {
	if n == 0 || n >= s.Len() {
		return s
	}
	return s.Subset(0, n)
}

// shuffled returns a seeded permutation of 0..n-1.
func shuffled(rng *rand.Rand, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	rng.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }
