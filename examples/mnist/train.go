package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/data"
	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/gemm"
	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/layers"
	"github.com/gofde/gofde/ops"
	"github.com/gofde/gofde/replica"
)

// train builds the training and evaluation graphs, trains for c.epochs
// and evaluates on the test split after every epoch.
func train(c config, ds *data.Dataset, stderr io.Writer) (res *result, err error) {
	// NewTapeMachine panics on compile errors; report them as errors.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building the machine: %v", r)
		}
	}()
	trainSet, testSet := limit(ds.Train, c.trainLimit), limit(ds.Test, c.testLimit)
	var valSet *data.Split
	if c.val > 0 {
		n := trainSet.Len()
		if c.val >= n {
			return nil, fmt.Errorf("-val %d: holding out that many of %d training images leaves none to train on", c.val, n)
		}
		trainSet, valSet = trainSet.Subset(0, n-c.val), trainSet.Subset(n-c.val, n)
	}
	if trainSet.Len() < c.batch && c.epochs > 0 {
		return nil, fmt.Errorf("%d training images, fewer than one batch of %d", trainSet.Len(), c.batch)
	}
	mode, _ := layers.ParseMode(c.grad)
	cfg := modelConfig{Channels: c.channels, Alpha: c.alpha, T: c.T, Steps: c.steps, Method: c.method, Groups: c.groups}
	dt := tensor.Float32
	if c.dtype == "float64" {
		dt = tensor.Float64
	}
	// Every replica is built from the same seed; the Set copies the first
	// one's parameters into the others before each run anyway.
	var models []replica.Model
	var nets []*net
	for i, b := range replicaBatches(c.batch, c.replicas) {
		n, err := buildNet(cfg, dt, mode, b, c.seed, true, c.dropout)
		if err != nil {
			return nil, err
		}
		if i == 0 && c.load != "" {
			if err := load(c.load, cfg, n); err != nil {
				return nil, err
			}
		}
		nets = append(nets, n)
		models = append(models, replica.Model{Graph: n.g, Learn: n.learn, Loss: n.loss, Batch: b})
	}
	tr := nets[0]
	ev, err := buildNet(cfg, dt, layers.Adjoint, c.batch, c.seed, false, 0)
	if err != nil {
		return nil, err
	}
	vm, err := replica.New(models)
	if err != nil {
		return nil, err
	}
	defer vm.Close()
	evm := G.NewTapeMachine(ev.g)
	defer evm.Close()
	solver, err := newTrainer(c.optimizer, c.lr, vm)
	if err != nil {
		return nil, err
	}
	res = &result{
		Dataset: ds.Name, Source: ds.Source, TrainSize: trainSet.Len(), TestSize: testSet.Len(),
		Epochs: c.epochs, Grad: c.grad, Dtype: c.dtype, BLAS: gemm.Name(), Alpha: c.alpha, Method: c.method, Steps: c.steps, Optimizer: c.optimizer,
		LRDecay: c.lrDecay, Channels: c.channels, Augment: c.augment, Dropout: c.dropout, Replicas: vm.Len(),
	}
	rng := rand.New(rand.NewPCG(c.seed, 0x6d6e697374))
	var aug *augmenter
	if c.augment {
		// Mirrored clothes are still the same clothes; mirrored digits
		// are not digits.
		aug = &augmenter{rng: rand.New(rand.NewPCG(c.seed, 0x617567)), shift: 2, flip: ds.Name == "fashion"}
	}
	// The replicas take the minibatch's rows in order and draw their masks
	// in that order, so the masks do not depend on -replicas.
	drop := rand.New(rand.NewPCG(c.seed, 0x64726f70))
	nb := trainSet.Len() / c.batch // the last partial batch of an epoch is dropped
	var trainSecs float64
	// progress in [0, 1] drives the schedule: the share of the gradient
	// evaluation budget spent, or of the planned minibatches.
	progress := func(b int) float64 {
		if c.gradEvals > 0 {
			return float64(solver.evals()) / float64(c.gradEvals)
		}
		return float64(b) / float64(max(1, nb*c.epochs))
	}
	done := 0 // minibatches trained on
	for epoch := 1; epoch <= c.epochs && !(c.gradEvals > 0 && solver.evals() >= c.gradEvals); epoch++ {
		bar := progressbar.NewOptions(nb, progressbar.OptionSetWriter(stderr), progressbar.OptionSetVisibility(!c.quiet),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, c.epochs)), progressbar.OptionShowCount(),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetPredictTime(true))
		start := time.Now()
		perm := shuffled(rng, trainSet.Len())
		var sum float64
		batches := 0
		for b := 0; b < nb && !(c.gradEvals > 0 && solver.evals() >= c.gradEvals); b++ {
			if c.lrDecay == "cosine" {
				if _, err := solver.setLearnRate(max(cosine(c.lr, progress(done)), 1e-3*c.lr)); err != nil {
					return nil, err
				}
			}
			idx := perm[b*c.batch : (b+1)*c.batch]
			for _, n := range nets {
				fill(n, trainSet, idx[:n.batch], aug)
				idx = idx[n.batch:]
				if err := n.drawMask(drop.Float64); err != nil {
					return nil, err
				}
			}
			if err := vm.RunAll(); err != nil {
				return nil, trainingError(epoch, b, ops.Cause(err))
			}
			loss, err := vm.Loss()
			if err != nil {
				return nil, err
			}
			if !(loss <= maxLoss) { // also NaN
				return nil, fmt.Errorf("epoch %d, batch %d: training diverged: the loss is %v (it starts near ln 10 = 2.3); lower -lr", epoch, b, loss)
			}
			sum += loss
			if len(res.Losses) < c.logLosses {
				res.Losses = append(res.Losses, loss)
			}
			if err := solver.Step(G.NodesToValueGrads(vm.Learnables())); err != nil {
				// Runge-Kutta optimizers run the graph again in their stages.
				return nil, trainingError(epoch, b, ops.Cause(err))
			}
			batches++
			done++
			vm.Reset()
			_ = bar.Add(1)
		}
		trainSecs += since(start)
		_ = bar.Finish()
		if err := copyParams(ev, tr); err != nil {
			return nil, err
		}
		acc, err := evaluate(evm, ev, testSet)
		if err != nil {
			return nil, err
		}
		res.EpochAccuracy = append(res.EpochAccuracy, acc)
		res.EpochLoss = append(res.EpochLoss, sum/float64(max(batches, 1)))
		res.Epochs = epoch
		valMsg := ""
		if valSet != nil {
			va, err := evaluate(evm, ev, valSet)
			if err != nil {
				return nil, err
			}
			res.EpochValAccuracy = append(res.EpochValAccuracy, va)
			res.ValSize, res.ValAccuracy = valSet.Len(), va
			valMsg = fmt.Sprintf("validation %.2f%%, ", 100*va)
		}
		fmt.Fprintf(stderr, "\repoch %d: train loss %.4f, %stest accuracy %.2f%% (%.1f s, %d gradient evaluations)\n", epoch, sum/float64(max(batches, 1)), valMsg, 100*acc, since(start), solver.evals())
	}
	if c.epochs == 0 {
		if err := copyParams(ev, tr); err != nil {
			return nil, err
		}
		acc, err := evaluate(evm, ev, testSet)
		if err != nil {
			return nil, err
		}
		res.EpochAccuracy = append(res.EpochAccuracy, acc)
	}
	res.TestAccuracy = res.EpochAccuracy[len(res.EpochAccuracy)-1]
	res.GradEvals = solver.evals()
	res.TrainSeconds = trainSecs
	if res.Epochs > 0 {
		res.SecondsPerEpoch = trainSecs / float64(res.Epochs)
	}
	if c.save != "" {
		if err := save(c.save, cfg, tr); err != nil {
			return nil, fmt.Errorf("saving the model: %w", err)
		}
	}
	return res, nil
}

// maxLoss is the cross-entropy above which training has diverged: a
// uniform guess over ten classes costs ln 10 ≈ 2.3, and no run that still
// learns comes anywhere near 1e4.
const maxLoss = 1e4

// trainingError reports a failed training step; a non-finite value inside
// the network means the step size was too large.
func trainingError(epoch, batch int, err error) error {
	if errors.Is(err, fode.ErrNotFinite) {
		return fmt.Errorf("epoch %d, batch %d: training diverged (a value in the network is not finite: %v); lower -lr", epoch, batch, err)
	}
	return fmt.Errorf("epoch %d, batch %d: %w", epoch, batch, err)
}

// fill copies the images and one-hot labels of the examples idx into the
// network's input tensors, through aug when it is not nil; rows past
// len(idx) are zero.
func fill(n *net, s *data.Split, idx []int, aug *augmenter) {
	switch x := n.x.Value().Data().(type) {
	case []float64:
		fillAs(x, n.target.Value().Data().([]float64), s, idx, aug)
	case []float32:
		fillAs(x, n.target.Value().Data().([]float32), s, idx, aug)
	}
}

func fillAs[E float32 | float64](x, y []E, s *data.Split, idx []int, aug *augmenter) {
	clear(x)
	clear(y)
	im := s.Images
	d := im.Dim()
	for r, i := range idx {
		row, src := x[r*d:(r+1)*d], im.Pixels[i*d:(i+1)*d]
		y[r*10+s.Labels[i]] = 1
		if aug == nil {
			for j, p := range src {
				row[j] = E(p)
			}
			continue
		}
		dx, dy, flip := aug.draw()
		for oy := range im.Rows {
			sy := oy - dy
			if sy < 0 || sy >= im.Rows {
				continue // shifted in from outside: background, zero
			}
			for ox := range im.Cols {
				sx := ox - dx
				if flip {
					sx = im.Cols - 1 - sx
				}
				if sx >= 0 && sx < im.Cols {
					row[oy*im.Cols+ox] = E(src[sy*im.Cols+sx])
				}
			}
		}
	}
}

// augmenter draws the random transformation of each training image: a
// shift by up to shift pixels along each axis (the background, zero,
// fills in) and, with flip, a horizontal mirror half of the time.
type augmenter struct {
	rng   *rand.Rand
	shift int
	flip  bool
}

func (a *augmenter) draw() (dx, dy int, flip bool) {
	dx, dy = a.rng.IntN(2*a.shift+1)-a.shift, a.rng.IntN(2*a.shift+1)-a.shift
	return dx, dy, a.flip && a.rng.IntN(2) == 1
}

// evaluate returns the accuracy on s, in batches (the last one padded).
func evaluate(vm G.VM, n *net, s *data.Split) (float64, error) {
	preds, err := predict(vm, n, s)
	if err != nil {
		return 0, err
	}
	correct := 0
	for i, p := range preds {
		if p == s.Labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(max(1, s.Len())), nil
}

// predict returns the predicted class of every example of s.
func predict(vm G.VM, n *net, s *data.Split) ([]int, error) {
	preds := make([]int, 0, s.Len())
	idx := make([]int, 0, n.batch)
	for lo := 0; lo < s.Len(); lo += n.batch {
		idx = idx[:0]
		for i := lo; i < min(lo+n.batch, s.Len()); i++ {
			idx = append(idx, i)
		}
		fill(n, s, idx, nil)
		if err := vm.RunAll(); err != nil {
			return nil, fmt.Errorf("evaluation: %w", ops.Cause(err))
		}
		logits, err := value.Float64s(n.logits.Value())
		if err != nil {
			return nil, err
		}
		for r := range idx {
			best := 0
			for k := 1; k < 10; k++ {
				if logits[r*10+k] > logits[r*10+best] {
					best = k
				}
			}
			preds = append(preds, best)
		}
		vm.Reset()
	}
	return preds, nil
}

// minReplicaBatch is the fewest images of a minibatch worth a replica of
// its own: below it the convolutions' products get too small to run at
// full speed.
const minReplicaBatch = 16

// autoReplicas is the -replicas 0 choice: one replica per core, at most
// one per minReplicaBatch images.
func autoReplicas(batch int) int {
	return max(1, min(runtime.GOMAXPROCS(0), batch/minReplicaBatch, maxReplicas))
}

// replicaBatches splits a minibatch of n images into k slices whose sizes
// differ by at most one.
func replicaBatches(n, k int) []int {
	sizes := make([]int, k)
	for i := range sizes {
		sizes[i] = n / k
		if i < n%k {
			sizes[i]++
		}
	}
	return sizes
}
