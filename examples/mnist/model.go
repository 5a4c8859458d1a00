package main

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/layers"
	"github.com/gofde/gofde/ops"
)

// modelConfig is everything that fixes the network's shape and its solve;
// a saved model carries it, so loading checks it against the flags.
type modelConfig struct {
	Channels int
	Alpha    float64
	T        float64
	Steps    int
	Method   string
	Groups   int
}

// net is the classifier: three convolutions down to C×7×7, an FDE block
// with the convolutional field, 2×2 max pooling with stride 1 (C×6×6: a
// stride of 2 would leave C×3×3 features, too few) and a dense layer to the
// ten logits.
type net struct {
	g         *G.ExprGraph
	batch     int
	x, target *G.Node // (batch,1,28,28) images and (batch,10) one-hot labels
	logits    *G.Node
	loss      *G.Node
	learn     G.Nodes
	block     *layers.FDEBlock
}

// buildNet builds the network for one batch size. Every call with the same
// config and seed creates the same initial parameters.
func buildNet(cfg modelConfig, dt tensor.Dtype, mode layers.Mode, batch int, seed uint64, withGrad bool) (*net, error) {
	method, err := fode.ParseMethod(cfg.Method)
	if err != nil {
		return nil, err
	}
	g := G.NewGraph()
	n := &net{g: g, batch: batch}
	n.x = G.NewTensor(g, dt, 4, G.WithShape(batch, 1, 28, 28), G.WithName("images"), G.WithValue(tensor.New(tensor.WithShape(batch, 1, 28, 28), tensor.Of(dt))))
	n.target = G.NewMatrix(g, dt, G.WithShape(batch, 10), G.WithName("onehot"), G.WithValue(tensor.New(tensor.WithShape(batch, 10), tensor.Of(dt))))
	C := cfg.Channels
	c1, err := layers.NewConv(g, dt, "conv1", 1, C, 3, 1, 1, seed+1)
	if err != nil {
		return nil, err
	}
	c2, err := layers.NewConv(g, dt, "conv2", C, C, 4, 2, 1, seed+2)
	if err != nil {
		return nil, err
	}
	c3, err := layers.NewConv(g, dt, "conv3", C, C, 4, 2, 1, seed+3)
	if err != nil {
		return nil, err
	}
	// In float32 the field computes in float32 too; the solver's history
	// sums and adjoint accumulators stay float64.
	field, err := layers.NewConvField(C, 7, 7, C, layers.ConvOptions{Groups: cfg.Groups, Float32: dt == tensor.Float32})
	if err != nil {
		return nil, err
	}
	n.block, err = layers.NewFDEBlock(g, "fde", field, layers.BlockConfig{
		Solve: fode.Options{Method: method, Alpha: cfg.Alpha, T: cfg.T, Steps: cfg.Steps},
		Mode:  mode, Seed: seed + 4, Dtype: dt,
	})
	if err != nil {
		return nil, err
	}
	dense, err := layers.NewDense(g, dt, "dense", C*6*6, 10, seed+5)
	if err != nil {
		return nil, err
	}
	h := G.Must(ops.ReLU(G.Must(c1.Fwd(n.x))))
	h = G.Must(ops.ReLU(G.Must(c2.Fwd(h))))
	h = G.Must(c3.Fwd(h))
	if h, err = n.block.Fwd(h); err != nil {
		return nil, err
	}
	if h, err = ops.MaxPool2D(G.Must(ops.ReLU(h)), 2, 1); err != nil {
		return nil, err
	}
	n.logits = G.Must(dense.Fwd(h))
	logp := G.Must(G.LogSoftMax(n.logits))
	sum := G.Must(G.Sum(G.Must(G.HadamardProd(logp, n.target))))
	var b any = float64(batch)
	if dt == tensor.Float32 {
		b = float32(batch)
	}
	n.loss = G.Must(G.Neg(G.Must(G.Div(sum, G.NewConstant(b)))))
	for _, l := range []interface{ Learnables() G.Nodes }{c1, c2, c3, n.block, dense} {
		n.learn = append(n.learn, l.Learnables()...)
	}
	if withGrad {
		if _, err := G.Grad(n.loss, n.learn...); err != nil {
			return nil, fmt.Errorf("building the gradient: %w", err)
		}
	}
	return n, nil
}

// copyParams copies parameter values from src to dst (same config and
// dtype).
func copyParams(dst, src *net) error {
	for i, p := range src.learn {
		if _, err := G.Copy(dst.learn[i].Value(), p.Value()); err != nil {
			return fmt.Errorf("copying %s: %w", p.Name(), err)
		}
	}
	return nil
}

// savedModel is the file format of -save: the config and every learnable
// tensor by name.
type savedModel struct {
	Config modelConfig
	Params []savedParam
}

type savedParam struct {
	Name  string
	Shape []int
	Data  []float64
}

// save writes the model atomically: to a temporary file in the target's
// directory, synced, then renamed over the target.
func save(path string, cfg modelConfig, n *net) error {
	m := savedModel{Config: cfg}
	for _, p := range n.learn {
		v, err := ops.Float64s(p.Value())
		if err != nil {
			return err
		}
		m.Params = append(m.Params, savedParam{Name: p.Name(), Shape: p.Shape().Clone(), Data: append([]float64(nil), v...)})
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(m); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".gofde-model-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// load reads a model saved by save, checks it against cfg and the
// network's tensors, and copies the parameters in.
func load(path string, cfg modelConfig, n *net) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m savedModel
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		return fmt.Errorf("%s: not a saved model: %w", path, err)
	}
	if m.Config != cfg {
		return fmt.Errorf("%s: saved with %+v, the flags ask for %+v", path, m.Config, cfg)
	}
	if len(m.Params) != len(n.learn) {
		return fmt.Errorf("%s: %d tensors, the model has %d", path, len(m.Params), len(n.learn))
	}
	for i, p := range n.learn {
		sp := m.Params[i]
		if sp.Name != p.Name() || !tensor.Shape(sp.Shape).Eq(p.Shape()) || len(sp.Data) != p.Shape().TotalSize() {
			return fmt.Errorf("%s: tensor %d is %s %v, the model has %s %v", path, i, sp.Name, sp.Shape, p.Name(), p.Shape())
		}
		if err := ops.SetFloat64s(p.Value(), sp.Data); err != nil {
			return fmt.Errorf("%s: tensor %d: %w", path, i, err)
		}
	}
	return nil
}
