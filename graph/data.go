package graph

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sbinet/npyio/npz"
)

// Dataset is a node-classification graph: an adjacency matrix, node
// features and one class label per node.
type Dataset struct {
	// Name is the file name without its extension.
	Name string
	// Adj is the n × n adjacency as stored (possibly directed, with
	// weights); Symmetrize and the normalisations derive the model's.
	Adj *CSR
	// Features is the n × F node-feature matrix.
	Features *CSR
	// Labels holds the class of every node, in [0, Classes).
	Labels []int
	// Classes is 1 + the largest label.
	Classes int
	// NodeIDs maps each node to its index in the file (the identity
	// unless the data set is a subgraph, see LargestComponent).
	NodeIDs []int
}

// Nodes returns the number of nodes.
func (d *Dataset) Nodes() int { return len(d.Labels) }

// LoadNPZ reads a data set in the gnn-benchmark .npz layout (Shchur et
// al.): the adjacency as CSR arrays adj_data, adj_indices, adj_indptr,
// adj_shape; the features as attr_data, attr_indices, attr_indptr,
// attr_shape (or a dense attr_matrix); and labels, one per node. Integer
// and floating-point arrays of any width are accepted. Missing keys,
// inconsistent CSR arrays and labels of the wrong length are errors.
func LoadNPZ(path string) (*Dataset, error) {
	r, err := npz.Open(path)
	if err != nil {
		return nil, fmt.Errorf("graph: opening %s: %w", path, err)
	}
	defer r.Close()
	d, err := readDataset(r)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", path, err)
	}
	d.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return d, nil
}

func readDataset(r *npz.Reader) (*Dataset, error) {
	adj, err := readCSR(r, "adj")
	if err != nil {
		return nil, err
	}
	if adj.Rows != adj.Cols {
		return nil, fmt.Errorf("adjacency of shape %d×%d is not square", adj.Rows, adj.Cols)
	}
	var attr *CSR
	if has(r, "attr_matrix") && !has(r, "attr_data") {
		attr, err = readDense(r, "attr_matrix")
	} else {
		attr, err = readCSR(r, "attr")
	}
	if err != nil {
		return nil, err
	}
	n := adj.Rows
	if attr.Rows != n {
		return nil, fmt.Errorf("features have %d rows, the adjacency %d nodes", attr.Rows, n)
	}
	labels, err := readInts(r, "labels")
	if err != nil {
		return nil, err
	}
	if len(labels) != n {
		return nil, fmt.Errorf("labels has %d entries, the graph %d nodes", len(labels), n)
	}
	classes := 0
	for i, l := range labels {
		if l < 0 {
			return nil, fmt.Errorf("label %d of node %d is negative", l, i)
		}
		classes = max(classes, l+1)
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return &Dataset{Adj: adj, Features: attr, Labels: labels, Classes: classes, NodeIDs: ids}, nil
}

func has(r *npz.Reader, key string) bool {
	return slices.Contains(r.Keys(), key) || slices.Contains(r.Keys(), key+".npy")
}

// entry returns the archive name of key (with or without ".npy").
func entry(r *npz.Reader, key string) (string, error) {
	for _, k := range r.Keys() {
		if k == key || k == key+".npy" {
			return k, nil
		}
	}
	return "", fmt.Errorf("missing array %q (the file has %s)", key, strings.Join(r.Keys(), ", "))
}

func readCSR(r *npz.Reader, prefix string) (*CSR, error) {
	shape, err := readInts(r, prefix+"_shape")
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 {
		return nil, fmt.Errorf("%s_shape has %d entries, want 2", prefix, len(shape))
	}
	ptr, err := readInts(r, prefix+"_indptr")
	if err != nil {
		return nil, err
	}
	col, err := readInts(r, prefix+"_indices")
	if err != nil {
		return nil, err
	}
	val, err := readFloats(r, prefix+"_data")
	if err != nil {
		return nil, err
	}
	if len(ptr) == 0 {
		return nil, fmt.Errorf("%s_indptr is empty", prefix)
	}
	m, err := NewCSR(shape[0], shape[1], ptr, col, val)
	if err != nil {
		return nil, fmt.Errorf("%s_*: %w", prefix, err)
	}
	return m, nil
}

func readDense(r *npz.Reader, key string) (*CSR, error) {
	name, err := entry(r, key)
	if err != nil {
		return nil, err
	}
	shape := r.Header(name).Descr.Shape
	if len(shape) != 2 {
		return nil, fmt.Errorf("%s has shape %v, want a matrix", key, shape)
	}
	v, err := readFloats(r, key)
	if err != nil {
		return nil, err
	}
	var rows, cols []int
	var vals []float64
	for i := 0; i < shape[0]; i++ {
		for j := 0; j < shape[1]; j++ {
			if x := v[i*shape[1]+j]; x != 0 {
				rows, cols, vals = append(rows, i), append(cols, j), append(vals, x)
			}
		}
	}
	return FromCOO(shape[0], shape[1], rows, cols, vals)
}

// readInts reads an integer (or boolean) array of any width as []int.
func readInts(r *npz.Reader, key string) ([]int, error) {
	name, err := entry(r, key)
	if err != nil {
		return nil, err
	}
	typ := r.Header(name).Descr.Type
	var out []int
	conv := func(n int, at func(int) int) {
		out = make([]int, n)
		for i := range out {
			out[i] = at(i)
		}
	}
	switch strings.TrimLeft(typ, "<>|=") {
	case "i1":
		var v []int8
		err = r.Read(name, &v)
		conv(len(v), func(i int) int { return int(v[i]) })
	case "u1":
		var v []uint8
		err = r.Read(name, &v)
		conv(len(v), func(i int) int { return int(v[i]) })
	case "b1":
		var v []bool
		err = r.Read(name, &v)
		conv(len(v), func(i int) int {
			if v[i] {
				return 1
			}
			return 0
		})
	case "i2":
		var v []int16
		err = r.Read(name, &v)
		conv(len(v), func(i int) int { return int(v[i]) })
	case "u2":
		var v []uint16
		err = r.Read(name, &v)
		conv(len(v), func(i int) int { return int(v[i]) })
	case "i4":
		var v []int32
		err = r.Read(name, &v)
		conv(len(v), func(i int) int { return int(v[i]) })
	case "u4":
		var v []uint32
		err = r.Read(name, &v)
		conv(len(v), func(i int) int { return int(v[i]) })
	case "i8":
		var v []int64
		err = r.Read(name, &v)
		conv(len(v), func(i int) int { return int(v[i]) })
	case "u8":
		var v []uint64
		err = r.Read(name, &v)
		conv(len(v), func(i int) int { return int(v[i]) })
	default:
		return nil, fmt.Errorf("array %q has dtype %s; want an integer type", key, typ)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", key, err)
	}
	return out, nil
}

// readFloats reads a numeric array of any width as []float64.
func readFloats(r *npz.Reader, key string) ([]float64, error) {
	name, err := entry(r, key)
	if err != nil {
		return nil, err
	}
	typ := strings.TrimLeft(r.Header(name).Descr.Type, "<>|=")
	switch typ {
	case "f8":
		var v []float64
		if err := r.Read(name, &v); err != nil {
			return nil, fmt.Errorf("reading %q: %w", key, err)
		}
		return v, nil
	case "f4":
		var v []float32
		if err := r.Read(name, &v); err != nil {
			return nil, fmt.Errorf("reading %q: %w", key, err)
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out, nil
	}
	iv, err := readInts(r, key)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(iv))
	for i, x := range iv {
		out[i] = float64(x)
	}
	return out, nil
}

// LargestComponent returns the subgraph induced by the largest connected
// component of the symmetrised adjacency (ties go to the component with
// the smallest node), with NodeIDs mapping back to the file's indices.
func (d *Dataset) LargestComponent() (*Dataset, error) {
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
	sub := func(m *CSR, cols int, mapCols bool) (*CSR, error) {
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
		return FromCOO(len(keep), cols, r, c, v)
	}
	adj, err := sub(d.Adj, len(keep), true)
	if err != nil {
		return nil, err
	}
	attr, err := sub(d.Features, d.Features.Cols, false)
	if err != nil {
		return nil, err
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
	if len(rest) < nVal+nTest {
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
func LoadSplit(path string, d *Dataset) (*Split, error) {
	r, err := npz.Open(path)
	if err != nil {
		return nil, fmt.Errorf("graph: opening split %s: %w", path, err)
	}
	defer r.Close()
	pos := make(map[int]int, d.Nodes())
	for k, id := range d.NodeIDs {
		pos[id] = k
	}
	seen := make(map[int]string)
	var parts [3][]int
	for p, key := range []string{"train_idx", "val_idx", "test_idx"} {
		ids, err := readInts(r, key)
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
