package main

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/data"
	"github.com/gofde/gofde/internal/value"
	"github.com/gofde/gofde/layers"
	"github.com/gofde/gofde/replica"
)

// TestReplicasMatchOneMachine checks that the network's gradient averaged
// over replicas that split a minibatch (unevenly too) equals the gradient
// of one machine on the whole minibatch, in float64 to round-off and in
// float32 to its precision.
func TestReplicasMatchOneMachine(t *testing.T) {
	ds, err := data.Load("fashion", data.LoadOptions{Dir: sample, TrainLimit: 24, TestLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := modelConfig{Channels: 4, Alpha: 0.9, T: 1, Steps: 3, Method: "rect"}
	idx := make([]int, 24)
	for i := range idx {
		idx[i] = i
	}
	for _, tc := range []struct {
		dt  tensor.Dtype
		k   int
		tol float64
	}{{tensor.Float64, 2, 1e-12}, {tensor.Float64, 5, 1e-12}, {tensor.Float32, 3, 1e-5}} {
		one, err := buildNet(cfg, tc.dt, layers.Adjoint, len(idx), 1, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		fill(one, ds.Train, idx, nil)
		vm := G.NewTapeMachine(one.g, G.BindDualValues(one.learn...))
		// Two runs without zeroing: a tape machine adds the gradients up,
		// and the set must too.
		for range 2 {
			vm.Reset()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
		}
		want := gradients(t, one.learn)
		wantLoss, _ := value.Float64s(one.loss.Value())
		vm.Close()

		var models []replica.Model
		rest := idx
		for i, b := range replicaBatches(len(idx), tc.k) {
			// Different seeds: the set must copy the first replica's
			// parameters into the others.
			n, err := buildNet(cfg, tc.dt, layers.Adjoint, b, 1+uint64(i), true, 0)
			if err != nil {
				t.Fatal(err)
			}
			fill(n, ds.Train, rest[:b], nil)
			rest = rest[b:]
			models = append(models, replica.Model{Graph: n.g, Learn: n.learn, Loss: n.loss, Batch: b})
		}
		set, err := replica.New(models)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			set.Reset()
			if err := set.RunAll(); err != nil {
				t.Fatal(err)
			}
		}
		got := gradients(t, set.Learnables())
		loss, err := set.Loss()
		if err != nil {
			t.Fatal(err)
		}
		set.Close()
		var d, nrm float64
		for i, g := range want {
			d += (got[i] - g) * (got[i] - g)
			nrm += g * g
		}
		if rel := math.Sqrt(d / nrm); !(rel < tc.tol) || nrm == 0 {
			t.Errorf("%v, %d replicas: gradient differs by %.3g relative", tc.dt, tc.k, rel)
		}
		if math.Abs(loss-wantLoss[0]) > tc.tol*math.Abs(wantLoss[0]) {
			t.Errorf("%v, %d replicas: loss %v, one machine %v", tc.dt, tc.k, loss, wantLoss[0])
		}
	}
}

func gradients(t *testing.T, learn G.Nodes) []float64 {
	t.Helper()
	var all []float64
	for _, p := range learn {
		gv, err := p.Grad()
		if err != nil {
			t.Fatal(err)
		}
		g, err := value.Float64s(gv)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, g...)
	}
	return all
}
