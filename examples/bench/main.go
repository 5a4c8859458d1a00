// Command bench measures one FDE block's forward+backward pass inside a
// Gorgonia graph: x0 (batch × 64) -> FDEBlock (MLP field 64-64-64 tanh,
// α = 0.5, T = 1, product rectangle) -> Σ x(T)² -> gradients, with the
// adjoint backward pass and with backpropagation through the
// unrolled solver.
//
//	go run ./examples/bench -steps 20,100,400 -modes adjoint,unrolled -json
//
// Each configuration runs in its own process (the command re-executes
// itself), so the memory figures are not mixed: per line it prints
// {"steps", "mode", "ms_per_iter", "peak_heap_mb", "max_rss_mb",
// "grad_rel_diff"}, where grad_rel_diff compares the adjoint's gradients
// with the unrolled ones (same seed) when both modes ran.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/gemm"
	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/layers"
)

type config struct {
	steps       []int
	modes       []string
	batch, dim  int
	hidden      int
	iters       int
	alpha       float64
	json        bool
	child       bool
	childSteps  int
	childMode   string
	gradOut     string
	dtype       string
	history     string
	unrolledMax int
	storeF32    bool
	cpuProfile  string
}

// result is one output line; its keys are a contract with outside checks.
type result struct {
	Steps       int      `json:"steps"`
	Dtype       string   `json:"dtype"`
	History     string   `json:"history"`
	BLAS        string   `json:"blas"`
	Mode        string   `json:"mode"`
	MsPerIter   float64  `json:"ms_per_iter"`
	PeakHeapMB  float64  `json:"peak_heap_mb"`
	PeakLiveMB  float64  `json:"peak_live_mb"`
	MaxRSSMB    float64  `json:"max_rss_mb"`
	GradRelDiff *float64 `json:"grad_rel_diff"`
	Iters       int      `json:"iters"`
	StoreF32    bool     `json:"store_float32,omitempty"`
	Skipped     string   `json:"skipped,omitempty"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(2)
	}
}

// Bounds of the sizes the flags set; the solve's memory at each step
// count is checked against fode's budget (fode.Options.Memory) on top.
const (
	maxBatch = 1 << 16 // -batch
	maxWidth = 1 << 12 // -dim and -hidden
)

// parse parses and checks the flags, the step counts and the modes
// without running anything (in child mode, the one configuration to
// measure).
func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	var steps, modes string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&steps, "steps", "20,100,400", "comma-separated step counts")
	fs.StringVar(&modes, "modes", "adjoint,unrolled", "comma-separated gradient modes: adjoint, continuous, unrolled")
	fs.IntVar(&c.batch, "batch", 128, "batch size")
	fs.StringVar(&c.history, "history", "auto", "history-sum engine: direct, fft or auto (FFT from 300 steps)")
	fs.StringVar(&c.dtype, "dtype", "float32", "float type of the graph and the field: float32 (fast) or float64 (exact)")
	fs.IntVar(&c.dim, "dim", 64, "state size")
	fs.IntVar(&c.hidden, "hidden", 64, "hidden width of the MLP field")
	fs.IntVar(&c.iters, "iters", 0, "timed iterations (0: as many as fit in about 3 s, at least 2)")
	fs.Float64Var(&c.alpha, "alpha", 0.5, "order alpha")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per configuration")
	fs.BoolVar(&c.storeF32, "store-float32", false, "store the solve's states and field values in float32 (fode.Options.StoreFloat32) whatever its size")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed iterations to this file (with one step count and one mode)")
	fs.IntVar(&c.unrolledMax, "unrolled-max-steps", 300, "skip the unrolled mode above this many steps (its memory grows like steps²)")
	fs.BoolVar(&c.child, "child", false, "internal: run one configuration")
	fs.IntVar(&c.childSteps, "child-steps", 0, "internal")
	fs.StringVar(&c.childMode, "child-mode", "", "internal")
	fs.StringVar(&c.gradOut, "grad-out", "", "internal: file for the gradient")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		// The flags after a positional argument would be ignored, also
		// the -child flags parent appends: each child would run the
		// parent again, without end.
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.batch < 1 || c.dim < 1 || c.hidden < 1 || c.iters < 0 {
		return c, fmt.Errorf("batch, dim and hidden must be positive, iters not negative")
	}
	if c.batch > maxBatch || c.dim > maxWidth || c.hidden > maxWidth {
		return c, fmt.Errorf("-batch %d, -dim %d, -hidden %d: at most %d, %d and %d", c.batch, c.dim, c.hidden, maxBatch, maxWidth, maxWidth)
	}
	if _, ok := engines[c.history]; !ok {
		return c, fmt.Errorf("-history %q: want direct, fft or auto", c.history)
	}
	if c.dtype != "float32" && c.dtype != "float64" {
		return c, fmt.Errorf("-dtype %q: want float32 or float64", c.dtype)
	}
	for _, s := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return c, fmt.Errorf("bad step count %q", s)
		}
		c.steps = append(c.steps, n)
	}
	for _, m := range strings.Split(modes, ",") {
		m = strings.TrimSpace(m)
		if _, err := layers.ParseMode(m); err != nil {
			return c, err
		}
		c.modes = append(c.modes, m)
	}
	check := c.steps
	if c.child {
		if _, err := layers.ParseMode(c.childMode); err != nil {
			return c, fmt.Errorf("-child-mode: %w", err)
		}
		check = []int{c.childSteps}
	}
	for _, n := range check {
		if _, err := c.solveOptions(n).Memory(c.batch * c.dim); err != nil {
			return c, fmt.Errorf("%d steps of a batch of %d × -dim %d: %w", n, c.batch, c.dim, err)
		}
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if c.child {
		r, err := measure(c)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	return parent(c, args, stdout, stderr)
}

// solveOptions returns the FDE block's solver options for the given
// number of steps.
func (c config) solveOptions(steps int) fode.Options {
	return fode.Options{Method: fode.Rectangle, Alpha: c.alpha, T: 1, Steps: steps, History: engines[c.history], StoreFloat32: c.storeF32}
}

// engines are the history-sum engines by flag name.
var engines = map[string]fode.HistoryEngine{"direct": fode.Direct, "fft": fode.FFT, "auto": fode.Auto}

// parent runs each configuration in a child process and prints the lines.
func parent(c config, args []string, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gofde-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, n := range c.steps {
		var rs []*result
		grads := map[string][]float64{}
		for _, m := range c.modes {
			if m == "unrolled" && n > c.unrolledMax {
				rs = append(rs, &result{Steps: n, Mode: m, Skipped: fmt.Sprintf("backpropagation through the unrolled solver keeps O(steps²) values: about %.0f GB at %d steps (extrapolated from 6.7 GB at 200), more than this machine has; raise -unrolled-max-steps to try", 6.7*float64(n*n)/(200*200), n)})
				continue
			}
			gfile := filepath.Join(dir, fmt.Sprintf("%d-%s.grad", n, m))
			cmd := exec.Command(exe, append(append([]string{}, args...),
				"-child", "-child-steps", strconv.Itoa(n), "-child-mode", m, "-grad-out", gfile)...)
			cmd.Stderr = stderr
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("steps %d, mode %s: %w", n, m, err)
			}
			r := &result{}
			if err := json.Unmarshal(out, r); err != nil {
				return fmt.Errorf("steps %d, mode %s: child output %q: %w", n, m, out, err)
			}
			if grads[m], err = readGrad(gfile); err != nil {
				return err
			}
			rs = append(rs, r)
		}
		if a, d := grads["adjoint"], grads["unrolled"]; a != nil && d != nil {
			diff := relDiff(a, d)
			for _, r := range rs {
				r.GradRelDiff = &diff
			}
		}
		for _, r := range rs {
			if c.json {
				if err := json.NewEncoder(stdout).Encode(r); err != nil {
					return err
				}
				continue
			}
			if r.Skipped != "" {
				fmt.Fprintf(stdout, "steps %4d  %-10s skipped: %s\n", r.Steps, r.Mode, r.Skipped)
				continue
			}
			fmt.Fprintf(stdout, "steps %4d  %-10s %9.1f ms/iter  peak heap %8.1f MB  peak live %8.1f MB  max RSS %8.1f MB", r.Steps, r.Mode, r.MsPerIter, r.PeakHeapMB, r.PeakLiveMB, r.MaxRSSMB)
			if r.GradRelDiff != nil {
				fmt.Fprintf(stdout, "  grad rel diff %.2g", *r.GradRelDiff)
			}
			fmt.Fprintln(stdout)
		}
	}
	return nil
}

// measure builds the graph for one configuration, runs a warm-up
// iteration and then timed iterations, sampling the heap all along.
func measure(c config) (*result, error) {
	mode, err := layers.ParseMode(c.childMode)
	if err != nil {
		return nil, err
	}
	field, err := layers.NewMLPField(c.dim, c.hidden, false)
	if err != nil {
		return nil, err
	}
	dt := tensor.Float64
	if c.dtype == "float32" {
		dt = tensor.Float32
		field.SetFloat32(true)
	}
	g := G.NewGraph()
	x0v := make([]float64, c.batch*c.dim)
	for i := range x0v {
		x0v[i] = math.Sin(float64(i)) // deterministic, the same in every process
	}
	x0t, err := value.New(dt, tensor.Shape{c.batch, c.dim}, x0v)
	if err != nil {
		return nil, fmt.Errorf("initial state: %w", err)
	}
	x0 := G.NewMatrix(g, dt, G.WithShape(c.batch, c.dim), G.WithName("x0"), G.WithValue(x0t))
	block, err := layers.NewFDEBlock(g, "fde", field, layers.BlockConfig{
		Solve: c.solveOptions(c.childSteps),
		Grad:  mode, Seed: 1, Dtype: dt,
	})
	if err != nil {
		return nil, err
	}
	xT, err := block.Fwd(x0)
	if err != nil {
		return nil, err
	}
	cost := G.Must(G.Sum(G.Must(G.Square(xT))))
	wrt := append(G.Nodes{x0}, block.Learnables()...)
	grads, err := G.Grad(cost, wrt...)
	if err != nil {
		return nil, err
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()

	var peak, live atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go sampleHeap(&peak, &live, stop, done)

	step := func() error {
		err := vm.RunAll()
		vm.Reset()
		return err
	}
	if err := step(); err != nil { // warm-up
		return nil, err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	more := func(k int) bool {
		if c.iters > 0 {
			return k < c.iters
		}
		return k < 2 || time.Since(start) < 3*time.Second
	}
	k := 0
	for ; more(k); k++ {
		if err := step(); err != nil {
			return nil, err
		}
	}
	elapsed := time.Since(start)
	if c.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	close(stop)
	<-done
	if err := writeGrad(c.gradOut, grads); err != nil {
		return nil, err
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return &result{
		Steps: c.childSteps, Mode: c.childMode, Iters: k, Dtype: c.dtype, History: c.history, BLAS: gemm.Name(), StoreF32: c.storeF32,
		MsPerIter:  float64(elapsed.Microseconds()) / 1000 / float64(k),
		PeakHeapMB: float64(peak.Load()) / (1 << 20),
		PeakLiveMB: float64(live.Load()) / (1 << 20),
		MaxRSSMB:   float64(ru.Maxrss) / 1024, // Linux reports KiB
	}, nil
}

// sampleHeap records every millisecond the largest heap seen and the
// largest live heap reported by the last garbage collection.
func sampleHeap(peak, live *atomic.Uint64, stop, done chan struct{}) {
	defer close(done)
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
		if v := s[1].Value.Uint64(); v > live.Load() {
			live.Store(v)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func writeGrad(path string, grads G.Nodes) error {
	if path == "" {
		return nil
	}
	var all []float64
	for _, n := range grads {
		v := n.Value()
		if v == nil {
			return fmt.Errorf("gradient node %v has no value", n)
		}
		f, err := value.Float64s(v)
		if err != nil {
			return err
		}
		all = append(all, f...)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := binary.Write(f, binary.LittleEndian, all); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readGrad(path string) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, nil
}

func relDiff(a, b []float64) float64 {
	var d, n float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
	}
	return math.Sqrt(d / n)
}
