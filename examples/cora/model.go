package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/graph"
	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/layers"
	"github.com/gofde/gofde/ops"
	"github.com/gofde/gofde/sparse"
)

// prepared holds what every run shares: the normalised adjacency, the
// attention pattern and the (row-normalised) features.
type prepared struct {
	ds       *graph.Dataset // the labels, without the graph and features (see prepare)
	adj      *sparse.CSR    // Â for the linear field
	pattern  *sparse.CSR    // A + I for the attention field
	self     []bool         // the pattern's diagonal entries
	features *sparse.CSR
	// linear is the linear diffusion field (-field linear), shared by the
	// training and the evaluation graphs, which then share its copy of Â
	// (a third of a gigabyte at a million nodes).
	linear *graph.LinearDiffusion
}

func prepare(c config, ds *graph.Dataset) (*prepared, error) {
	sym, err := graph.Symmetrize(ds.Adj)
	if err != nil {
		return nil, err
	}
	p := &prepared{ds: ds}
	if c.norm == "rw" {
		p.adj, err = graph.NormalizeRW(sym)
	} else {
		p.adj, err = graph.NormalizeSym(sym)
	}
	if err != nil {
		return nil, err
	}
	p.pattern = p.adj // same pattern (A + I); EdgeAttention ignores the values
	p.self = make([]bool, p.pattern.NNZ())
	for i := 0; i < p.pattern.Rows; i++ {
		for k := p.pattern.Ptr[i]; k < p.pattern.Ptr[i+1]; k++ {
			p.self[k] = p.pattern.Col[k] == i
		}
	}
	f := ds.Features
	vals := append([]float64(nil), f.Val...)
	if c.rowNorm {
		for i := 0; i < f.Rows; i++ {
			s := 0.0
			for k := f.Ptr[i]; k < f.Ptr[i+1]; k++ {
				s += math.Abs(vals[k])
			}
			if s > 0 {
				for k := f.Ptr[i]; k < f.Ptr[i+1]; k++ {
					vals[k] /= s
				}
			}
		}
	}
	if p.features, err = f.WithValues(vals); err != nil {
		return nil, err
	}
	// The model reads the graph and the features from p alone: the
	// dataset's copies can go (a few hundred megabytes at a million nodes).
	labels := *ds
	labels.Adj, labels.Features = nil, nil
	p.ds = &labels
	if c.field == "linear" {
		// Â lives on in the linear field, which copies it: build it now
		// and drop p's copy.
		d := ds.Classes
		if c.diffuse == "hidden" {
			d = c.hidden
		}
		if p.linear, err = graph.NewLinearDiffusion(p.adj, d); err != nil {
			return nil, err
		}
		p.linear.SetFloat32(c.dtype != "float64")
		p.adj, p.pattern, p.self = nil, nil, nil
	}
	return p, nil
}

// net is one model graph: with dropout masks (training) or without.
type net struct {
	g              *G.ExprGraph
	inMask, mask   *G.Node // dropout masks (nil without dropout)
	attnMask       *G.Node // attention dropout: 1 keeps an entry, 0 drops it
	attnKeep       float64
	self           []bool  // the pattern's entries on the diagonal (kept)
	alpha          *G.Node // the learned order α (nil when α is fixed)
	orders, coeffs *G.Node // the learned orders and coefficients (-learn-orders; nil otherwise)
	attn           *G.Node // the attention weights (attention field only)
	target         *G.Node // one-hot labels of the training nodes / |train|
	logits, loss   *G.Node
	learn          G.Nodes // encP, decP and α or the orders and coefficients (when learned), in this order
	encP, decP     G.Nodes // the encoder's (with the attention's) and the decoder's weights
	inKeep, keep   float64
	featPtr        []int   // -drop-node: the feature rows' extents, dropped whole
	labelIn        *G.Node // -label-input: β × the one-hot labels added to the class scores
	nnzIn, nodes   int
	classes, featD int
}

// attention returns the attention weights computed once from the
// encoding h0 with learnable key and query projections.
func (n *net) attention(c config, p *prepared, g *G.ExprGraph, dt tensor.Dtype, h0 *G.Node, enc *layers.Dense, seed uint64, train bool) (*G.Node, error) {
	wk, err := layers.NewDense(g, dt, "key", c.hidden, c.attnDim, seed+3)
	if err != nil {
		return nil, err
	}
	wq, err := layers.NewDense(g, dt, "query", c.hidden, c.attnDim, seed+4)
	if err != nil {
		return nil, err
	}
	n.encP = append(n.encP, wk.W, wq.W)
	src := h0
	if train && n.inMask != nil && c.attnClean {
		// The attention sees the encoding without input dropout, as the
		// evaluation does.
		clean, err := ops.SparseMatMul(p.features, enc.W, nil)
		if err != nil {
			return nil, err
		}
		if src, err = ops.AddBias(clean, enc.B); err != nil {
			return nil, err
		}
	}
	k := G.Must(G.Mul(src, wk.W))
	q := G.Must(G.Mul(src, wq.W))
	norm, err := ops.ParseAttentionNorm(c.attnNorm)
	if err != nil {
		return nil, err
	}
	aopt := ops.AttentionOptions{Norm: norm}
	if train && c.attnDrop > 0 {
		// Attention dropout: each neighbour entry (not the self-loop)
		// leaves the softmax with probability -attn-dropout and the rest
		// of its row is renormalised.
		n.attnKeep = 1 - c.attnDrop
		n.attnMask = G.NewVector(g, dt, G.WithShape(p.pattern.NNZ()), G.WithName("attnmask"),
			G.WithValue(tensor.New(tensor.WithShape(p.pattern.NNZ()), tensor.Of(dt))))
		aopt.Mask = n.attnMask
		n.self = p.self
	}
	w, err := ops.EdgeAttentionWith(p.pattern, k, q, aopt)
	if err != nil {
		return nil, err
	}
	n.attn = w
	return w, nil
}

func buildNet(c config, p *prepared, seed uint64, train bool) (n *net, err error) {
	ds := p.ds
	g := G.NewGraph()
	n = &net{g: g, nnzIn: p.features.NNZ(), nodes: ds.Nodes(), classes: ds.Classes}
	dt := tensor.Float32
	if c.dtype == "float64" {
		dt = tensor.Float64
	}
	if train && c.inDrop > 0 {
		n.inKeep = 1 - c.inDrop
		if c.dropNode {
			n.featPtr = p.features.Ptr
		}
		n.inMask = G.NewVector(g, dt, G.WithShape(p.features.NNZ()), G.WithName("inmask"),
			G.WithValue(tensor.New(tensor.WithShape(p.features.NNZ()), tensor.Of(dt))))
	}
	enc, err := layers.NewDense(g, dt, "enc", p.features.Cols, c.hidden, seed+1)
	if err != nil {
		return nil, err
	}
	// The sparse features times the encoder's weights, with input dropout
	// on the stored values: no dense nodes × features matrix is built.
	h0, err := ops.SparseMatMul(p.features, enc.W, n.inMask)
	if err != nil {
		return nil, err
	}
	// The bias into a kept output: BroadcastAdd would copy it into a new
	// nodes × hidden tensor and allocate its output on every run.
	if h0, err = ops.AddBias(h0, enc.B); err != nil {
		return nil, err
	}
	n.encP = append(n.encP, enc.Learnables()...)

	opt, err := c.solveOptions()
	if err != nil {
		return nil, err
	}
	// diffuse solves the graph FDE from x (nodes × d); the attention
	// weights come from the encoding h0 in either placement.
	diffuse := func(x *G.Node, d int) (*G.Node, error) {
		switch c.field {
		case "linear":
			block, err := layers.NewFDEBlock(g, "fde", p.linear, layers.BlockConfig{Solve: opt, Seed: seed + 2, Dtype: dt, LearnAlpha: c.learnAlpha, LearnOrders: c.learnOrders, LearnCoeffs: c.learnOrders})
			if err != nil {
				return nil, err
			}
			n.alpha, n.orders, n.coeffs = block.Alpha(), block.Orders(), block.Coeffs()
			return block.Fwd(x)
		case "attention":
			if c.attnFrom == "state" {
				// The attention recomputed from the state at every
				// evaluation of the field (F-GRAND-nl).
				norm, err := ops.ParseAttentionNorm(c.attnNorm)
				if err != nil {
					return nil, err
				}
				field, err := graph.NewAttentionDiffusion(p.pattern, d, c.attnDim, norm)
				if err != nil {
					return nil, err
				}
				block, err := layers.NewFDEBlock(g, "fde", field, layers.BlockConfig{Solve: opt, Seed: seed + 2, Dtype: dt, LearnAlpha: c.learnAlpha, LearnOrders: c.learnOrders, LearnCoeffs: c.learnOrders})
				if err != nil {
					return nil, err
				}
				n.alpha, n.orders, n.coeffs = block.Alpha(), block.Orders(), block.Coeffs()
				for _, l := range block.Learnables() {
					if l != n.alpha && l != n.orders && l != n.coeffs {
						n.encP = append(n.encP, l)
					}
				}
				return block.Fwd(x)
			}
			w, err := n.attention(c, p, g, dt, h0, enc, seed, train)
			if err != nil {
				return nil, err
			}
			field, err := graph.NewEdgeDiffusion(p.pattern, d)
			if err != nil {
				return nil, err
			}
			if c.learnAlpha {
				var v any = c.alpha
				if dt == tensor.Float32 {
					v = float32(c.alpha)
				}
				n.alpha = G.NewScalar(g, dt, G.WithName("fde_alpha"), G.WithValue(v))
			}
			return ops.FDE(x, []*G.Node{w}, n.alpha, ops.Config{Field: field, Solve: opt, Grad: fode.Adjoint})
		}
		return nil, fmt.Errorf("-field %q: want linear or attention", c.field)
	}
	// hidden: encoder → FDE → ReLU → dropout → decoder (GRAND, FROND);
	// logits: encoder → ReLU → dropout → decoder → FDE on the class scores.
	z := h0
	if c.diffuse == "hidden" {
		if z, err = diffuse(h0, c.hidden); err != nil {
			return nil, err
		}
	}
	z = G.Must(ops.ReLU(z))
	if train && c.drop > 0 {
		n.keep = 1 - c.drop
		n.mask = G.NewMatrix(g, dt, G.WithShape(ds.Nodes(), c.hidden), G.WithName("mask"),
			G.WithValue(tensor.New(tensor.WithShape(ds.Nodes(), c.hidden), tensor.Of(dt))))
		// The mask into a kept output, without the gradient with
		// respect to the mask that HadamardProd would build.
		if z, err = ops.Mask(z, n.mask); err != nil {
			return nil, err
		}
	}
	dec, err := layers.NewDense(g, dt, "dec", c.hidden, ds.Classes, seed+5)
	if err != nil {
		return nil, err
	}
	n.decP = append(n.decP, dec.Learnables()...)
	if n.logits, err = dec.Fwd(z); err != nil {
		return nil, err
	}
	if c.labelIn > 0 {
		// The known labels enter the diffusion with the class scores
		// (trainRun fills them in).
		n.labelIn = G.NewMatrix(g, dt, G.WithShape(ds.Nodes(), ds.Classes), G.WithName("labelin"),
			G.WithValue(tensor.New(tensor.WithShape(ds.Nodes(), ds.Classes), tensor.Of(dt))))
		n.logits = G.Must(G.Add(n.logits, n.labelIn))
	}
	if c.diffuse == "logits" {
		if n.logits, err = diffuse(n.logits, ds.Classes); err != nil {
			return nil, err
		}
	}
	n.learn = append(append(G.Nodes{}, n.encP...), n.decP...)
	for _, l := range []*G.Node{n.alpha, n.orders, n.coeffs} {
		if l != nil {
			n.learn = append(n.learn, l) // last: trainRun steps them apart
		}
	}
	if train {
		n.target = G.NewMatrix(g, dt, G.WithShape(ds.Nodes(), ds.Classes), G.WithName("target"),
			G.WithValue(tensor.New(tensor.WithShape(ds.Nodes(), ds.Classes), tensor.Of(dt))))
		logp := G.Must(G.LogSoftMax(n.logits))
		n.loss = G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(logp, n.target))))))
		if _, err := G.Grad(n.loss, n.learn...); err != nil {
			return nil, fmt.Errorf("building the gradient: %w", err)
		}
	}
	return n, nil
}

// resample draws new inverted-dropout masks (kept entries scaled 1/keep).
func (n *net) resample(rng *rand.Rand) error {
	fill := func(m *G.Node, keep float64) error {
		if m == nil {
			return nil
		}
		switch d := m.Value().Data().(type) {
		case []float64:
			return ops.FillDropout(d, 1-keep, rng.Float64)
		case []float32:
			return ops.FillDropout(d, 1-keep, rng.Float64)
		}
		return fmt.Errorf("dropout mask %s of dtype %v", m.Name(), m.Dtype())
	}
	if n.featPtr != nil {
		// DropNode: every node keeps or drops all its features at once.
		m := make([]float64, n.inMask.Shape().TotalSize())
		for i := 0; i+1 < len(n.featPtr); i++ {
			if rng.Float64() < n.inKeep {
				for k := n.featPtr[i]; k < n.featPtr[i+1]; k++ {
					m[k] = 1 / n.inKeep
				}
			}
		}
		if err := value.SetFloat64s(n.inMask.Value(), m); err != nil {
			return fmt.Errorf("input mask: %w", err)
		}
	} else if err := fill(n.inMask, n.inKeep); err != nil {
		return err
	}
	if n.attnMask != nil {
		m := make([]float64, len(n.self))
		for k, self := range n.self {
			if self || rng.Float64() < n.attnKeep {
				m[k] = 1
			}
		}
		if err := value.SetFloat64s(n.attnMask.Value(), m); err != nil {
			return fmt.Errorf("attention mask: %w", err)
		}
	}
	return fill(n.mask, n.keep)
}

// copyParams copies the parameter values of src into dst (same config).
func copyParams(dst, src *net) error {
	for i, p := range src.learn {
		if _, err := G.Copy(dst.learn[i].Value(), p.Value()); err != nil {
			return fmt.Errorf("copying %s: %w", p.Name(), err)
		}
	}
	return nil
}

// maxLoss is the cross-entropy above which training has diverged: a
// uniform guess costs ln(classes), about 2 here, and no run that still
// learns comes anywhere near 1e4.
const maxLoss = 1e4

// machineError reports a failed run of a model graph without Gorgonia's
// instruction listing; a non-finite value means the training diverged.
func machineError(epoch int, where string, err error) error {
	err = ops.Cause(err)
	if errors.Is(err, fode.ErrNotFinite) {
		return fmt.Errorf("epoch %d%s: training diverged (a value in the network is not finite: %v); lower -lr or -T", epoch, where, err)
	}
	return fmt.Errorf("epoch %d%s: %w", epoch, where, err)
}

type runResult struct {
	test, val    float64
	epoch        int
	epochs       int     // epochs trained
	trainSeconds float64 // forward + backward + optimizer step, no evaluation
	firstSeconds float64 // trainSeconds of the first epoch alone
	heldout      float64 // validation accuracy with the epoch chosen on the other half
	alpha        float64 // the learned α after the last epoch (0 when fixed)
	bestAlpha    float64 // the learned α at the chosen epoch
	// The learned orders and coefficients after the last epoch and at
	// the chosen one (-learn-orders).
	orders, coeffs, bestOrders, bestCoeffs []float64
}

// minAlpha is the floor of a learned α: the solver needs α in (0, 1], and
// the floor keeps it away from 0.
const minAlpha = 0.05

// clampAlpha projects the scalar α node's value onto [minAlpha, 1] after
// an optimizer step and returns it.
func clampAlpha(n *G.Node) (float64, error) {
	switch v := n.Value().(type) {
	case *G.F64:
		*v = G.F64(min(1, max(minAlpha, float64(*v))))
		return float64(*v), nil
	case *G.F32:
		*v = G.F32(min(1, max(minAlpha, float64(*v))))
		return float64(*v), nil
	}
	return 0, fmt.Errorf("learned α of value type %T, want a float scalar", n.Value())
}

// minCoeff is the floor of a learned coefficient of the multi-term
// equation: the solver needs c_i > 0.
const minCoeff = 0.01

// clampTerms projects the learned orders onto [minAlpha, 1] and the
// coefficients onto [minCoeff, ∞) after an optimizer step and returns
// copies of both.
func clampTerms(orders, coeffs *G.Node) (o, c []float64, err error) {
	for _, t := range []struct {
		n      *G.Node
		lo, hi float64
		dst    *[]float64
	}{{orders, minAlpha, 1, &o}, {coeffs, minCoeff, math.Inf(1), &c}} {
		v, err := value.Float64s(t.n.Value())
		if err != nil {
			return nil, nil, err
		}
		for i := range v {
			v[i] = min(t.hi, max(t.lo, v[i]))
		}
		if err := value.SetFloat64s(t.n.Value(), v); err != nil {
			return nil, nil, err
		}
		*t.dst = append([]float64(nil), v...)
	}
	return o, c, nil
}

// accuracy returns the fraction of the nodes idx whose largest logit is
// their label.
func accuracy(logits []float64, classes int, labels, idx []int) float64 {
	if len(idx) == 0 {
		return 0
	}
	ok := 0
	for _, i := range idx {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		if best == labels[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(idx))
}

// trainRun trains one model on one split and returns the test accuracy at
// the epoch chosen on the validation nodes (-select).
func trainRun(c config, p *prepared, split *graph.Split, seed uint64, r int, progress io.Writer) (res runResult, err error) {
	// NewTapeMachine panics on compile errors; report them as errors.
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("building the machine: %v", e)
		}
	}()
	tr, err := buildNet(c, p, seed, true)
	if err != nil {
		return res, err
	}
	ev, err := buildNet(c, p, seed, false)
	if err != nil {
		return res, err
	}
	tgt := make([]float64, tr.target.Shape().TotalSize())
	isTrain := make([]bool, p.ds.Nodes())
	for _, i := range split.Train {
		isTrain[i] = true
	}
	// With -label-input the evaluation sees every training label; each
	// training epoch, a random half of the training nodes gives its labels
	// as input and the other half is supervised.
	labelled := make([]bool, len(split.Train))
	if ev.labelIn != nil {
		for k := range labelled {
			labelled[k] = true
		}
		if err := setLabelInput(ev.labelIn, p.ds.Labels, split.Train, labelled, c.labelIn); err != nil {
			return res, err
		}
		for k := range labelled {
			labelled[k] = k%2 == 0
		}
	}
	trainTargets(tgt, tr.classes, p.ds.Labels, split.Train, labelled, c.smooth)
	if err := value.SetFloat64s(tr.target.Value(), tgt); err != nil {
		return res, err
	}
	vm := G.NewTapeMachine(tr.g, G.BindDualValues(tr.learn...))
	defer vm.Close()
	evm := G.NewTapeMachine(ev.g)
	defer evm.Close()
	// The encoder (with the attention's projections) and the decoder take
	// Adam steps with their own weight decay; a learned α takes steps of
	// its own, without weight decay (which would pull it towards 0), and
	// is kept in the solver's range (0, 1].
	wdDec := c.wd
	if c.wdDec >= 0 {
		wdDec = c.wdDec
	}
	groups := []struct {
		solver *G.AdamSolver
		nodes  G.Nodes
	}{
		{G.NewAdamSolver(G.WithLearnRate(c.lr), G.WithL2Reg(c.wd)), tr.encP},
		{G.NewAdamSolver(G.WithLearnRate(c.lr), G.WithL2Reg(wdDec)), tr.decP},
	}
	if tr.alpha != nil {
		groups = append(groups, struct {
			solver *G.AdamSolver
			nodes  G.Nodes
		}{G.NewAdamSolver(G.WithLearnRate(c.lr)), G.Nodes{tr.alpha}})
	}
	if tr.orders != nil {
		groups = append(groups, struct {
			solver *G.AdamSolver
			nodes  G.Nodes
		}{G.NewAdamSolver(G.WithLearnRate(c.lr)), G.Nodes{tr.orders, tr.coeffs}})
	}
	var ema [][]float64 // the averaged weights (-ema)
	rng := rand.New(rand.NewPCG(seed, 0x636f7261))
	res.val = -1
	since := 0
	best := score{acc: -1}
	// The held-out validation estimate: the epoch is chosen on one half of
	// the validation nodes and scored on the other, both ways round.
	var halves [2][]int
	for i, v := range split.Val {
		halves[i%2] = append(halves[i%2], v)
	}
	bestHalf, otherHalf := [2]score{{acc: -1}, {acc: -1}}, [2]float64{}
	defer func() { res.heldout = (otherHalf[0] + otherHalf[1]) / 2 }()
	for epoch := 1; epoch <= c.epochs; epoch++ {
		start := time.Now()
		if err := tr.resample(rng); err != nil {
			return res, err
		}
		if tr.labelIn != nil {
			rng.Shuffle(len(labelled), func(i, j int) { labelled[i], labelled[j] = labelled[j], labelled[i] })
			if err := setLabelInput(tr.labelIn, p.ds.Labels, split.Train, labelled, c.labelIn); err != nil {
				return res, err
			}
			trainTargets(tgt, tr.classes, p.ds.Labels, split.Train, labelled, c.smooth)
			if err := value.SetFloat64s(tr.target.Value(), tgt); err != nil {
				return res, err
			}
		}
		if err := vm.RunAll(); err != nil {
			return res, machineError(epoch, "", err)
		}
		lv, err := value.Float64s(tr.loss.Value())
		if err != nil {
			return res, err
		}
		loss := lv[0]
		if !(loss <= maxLoss) { // also NaN
			return res, fmt.Errorf("epoch %d: training diverged: the loss is %v (it starts near ln(classes) ≈ 2); lower -lr or -T", epoch, loss)
		}
		for _, gr := range groups {
			if err := gr.solver.Step(G.NodesToValueGrads(gr.nodes)); err != nil {
				return res, fmt.Errorf("epoch %d: optimizer step: %w", epoch, err)
			}
		}
		if tr.alpha != nil {
			if res.alpha, err = clampAlpha(tr.alpha); err != nil {
				return res, fmt.Errorf("epoch %d: %w", epoch, err)
			}
		}
		if tr.orders != nil {
			if res.orders, res.coeffs, err = clampTerms(tr.orders, tr.coeffs); err != nil {
				return res, fmt.Errorf("epoch %d: learned orders: %w", epoch, err)
			}
		}
		vm.Reset()
		res.trainSeconds += time.Since(start).Seconds()
		if res.epochs == 0 {
			res.firstSeconds = res.trainSeconds
		}
		res.epochs++
		if c.ema > 0 {
			// Bias-corrected start: the average of the first epochs
			// weighs them (almost) equally.
			if ema, err = updateEMA(ema, tr.learn, min(c.ema, float64(epoch)/float64(epoch+1))); err != nil {
				return res, err
			}
			err = setParams(ev.learn, ema)
		} else {
			err = copyParams(ev, tr)
		}
		if err != nil {
			return res, err
		}
		if err := evm.RunAll(); err != nil {
			return res, machineError(epoch, ", evaluation", err)
		}
		logits, err := value.Float64s(ev.logits.Value())
		if err != nil {
			return res, err
		}
		if c.consistency > 0 {
			if err := teacherTargets(tgt, logits, ev.classes, isTrain, c.consistency, c.temp, len(split.Train)); err != nil {
				return res, err
			}
			if err := value.SetFloat64s(tr.target.Value(), tgt); err != nil {
				return res, err
			}
		}
		labels := p.ds.Labels
		val := evaluate(logits, ev.classes, labels, split.Val)
		test := accuracy(logits, ev.classes, labels, split.Test)
		for h := range halves {
			if s := evaluate(logits, ev.classes, labels, halves[h]); s.better(bestHalf[h], c.selectBy) {
				bestHalf[h], otherHalf[h] = s, accuracy(logits, ev.classes, labels, halves[1-h])
			}
		}
		evm.Reset()
		if val.better(best, c.selectBy) {
			best = val
			res.val, res.test, res.epoch, res.bestAlpha = val.acc, test, epoch, res.alpha
			res.bestOrders, res.bestCoeffs = res.orders, res.coeffs
			since = 0
		} else {
			since++
		}
		if c.every > 0 && epoch%c.every == 0 {
			learned := ""
			if tr.alpha != nil {
				learned = fmt.Sprintf(", α %.4f", res.alpha)
			}
			if tr.orders != nil {
				learned = fmt.Sprintf(", orders %.3f, coefficients %.3f", res.orders, res.coeffs)
			}
			if ev.attn != nil {
				self, peak, err := attentionStats(p.pattern, ev.attn)
				if err != nil {
					return res, err
				}
				learned += fmt.Sprintf(", attention: self %.3f, largest %.3f", self, peak)
			}
			fmt.Fprintf(progress, "run %d epoch %d: loss %.4f, train %.1f%%, val %.2f%% (loss %.4f), test %.2f%% (best val %.2f%% at %d)%s\n",
				r+1, epoch, loss, 100*accuracy(logits, ev.classes, labels, split.Train), 100*val.acc, val.loss, 100*test, 100*res.val, res.epoch, learned)
		}
		if c.patience > 0 && since >= c.patience {
			break
		}
	}
	return res, nil
}

// score is the accuracy and mean cross-entropy of a set of nodes.
type score struct{ acc, loss float64 }

// evaluate returns the accuracy and the mean cross-entropy of the nodes idx.
func evaluate(logits []float64, classes int, labels, idx []int) score {
	s := score{acc: accuracy(logits, classes, labels, idx)}
	if len(idx) == 0 {
		return s
	}
	for _, i := range idx {
		row := logits[i*classes : (i+1)*classes]
		m := math.Inf(-1)
		for _, v := range row {
			m = max(m, v)
		}
		z := 0.0
		for _, v := range row {
			z += math.Exp(v - m)
		}
		s.loss += m + math.Log(z) - row[labels[i]]
	}
	s.loss /= float64(len(idx))
	return s
}

// better reports whether s beats the best score so far under the -select
// criterion: a higher accuracy (acc), a lower loss (loss), or a higher
// accuracy with ties broken by a lower loss (acc-loss). A NaN loss never
// wins on the loss.
func (s score) better(best score, by string) bool {
	switch by {
	case "loss":
		return s.loss < best.loss || (best.acc < 0 && !math.IsNaN(s.loss))
	case "acc-loss":
		return s.acc > best.acc || (s.acc == best.acc && s.loss < best.loss)
	}
	return s.acc > best.acc
}

// updateEMA moves the averages ema (nil on the first call) towards the
// values of the nodes: ema ← decay·ema + (1 - decay)·value.
func updateEMA(ema [][]float64, nodes G.Nodes, decay float64) ([][]float64, error) {
	if ema == nil {
		ema = make([][]float64, len(nodes))
	}
	for i, n := range nodes {
		v, err := value.Float64s(n.Value())
		if err != nil {
			return nil, fmt.Errorf("averaging %s: %w", n.Name(), err)
		}
		if ema[i] == nil {
			ema[i] = append([]float64(nil), v...)
			continue
		}
		if len(v) != len(ema[i]) {
			return nil, fmt.Errorf("averaging %s: %d values, want %d", n.Name(), len(v), len(ema[i]))
		}
		for k, x := range v {
			ema[i][k] = decay*ema[i][k] + (1-decay)*x
		}
	}
	return ema, nil
}

// setParams writes vals into the values of the nodes (tensors or scalars).
func setParams(nodes G.Nodes, vals [][]float64) error {
	if len(nodes) != len(vals) {
		return fmt.Errorf("setting %d parameters from %d values", len(nodes), len(vals))
	}
	for i, n := range nodes {
		var err error
		switch v := n.Value().(type) {
		case *G.F64:
			if err = oneValue(vals[i]); err == nil {
				*v = G.F64(vals[i][0])
			}
		case *G.F32:
			if err = oneValue(vals[i]); err == nil {
				*v = G.F32(vals[i][0])
			}
		default:
			err = value.SetFloat64s(v, vals[i])
		}
		if err != nil {
			return fmt.Errorf("setting %s: %w", n.Name(), err)
		}
	}
	return nil
}

func oneValue(v []float64) error {
	if len(v) != 1 {
		return fmt.Errorf("%d values for a scalar", len(v))
	}
	return nil
}

// attentionStats returns the mean over the nodes of the attention weight
// on the node itself and of its largest weight: both about 1/degree while
// the attention is uniform, near 1 when it has collapsed onto one entry.
func attentionStats(pattern *sparse.CSR, w *G.Node) (self, peak float64, err error) {
	v, err := value.Float64s(w.Value())
	if err != nil {
		return 0, 0, fmt.Errorf("attention weights: %w", err)
	}
	if len(v) != pattern.NNZ() {
		return 0, 0, fmt.Errorf("attention weights: %d values for %d entries", len(v), pattern.NNZ())
	}
	for i := 0; i < pattern.Rows; i++ {
		m := 0.0
		for k := pattern.Ptr[i]; k < pattern.Ptr[i+1]; k++ {
			m = max(m, v[k])
			if pattern.Col[k] == i {
				self += v[k]
			}
		}
		peak += m
	}
	return self / float64(pattern.Rows), peak / float64(pattern.Rows), nil
}

// trainTargets writes the rows of the training nodes train into tgt
// (nodes × classes, the weights of -log p in the loss): the label-smoothed
// one-hot labels over the number of supervised nodes for the nodes whose
// labelled flag is false, zero for those that give their label as input.
func trainTargets(tgt []float64, classes int, labels, train []int, labelled []bool, smooth float64) {
	sup := 0
	for k := range train {
		if !labelled[k] {
			sup++
		}
	}
	for k, i := range train {
		row := tgt[i*classes : (i+1)*classes]
		clear(row)
		if labelled[k] {
			continue
		}
		for c := range row {
			row[c] = smooth / float64(classes) / float64(sup)
		}
		row[labels[i]] += (1 - smooth) / float64(sup)
	}
}

// setLabelInput writes beta times the one-hot label of every training node
// whose labelled flag is set into the label input node, zero elsewhere.
func setLabelInput(n *G.Node, labels, train []int, labelled []bool, beta float64) error {
	s := n.Shape()
	v := make([]float64, s.TotalSize())
	for k, i := range train {
		if labelled[k] {
			v[i*s[1]+labels[i]] = beta
		}
	}
	if err := value.SetFloat64s(n.Value(), v); err != nil {
		return fmt.Errorf("label input: %w", err)
	}
	return nil
}

// teacherTargets writes the consistency targets of the nodes outside the
// training set into tgt (nodes × classes, the weights of -log p in the
// loss): weight/(nodes - train) times the sharpened prediction
// softmax(logits/temp) of the evaluation network (no dropout) after the
// last epoch. The training nodes' rows (their labels) are left alone.
func teacherTargets(tgt, logits []float64, classes int, isTrain []bool, weight, temp float64, train int) error {
	n := len(isTrain)
	if len(tgt) != n*classes || len(logits) != n*classes || n <= train {
		return fmt.Errorf("consistency targets: %d targets and %d logits for %d nodes × %d classes (%d training nodes)", len(tgt), len(logits), n, classes, train)
	}
	scale := weight / float64(n-train)
	for i := range n {
		if isTrain[i] {
			continue
		}
		row, out := logits[i*classes:(i+1)*classes], tgt[i*classes:(i+1)*classes]
		m := math.Inf(-1)
		for _, v := range row {
			m = max(m, v)
		}
		sum := 0.0
		for k, v := range row {
			out[k] = math.Exp((v - m) / temp)
			sum += out[k]
		}
		if !(sum > 0) || math.IsInf(sum, 0) { // NaN logits
			return fmt.Errorf("consistency targets: node %d has logits %v", i, row)
		}
		for k := range out {
			out[k] *= scale / sum
		}
	}
	return nil
}
