// Command fdesolve solves a fractional test problem with a known solution
// and reports the state at T, the error against the exact solution and the
// time the solve took.
//
//	go run ./examples/fdesolve -problem linear -alpha 0.5 -method pece -steps 640 -json
//
// Problems (see package fode/problems):
//
//	linear  D^α x = -λ x, x(0) = x0; with -dim D, D independent components
//	        with rates λ r_i, r_i spread over [0.5, 2]. Exact x0 E_α(-λ r_i t^α).
//	smooth  D^α y = -y + t² + 2 t^(2-α)/Γ(3-α), y(0) = 0. Exact t².
//	dff     the nonlinear Diethelm-Ford-Freed benchmark, y(0) = 0.
//	        Exact t⁸ - 3 t^(4+α/2) + 9/4 t^α.
//
// With -json it prints one JSON object on stdout: problem, method, alpha,
// T, steps, evals, xT, exact (null when unknown), max_abs_err (the largest
// error over the components at T, null when unknown) and seconds (wall
// time of the solve). With -plot FILE.png it draws the trajectory of the
// first components against the exact solution.
//
// Multi-term and distributed-order equations (linear problem, methods gl,
// gl-implicit and l1): -orders a1,a2,... and -coeffs c1,c2,... solve
// Σ_i c_i D^{a_i} x = -λ x (coefficients default to 1; -alpha is then not
// used). -memory M keeps only the last M steps of the history (short
// memory, every fractional method; 0 keeps all); on the linear problem
// max_abs_err then measures what the truncation costs against the
// Mittag-Leffler solution of the full equation:
//
//	go run ./examples/fdesolve -method gl-implicit -orders 1,0.5 -coeffs 1,0.5 -grad adjoint -json
//	go run ./examples/fdesolve -method l1 -T 10 -steps 10000 -memory 100 -json
//
// The JSON object also holds "orders" and "coeffs" (lists; [alpha] and [1]
// for the single-term equation, whose "alpha" is 0 with -orders) and
// "memory". The exact solution of a multi-term equation is not known here:
// exact and max_abs_err are then null.
//
// -grad adjoint|continuous|forward|fd also differentiates the loss
// L = Σ_i x_i(T) with respect to x0, λ (linear problem) and α, and the
// JSON object gains "grad": {"x0", "lambda", "alpha"} and "grad_seconds";
// for a multi-term equation "alpha" is null and "orders" and "coeffs"
// hold dL/da_i and dL/dc_i (adjoint and fd):
//
//	adjoint     the exact discrete adjoint of the scheme (with dL/dα for
//	            the fractional methods; ACA for dopri5)
//	continuous  the continuous adjoint equation, first order in h
//	forward     forward-mode sensitivities through the same scheme: the
//	            same discrete gradient computed a second, independent way
//	fd          central finite differences of the solve
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

type config struct {
	problem, method, plot string
	grad, history         string
	orders, coeffs        string
	memory                int
	alpha, T, lambda, x0  float64
	rtol, atol            float64
	steps, dim, corr      int
	json, x0Set           bool
}

// result is the JSON output; its field names are a contract with outside
// checks, so keep them.
type result struct {
	Problem   string    `json:"problem"`
	Method    string    `json:"method"`
	Alpha     float64   `json:"alpha"`
	T         float64   `json:"T"`
	Orders    []float64 `json:"orders"`
	Coeffs    []float64 `json:"coeffs"`
	Memory    int       `json:"memory"`
	Steps     int       `json:"steps"`
	Evals     int       `json:"evals"`
	XT        []float64 `json:"xT"`
	Exact     []float64 `json:"exact"`
	MaxAbsErr *float64  `json:"max_abs_err"`
	Seconds   float64   `json:"seconds"`
	Grad      *gradJSON `json:"grad,omitempty"`

	problem  problemInput
	GradSecs *float64 `json:"grad_seconds,omitempty"`
}

type gradJSON struct {
	X0     []float64 `json:"x0"`
	Lambda *float64  `json:"lambda"`
	Alpha  *float64  `json:"alpha"`
	Orders []float64 `json:"orders,omitempty"`
	Coeffs []float64 `json:"coeffs,omitempty"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fdesolve:", err)
		}
		os.Exit(2)
	}
}

// parse parses the flags and checks everything a solve needs before it
// starts: the names, the solver options and the memory of a solve of
// -dim components. The solve itself, the gradient and the plot are left
// to run.
func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("fdesolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.problem, "problem", "linear", "test problem: linear, smooth or dff")
	fs.StringVar(&c.method, "method", "pece", "scheme: rect, pece, gl, gl-implicit, l1, trap, flmm, euler, rk4, dopri5")
	fs.Float64Var(&c.alpha, "alpha", 0.5, "order of the Caputo derivative, 0 < alpha <= 1")
	fs.Float64Var(&c.T, "T", 1, "final time")
	fs.IntVar(&c.steps, "steps", 100, "number of uniform steps (dopri5: first trial step T/steps; 0 picks it)")
	fs.Float64Var(&c.lambda, "lambda", 1, "rate of the linear problem")
	fs.Float64Var(&c.x0, "x0", 0, "initial value of every component (default 1 for linear, 0 otherwise)")
	fs.IntVar(&c.dim, "dim", 1, "number of components")
	fs.IntVar(&c.corr, "correctors", 0, "extra corrector iterations of pece")
	fs.Float64Var(&c.rtol, "rtol", 1e-6, "relative tolerance of dopri5")
	fs.Float64Var(&c.atol, "atol", 1e-8, "absolute tolerance of dopri5")
	fs.BoolVar(&c.json, "json", false, "print one JSON object")
	fs.StringVar(&c.plot, "plot", "", "write a PNG plot of the trajectory to this file")
	fs.StringVar(&c.history, "history", "auto", "history-sum engine: direct, fft or auto")
	fs.StringVar(&c.orders, "orders", "", "comma-separated orders a1,a2,... of a multi-term equation (gl, gl-implicit, l1; linear problem)")
	fs.StringVar(&c.coeffs, "coeffs", "", "comma-separated coefficients c1,c2,... of the terms (default all 1)")
	fs.IntVar(&c.memory, "memory", 0, "short memory: keep the last M steps of the history (0: all)")
	fs.StringVar(&c.grad, "grad", "none", "gradient of L = sum of x(T): none, adjoint, continuous, forward or fd")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	alphaSet := false
	fs.Visit(func(f *flag.Flag) {
		c.x0Set = c.x0Set || f.Name == "x0"
		alphaSet = alphaSet || f.Name == "alpha"
	})
	if alphaSet && c.orders != "" {
		return c, errors.New("-alpha and -orders exclude each other: the orders replace alpha")
	}
	switch c.problem {
	case "linear", "smooth", "dff":
	default:
		return c, fmt.Errorf("unknown problem %q (want linear, smooth or dff)", c.problem)
	}
	switch c.grad {
	case "none", "adjoint", "continuous", "forward", "fd":
	default:
		return c, fmt.Errorf("unknown -grad %q (want none, adjoint, continuous, forward or fd)", c.grad)
	}
	if c.grad == "forward" && c.dim > maxForwardDim {
		return c, fmt.Errorf("-grad forward solves a tangent system of dim·(dim+2) components: use -dim <= %d", maxForwardDim)
	}
	if _, _, err := c.options(); err != nil {
		return c, err
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	res, sol, ex, err := solve(c)
	if err != nil {
		return err
	}
	if err := gradient(c, res, sol); err != nil {
		return err
	}
	if c.plot != "" {
		if err := plotTrajectory(c.plot, c, sol, ex); err != nil {
			return err
		}
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s, method %s, alpha %g, T %g: %d steps, %d field evaluations, %.3g s\n",
		res.Problem, res.Method, res.Alpha, res.T, res.Steps, res.Evals, res.Seconds)
	if res.Alpha == 0 {
		fmt.Fprintf(stdout, "  multi-term: orders %v, coefficients %v\n", res.Orders, res.Coeffs)
	}
	if res.Memory > 0 {
		fmt.Fprintf(stdout, "  short memory: the last %d steps\n", res.Memory)
	}
	show := min(len(res.XT), 8)
	for i := range show {
		fmt.Fprintf(stdout, "  x_%d(T) = %.15g", i, res.XT[i])
		if res.Exact != nil {
			fmt.Fprintf(stdout, "   exact %.15g", res.Exact[i])
		}
		fmt.Fprintln(stdout)
	}
	if show < len(res.XT) {
		fmt.Fprintf(stdout, "  ... %d more components\n", len(res.XT)-show)
	}
	if res.MaxAbsErr != nil {
		fmt.Fprintf(stdout, "max abs error at T: %.3g\n", *res.MaxAbsErr)
	}
	if g := res.Grad; g != nil {
		fmt.Fprintf(stdout, "gradient of sum x(T) (%s, %.3g s): dL/dx0[0] = %.15g", c.grad, *res.GradSecs, g.X0[0])
		if g.Lambda != nil {
			fmt.Fprintf(stdout, ", dL/dlambda = %.15g", *g.Lambda)
		}
		if g.Alpha != nil {
			fmt.Fprintf(stdout, ", dL/dalpha = %.15g", *g.Alpha)
		}
		if g.Orders != nil {
			fmt.Fprintf(stdout, ", dL/dorders = %v, dL/dcoeffs = %v", g.Orders, g.Coeffs)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// exactFunc returns the exact solution of component i at time t, or nil
// when it is unknown.
type exactFunc func(i int, t float64) float64

// options returns the solver options of c (multi: a multi-term
// equation) after checking them and the memory a solve of -dim
// components needs, before the problem and the initial state are
// allocated.
func (c config) options() (opt fode.Options, multi bool, err error) {
	m, err := fode.ParseMethod(c.method)
	if err != nil {
		return opt, false, err
	}
	if c.dim < 1 {
		return opt, false, fmt.Errorf("-dim %d must be at least 1", c.dim)
	}
	engines := map[string]fode.HistoryEngine{"direct": fode.Direct, "fft": fode.FFT, "auto": fode.Auto}
	eng, ok := engines[c.history]
	if !ok {
		return opt, false, fmt.Errorf("unknown -history %q (want direct, fft or auto)", c.history)
	}
	opt = fode.Options{Method: m, Alpha: c.alpha, T: c.T, Steps: c.steps, PECE: fode.PECESettings{Correctors: c.corr}, History: eng, ShortMemory: c.memory}
	if opt.Orders, err = parseList("-orders", c.orders); err != nil {
		return opt, false, err
	}
	if opt.Coeffs, err = parseList("-coeffs", c.coeffs); err != nil {
		return opt, false, err
	}
	if opt.Coeffs != nil && opt.Orders == nil {
		return opt, false, errors.New("-coeffs needs -orders")
	}
	multi = opt.Orders != nil
	if multi {
		opt.Alpha = 0
		if opt.Coeffs == nil {
			opt.Coeffs = make([]float64, len(opt.Orders))
			for i := range opt.Coeffs {
				opt.Coeffs[i] = 1
			}
		}
		if c.problem != "linear" {
			return opt, false, fmt.Errorf("-orders needs -problem linear (the %s problem is built for one order)", c.problem)
		}
	}
	if m == fode.Dopri5 {
		opt.Adaptive.RTol, opt.Adaptive.ATol = c.rtol, c.atol
	}
	if _, err := opt.Memory(c.dim); err != nil {
		return opt, false, err
	}
	return opt, multi, nil
}

func solve(c config) (*result, *fode.Solution, exactFunc, error) {
	opt, multi, err := c.options()
	if err != nil {
		return nil, nil, nil, err
	}
	m := opt.Method
	var (
		f     fode.Field
		theta []float64
		ex    exactFunc
	)
	x0v := c.x0
	switch c.problem {
	case "linear":
		if !c.x0Set {
			x0v = 1
		}
		lin, err := problems.NewLinear(c.dim)
		if err != nil {
			return nil, nil, nil, err
		}
		f, theta = lin, []float64{c.lambda}
		if !multi {
			ex = func(i int, t float64) float64 {
				return x0v * fode.MittagLeffler(c.alpha, 1, -c.lambda*lin.Rate(i)*math.Pow(t, c.alpha))
			}
		}
	case "smooth", "dff":
		var exact func(float64) float64
		if c.problem == "smooth" {
			p, err := problems.NewSmooth(c.alpha, c.dim)
			if err != nil {
				return nil, nil, nil, err
			}
			f, exact = p, p.Exact
		} else {
			p, err := problems.NewDFF(c.alpha, c.dim)
			if err != nil {
				return nil, nil, nil, err
			}
			f, exact = p, p.Exact
		}
		if x0v == 0 {
			ex = func(_ int, t float64) float64 { return exact(t) }
		}
	default:
		return nil, nil, nil, fmt.Errorf("unknown problem %q (want linear, smooth or dff)", c.problem)
	}
	x0 := make([]float64, c.dim)
	for i := range x0 {
		x0[i] = x0v
	}
	start := time.Now()
	sol, err := fode.Solve(f, x0, theta, opt)
	secs := time.Since(start).Seconds()
	if err != nil {
		return nil, nil, nil, err
	}
	res := &result{
		problem: problemInput{f: f, theta: theta, x0: x0, opt: opt},
		Problem: c.problem, Method: m.String(), Alpha: opt.Alpha, T: c.T,
		Orders: sol.Orders, Coeffs: sol.Coeffs, Memory: c.memory,
		Steps: sol.Steps, Evals: sol.Evals, XT: sol.Final(), Seconds: secs,
	}
	if !multi {
		res.Orders, res.Coeffs = []float64{opt.Alpha}, []float64{1}
	}
	if ex != nil {
		res.Exact = make([]float64, c.dim)
		var worst float64
		for i, v := range res.XT {
			res.Exact[i] = ex(i, c.T)
			worst = math.Max(worst, math.Abs(v-res.Exact[i]))
		}
		res.MaxAbsErr = &worst
	}
	return res, sol, ex, nil
}

// parseList parses a comma-separated list of at most fode.MaxTerms numbers
// ("" is nil); the count is checked before the list is split.
func parseList(name, s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	if n := strings.Count(s, ",") + 1; n > fode.MaxTerms {
		return nil, fmt.Errorf("%s: %d values, at most %d", name, n, fode.MaxTerms)
	}
	parts := strings.Split(s, ",")
	v := make([]float64, len(parts))
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %d %q is not a number", name, i+1, p)
		}
		v[i] = x
	}
	return v, nil
}
