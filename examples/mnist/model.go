package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/internal/value"
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
// stride of 2 would leave C×3×3 features, too few), dropout on those
// features while training (with -dropout) and a dense layer to the ten
// logits.
type net struct {
	g         *G.ExprGraph
	batch     int
	x, target *G.Node // (batch,1,28,28) images and (batch,10) one-hot labels
	logits    *G.Node
	loss      *G.Node
	learn     G.Nodes
	block     *layers.FDEBlock
	// mask is the inverted-dropout mask on the pooled features, redrawn
	// by drawMask before every training run; nil without dropout.
	mask    *G.Node
	dropout float64
}

// buildNet builds the network for one batch size, with dropout of the
// given rate in [0, 1) before the dense layer (0: none, as for evaluation).
// Every call with the same config and seed creates the same initial
// parameters.
func buildNet(cfg modelConfig, dt tensor.Dtype, mode layers.Mode, batch int, seed uint64, withGrad bool, dropout float64) (*net, error) {
	if !(dropout >= 0 && dropout < 1) {
		return nil, fmt.Errorf("dropout rate %v outside [0, 1)", dropout)
	}
	method, err := fode.ParseMethod(cfg.Method)
	if err != nil {
		return nil, err
	}
	g := G.NewGraph()
	n := &net{g: g, batch: batch, dropout: dropout}
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
		Grad:  mode, Seed: seed + 4, Dtype: dt,
	})
	if err != nil {
		return nil, err
	}
	dense, err := layers.NewDense(g, dt, "dense", C*6*6, 10, seed+5)
	if err != nil {
		return nil, err
	}
	h := G.Must(c1.FwdReLU(n.x))
	h = G.Must(c2.FwdReLU(h))
	h = G.Must(c3.Fwd(h))
	if h, err = n.block.Fwd(h); err != nil {
		return nil, err
	}
	if h, err = ops.MaxPool2D(G.Must(ops.ReLU(h)), 2, 1); err != nil {
		return nil, err
	}
	if dropout > 0 {
		n.mask = G.NewTensor(g, dt, 4, G.WithShape(h.Shape()...), G.WithName("dropmask"), G.WithValue(tensor.New(tensor.WithShape(h.Shape()...), tensor.Of(dt))))
		if h, err = ops.Mask(h, n.mask); err != nil {
			return nil, err
		}
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

// drawMask draws a new dropout mask from uniform (numbers in [0, 1));
// without dropout it does nothing.
func (n *net) drawMask(uniform func() float64) error {
	if n.mask == nil {
		return nil
	}
	switch m := n.mask.Value().Data().(type) {
	case []float32:
		return ops.FillDropout(m, n.dropout, uniform)
	case []float64:
		return ops.FillDropout(m, n.dropout, uniform)
	}
	return fmt.Errorf("dropout mask of dtype %v", n.mask.Dtype())
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

// savedModel is the gob payload of a -save file: the config and every
// learnable tensor by name.
type savedModel struct {
	Config modelConfig
	Params []savedParam
}

type savedParam struct {
	Name  string
	Shape []int
	Data  []float64
}

// A -save file is modelMagic, the SHA-256 of the rest of the file, and
// the gob encoding of a savedModel. Files of earlier versions (a bare gob
// stream without the magic line and checksum) are refused with a clear
// error rather than loaded unchecked.
const modelMagic = "gofde examples/mnist model v2\n"

// maxModelFile bounds the size of a file -load reads: far above the
// largest model the size flags allow (-channels at most 1024: about 300
// MiB of float64 parameters).
const maxModelFile = 1 << 30

// tempPrefix starts the names of save's temporary files (os.CreateTemp
// appends decimal digits).
const tempPrefix = ".gofde-model-"

// staleAge is how old a temporary file of save must be before a later
// save removes it as the leftover of a crash. A younger one may belong to
// a save still running in another process; a save takes well under a
// second, an hour is a wide margin.
var staleAge = time.Hour

// save writes the model atomically: to a temporary file in the target's
// directory, synced, renamed over the target, and the directory synced so
// the rename survives a crash. First it removes temporary files that
// earlier saves into that directory left behind by crashing (named
// tempPrefix followed by digits and older than staleAge).
func save(path string, cfg modelConfig, n *net) error {
	m := savedModel{Config: cfg}
	for _, p := range n.learn {
		v, err := value.Float64s(p.Value())
		if err != nil {
			return fmt.Errorf("tensor %s: %w", p.Name(), err)
		}
		m.Params = append(m.Params, savedParam{Name: p.Name(), Shape: p.Shape().Clone(), Data: append([]float64(nil), v...)})
	}
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(m); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	sum := sha256.Sum256(payload.Bytes())
	dir := filepath.Dir(path)
	removeStaleTemps(dir, time.Now().Add(-staleAge))
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	for _, b := range [][]byte{[]byte(modelMagic), sum[:], payload.Bytes()} {
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir flushes the directory entry of a rename to disk. File systems
// that cannot sync a directory (EINVAL, ENOTSUP) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing the directory: %w", err)
	}
	err = d.Sync()
	cerr := d.Close()
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("syncing the directory %s: %w", dir, err)
	}
	if cerr != nil {
		return fmt.Errorf("syncing the directory %s: %w", dir, cerr)
	}
	return nil
}

// isTempName reports whether name is that of a temporary file of save:
// tempPrefix followed by one or more decimal digits.
func isTempName(name string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// removeStaleTemps removes, from dir, the regular files named like save's
// temporary files and last modified before cutoff. It is best effort:
// files it cannot list or remove stay, and a failure here does not fail
// the save. It returns the names removed.
func removeStaleTemps(dir string, cutoff time.Time) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTempName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}

// errNotModel is wrapped by load's error for a file that is not a model
// saved by this version of the example.
var errNotModel = errors.New("not a model saved by this version of examples/mnist")

// errModelChecksum is wrapped by load's error for a file whose content
// does not match its recorded SHA-256.
var errModelChecksum = errors.New("model file checksum mismatch (the file is corrupt)")

// readModel reads and verifies a -save file: its size, magic line and
// checksum, then decodes the payload.
func readModel(path string) (*savedModel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxModelFile {
		return nil, fmt.Errorf("%s: %w: a regular file of at most %d bytes expected, found %v of %d bytes", path, errNotModel, maxModelFile, fi.Mode().Type(), fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxModelFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rest, ok := bytes.CutPrefix(b, []byte(modelMagic))
	if !ok {
		return nil, fmt.Errorf("%s: %w (no %q header: an older version's file, or not a model; train and -save again)", path, errNotModel, strings.TrimSpace(modelMagic))
	}
	if len(rest) < sha256.Size {
		return nil, fmt.Errorf("%s: %w: %d bytes after the header, too short for the checksum", path, errNotModel, len(rest))
	}
	want, payload := rest[:sha256.Size], rest[sha256.Size:]
	if got := sha256.Sum256(payload); !bytes.Equal(got[:], want) {
		return nil, fmt.Errorf("%s: %w: SHA-256 of the %d payload bytes is %x, the file records %x", path, errModelChecksum, len(payload), got, want)
	}
	var m savedModel
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w: decoding: %w", path, errNotModel, err)
	}
	return &m, nil
}

// load reads a model saved by save, verifies its checksum, checks it
// against cfg and the network's tensors, and copies the parameters in.
func load(path string, cfg modelConfig, n *net) error {
	m, err := readModel(path)
	if err != nil {
		return err
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
		if err := value.SetFloat64s(p.Value(), sp.Data); err != nil {
			return fmt.Errorf("%s: tensor %d: %w", path, i, err)
		}
	}
	return nil
}
