package graph

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/sbinet/npyio/npz"

	"github.com/gofde/gofde/data"
	"github.com/gofde/gofde/sparse"
)

// Dataset is a node-classification graph: an adjacency matrix, node
// features and one class label per node.
type Dataset struct {
	// Name is the file name without its extension.
	Name string
	// Adj is the n × n adjacency as stored (possibly directed, with
	// weights); Symmetrize and the normalisations derive the model's.
	Adj *sparse.CSR
	// Features is the n × F node-feature matrix.
	Features *sparse.CSR
	// Labels holds the class of every node, in [0, Classes).
	Labels []int
	// Classes is 1 + the largest label.
	Classes int
	// NodeIDs maps each node to its index in the file (the identity
	// unless the data set is a subgraph, see LargestComponent).
	NodeIDs []int
}

// MaxClasses bounds the number of classes of a Dataset (the largest label
// plus one): LoadNPZ and RandomSplit refuse labels of MaxClasses or more,
// which would make the per-class tables of a split or a model huge.
const MaxClasses = 1 << 16

// Nodes returns the number of nodes.
func (d *Dataset) Nodes() int { return len(d.Labels) }

// LoadNPZ reads a data set in the gnn-benchmark .npz layout (Shchur et
// al.): the adjacency as CSR arrays adj_data, adj_indices, adj_indptr,
// adj_shape; the features as attr_data, attr_indices, attr_indptr,
// attr_shape (or a dense attr_matrix); and labels, one per node. Integer
// and floating-point arrays of any width are accepted. Missing keys,
// inconsistent CSR arrays and labels of the wrong length are errors.
//
// The file is not trusted: every array's declared shape is checked against
// the length of its archive entry before memory is allocated, the data is
// read through bounded buffers, unsigned values beyond the int range and
// labels of MaxClasses or more are errors, and no input makes it panic.
func LoadNPZ(path string) (*Dataset, error) {
	z, err := openNPZ(path)
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	defer z.Close()
	d, err := readDataset(z)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", path, err)
	}
	d.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return d, nil
}

// openNPZ opens the .npz file at path, with errors that name it.
func openNPZ(path string) (*data.NPZ, error) {
	z, err := data.OpenNPZ(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("opening %s: %w", path, pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return z, nil
}

func readDataset(z *data.NPZ) (*Dataset, error) {
	adj, err := readCSR(z, "adj")
	if err != nil {
		return nil, err
	}
	if adj.Rows != adj.Cols {
		return nil, fmt.Errorf("adjacency of shape %d×%d is not square", adj.Rows, adj.Cols)
	}
	var attr *sparse.CSR
	if z.Has("attr_matrix") && !z.Has("attr_data") {
		attr, err = readDense(z, "attr_matrix")
	} else {
		attr, err = readCSR(z, "attr")
	}
	if err != nil {
		return nil, err
	}
	n := adj.Rows
	if attr.Rows != n {
		return nil, fmt.Errorf("features have %d rows, the adjacency %d nodes", attr.Rows, n)
	}
	labels, err := z.Ints("labels")
	if err != nil {
		return nil, err
	}
	if len(labels) != n {
		return nil, fmt.Errorf("labels has %d entries, the graph %d nodes", len(labels), n)
	}
	classes := 0
	for i, l := range labels {
		if l < 0 || l >= MaxClasses {
			return nil, fmt.Errorf("label %d of node %d outside [0, %d) (MaxClasses)", l, i, MaxClasses)
		}
		classes = max(classes, l+1)
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return &Dataset{Adj: adj, Features: attr, Labels: labels, Classes: classes, NodeIDs: ids}, nil
}

func readCSR(z *data.NPZ, prefix string) (*sparse.CSR, error) {
	shape, err := z.Ints(prefix + "_shape")
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 {
		return nil, fmt.Errorf("%s_shape has %d entries, want 2", prefix, len(shape))
	}
	ptr, err := z.Ints(prefix + "_indptr")
	if err != nil {
		return nil, err
	}
	col, err := z.Ints(prefix + "_indices")
	if err != nil {
		return nil, err
	}
	val, err := z.Floats(prefix + "_data")
	if err != nil {
		return nil, err
	}
	if len(ptr) == 0 {
		return nil, fmt.Errorf("%s_indptr is empty", prefix)
	}
	m, err := sparse.NewCSR(shape[0], shape[1], ptr, col, val)
	if err != nil {
		return nil, fmt.Errorf("%s_*: %w", prefix, err)
	}
	return m, nil
}

// readDense reads a dense feature matrix and keeps its non-zeros.
func readDense(z *data.NPZ, key string) (*sparse.CSR, error) {
	v, rows, cols, err := z.Matrix(key)
	if err != nil {
		return nil, err
	}
	var ri, ci []int
	var vals []float64
	for i := range rows {
		for j := range cols {
			if x := v[i*cols+j]; x != 0 {
				ri, ci, vals = append(ri, i), append(ci, j), append(vals, x)
			}
		}
	}
	return sparse.FromCOO(rows, cols, ri, ci, vals)
}

// check reports whether d's parts are consistent: valid matrices (see
// sparse.CSR.Validate), a square adjacency with one row per label,
// features with one row per node and one NodeID per node.
func (d *Dataset) check() error {
	if d == nil {
		return errors.New("graph: nil Dataset")
	}
	if err := d.Adj.Validate(); err != nil {
		return fmt.Errorf("graph: Dataset adjacency: %w", err)
	}
	if err := d.Features.Validate(); err != nil {
		return fmt.Errorf("graph: Dataset features: %w", err)
	}
	n := len(d.Labels)
	if d.Adj.Rows != n || d.Adj.Cols != n || d.Features.Rows != n || len(d.NodeIDs) != n {
		return fmt.Errorf("graph: Dataset of %d labels has a %d×%d adjacency, %d feature rows and %d node IDs", n, d.Adj.Rows, d.Adj.Cols, d.Features.Rows, len(d.NodeIDs))
	}
	return nil
}

// LargestComponent returns the subgraph induced by the largest connected
// component of the symmetrised adjacency (ties go to the component with
// the smallest node), with NodeIDs mapping back to the file's indices.
// A connected data set is returned as it is, without a copy.
func (d *Dataset) LargestComponent() (*Dataset, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	sym, err := Symmetrize(d.Adj)
	if err != nil {
		return nil, err
	}
	n := d.Nodes()
	comp := make([]int, n)
	for i := range comp {
		comp[i] = -1
	}
	best, bestSize, nc := -1, 0, 0
	var stack []int
	for s := 0; s < n; s++ {
		if comp[s] >= 0 {
			continue
		}
		size := 0
		comp[s] = nc
		stack = append(stack[:0], s)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			for k := sym.Ptr[i]; k < sym.Ptr[i+1]; k++ {
				if j := sym.Col[k]; comp[j] < 0 {
					comp[j] = nc
					stack = append(stack, j)
				}
			}
		}
		if size > bestSize {
			best, bestSize = nc, size
		}
		nc++
	}
	if bestSize == n { // connected: the data set is its own largest component
		return d, nil
	}
	keep := make([]int, 0, bestSize)
	for i, c := range comp {
		if c == best {
			keep = append(keep, i)
		}
	}
	return d.Subgraph(keep)
}

// Subgraph returns the data set induced by the nodes keep (indices into
// d, increasing, without repeats).
func (d *Dataset) Subgraph(keep []int) (*Dataset, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	n := d.Nodes()
	newID := make([]int, n)
	for i := range newID {
		newID[i] = -1
	}
	for k, i := range keep {
		if i < 0 || i >= n || (k > 0 && i <= keep[k-1]) {
			return nil, fmt.Errorf("graph: Subgraph: node list must increase within [0, %d)", n)
		}
		newID[i] = k
	}
	sub := func(m *sparse.CSR, cols int, mapCols bool) (*sparse.CSR, error) {
		var r, c []int
		var v []float64
		for k, i := range keep {
			for e := m.Ptr[i]; e < m.Ptr[i+1]; e++ {
				j := m.Col[e]
				if mapCols {
					if j = newID[j]; j < 0 {
						continue
					}
				}
				r, c, v = append(r, k), append(c, j), append(v, m.Val[e])
			}
		}
		return sparse.FromCOO(len(keep), cols, r, c, v)
	}
	adj, err := sub(d.Adj, len(keep), true)
	if err != nil {
		return nil, fmt.Errorf("graph: Subgraph adjacency: %w", err)
	}
	attr, err := sub(d.Features, d.Features.Cols, false)
	if err != nil {
		return nil, fmt.Errorf("graph: Subgraph features: %w", err)
	}
	out := &Dataset{Name: d.Name, Adj: adj, Features: attr, Classes: d.Classes, Labels: make([]int, len(keep)), NodeIDs: make([]int, len(keep))}
	for k, i := range keep {
		out.Labels[k], out.NodeIDs[k] = d.Labels[i], d.NodeIDs[i]
	}
	return out, nil
}

// Split holds node indices (into a Dataset) for training, validation and
// testing.
type Split struct {
	Train, Val, Test []int
}

// RandomSplit draws perClass training nodes of every class, then nVal
// validation and nTest test nodes from the remaining nodes, uniformly at
// random with the given seed (GRAND's protocol uses 20, 500 and 1000 on
// the largest connected component). A class with fewer than perClass
// nodes contributes all of them; too few nodes for the validation and
// test sets is an error.
func (d *Dataset) RandomSplit(seed uint64, perClass, nVal, nTest int) (*Split, error) {
	if perClass < 1 || nVal < 0 || nTest < 0 {
		return nil, fmt.Errorf("graph: RandomSplit(%d, %d, %d): sizes must be positive", perClass, nVal, nTest)
	}
	if d == nil {
		return nil, errors.New("graph: RandomSplit of a nil Dataset")
	}
	if d.Classes < 0 || d.Classes > MaxClasses {
		return nil, fmt.Errorf("graph: RandomSplit: %d classes outside [0, %d] (MaxClasses)", d.Classes, MaxClasses)
	}
	for i, l := range d.Labels {
		if l < 0 || l >= d.Classes {
			return nil, fmt.Errorf("graph: RandomSplit: label %d of node %d outside [0, %d)", l, i, d.Classes)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x73706c6974))
	perm := rng.Perm(d.Nodes())
	taken := make([]int, d.Classes)
	s := &Split{}
	var rest []int
	for _, i := range perm {
		if c := d.Labels[i]; taken[c] < perClass {
			taken[c]++
			s.Train = append(s.Train, i)
			continue
		}
		rest = append(rest, i)
	}
	if nVal > len(rest) || nTest > len(rest)-nVal { // nVal+nTest may overflow
		return nil, fmt.Errorf("graph: RandomSplit: %d nodes left after training, want %d validation + %d test", len(rest), nVal, nTest)
	}
	s.Val = append([]int(nil), rest[:nVal]...)
	s.Test = append([]int(nil), rest[nVal:nVal+nTest]...)
	return s, nil
}

// LoadSplit reads a fixed split from an .npz file with the integer
// arrays train_idx, val_idx and test_idx, holding node indices of the
// data file. They are mapped through d.NodeIDs, so a split written for
// the whole graph works on a subgraph as long as its nodes are in it.
//
// The file is read as LoadNPZ reads one (see there). A node that is not
// in d, a node in two places (two arrays, or twice in one) and an empty
// train_idx are errors; so the indices of the Split returned lie in
// [0, d.Nodes()), and no index appears twice.
func LoadSplit(path string, d *Dataset) (*Split, error) {
	if d == nil {
		return nil, errors.New("graph: LoadSplit into a nil Dataset")
	}
	if len(d.NodeIDs) != d.Nodes() {
		return nil, fmt.Errorf("graph: LoadSplit: Dataset of %d nodes has %d node IDs", d.Nodes(), len(d.NodeIDs))
	}
	z, err := openNPZ(path)
	if err != nil {
		return nil, fmt.Errorf("graph: split: %w", err)
	}
	defer z.Close()
	pos := make(map[int]int, d.Nodes())
	for k, id := range d.NodeIDs {
		pos[id] = k
	}
	seen := make(map[int]string)
	var parts [3][]int
	for p, key := range []string{"train_idx", "val_idx", "test_idx"} {
		ids, err := z.Ints(key)
		if err != nil {
			return nil, fmt.Errorf("graph: split %s: %w", path, err)
		}
		for _, id := range ids {
			k, ok := pos[id]
			if !ok {
				return nil, fmt.Errorf("graph: split %s: %s holds node %d, which is not in the graph", path, key, id)
			}
			if prev, dup := seen[k]; dup {
				return nil, fmt.Errorf("graph: split %s: node %d is in %s and %s", path, id, prev, key)
			}
			seen[k] = key
			parts[p] = append(parts[p], k)
		}
	}
	if len(parts[0]) == 0 {
		return nil, errors.New("graph: split " + path + ": no training nodes")
	}
	return &Split{Train: parts[0], Val: parts[1], Test: parts[2]}, nil
}

// WriteSplit writes s as an .npz file that LoadSplit reads, with node
// indices mapped to the data file's through d.NodeIDs.
func WriteSplit(path string, d *Dataset, s *Split) error {
	conv := func(idx []int) []int64 {
		out := make([]int64, len(idx))
		for i, k := range idx {
			out[i] = int64(d.NodeIDs[k])
		}
		return out
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("graph: %w", err)
	}
	w := npz.NewWriter(f)
	for _, kv := range []struct {
		k string
		v []int
	}{{"train_idx", s.Train}, {"val_idx", s.Val}, {"test_idx", s.Test}} {
		if err := w.Write(kv.k+".npy", conv(kv.v)); err != nil {
			f.Close()
			return fmt.Errorf("graph: writing split %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		f.Close()
		return fmt.Errorf("graph: writing split %s: %w", path, err)
	}
	return f.Close()
}
