package graph

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofde/gofde/data"
	"github.com/gofde/gofde/internal/sparsetest"
)

// Regression tests of issue 15 for graph: hand-built CSR matrices and
// hostile .npz files.

// TestHandBuiltCSR: the normalisations and the fields reject hand-built
// invalid matrices.
func TestHandBuiltCSR(t *testing.T) {
	for i, a := range sparsetest.Invalid() {
		if _, err := NormalizeSym(a); err == nil {
			t.Errorf("matrix %d: NormalizeSym accepts it", i)
		}
		if _, err := NewLinearDiffusion(a, 1); err == nil {
			t.Errorf("matrix %d: NewLinearDiffusion accepts it", i)
		}
	}
}

// npyBytes builds an .npy array with a raw header dict and data.
func npyBytes(header string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func npyHeader(descr string, shape ...int) string {
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = fmt.Sprint(d)
	}
	tail := ","
	if len(shape) != 1 {
		tail = ""
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s%s), }", descr, strings.Join(s, ", "), tail)
	return h + strings.Repeat(" ", 63-len(h)%64) + "\n"
}

func le64(v ...int64) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

func lef64(v ...float64) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

// npzBytes zips the named arrays.
func npzBytes(arrays map[string][]byte, order []string) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, k := range order {
		f, _ := w.Create(k + ".npy")
		f.Write(arrays[k])
	}
	w.Close()
	return b.Bytes()
}

var tinyKeys = []string{"adj_data", "adj_indices", "adj_indptr", "adj_shape", "attr_matrix", "labels"}

// tinyArrays is a valid 3-node data set (a path 0-1-2, 2 features, 2
// classes).
func tinyArrays() map[string][]byte {
	return map[string][]byte{
		"adj_data":    npyBytes(npyHeader("<f8", 4), lef64(1, 1, 1, 1)),
		"adj_indices": npyBytes(npyHeader("<i8", 4), le64(1, 0, 2, 1)),
		"adj_indptr":  npyBytes(npyHeader("<i8", 4), le64(0, 1, 3, 4)),
		"adj_shape":   npyBytes(npyHeader("<i8", 2), le64(3, 3)),
		"attr_matrix": npyBytes(npyHeader("<f4", 3, 2), []byte{0, 0, 128, 63, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 128, 63, 0, 0, 0, 0}),
		"labels":      npyBytes(npyHeader("<i8", 3), le64(0, 1, 1)),
	}
}

func writeTemp(t testing.TB, b []byte) string {
	p := filepath.Join(t.TempDir(), "d.npz")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadNPZHostile: garbage headers panicked, a header without its
// newline panicked inside npyio, huge declared shapes allocated gigabytes,
// a label of 2^40 made RandomSplit allocate 2^40 classes, and a uint64
// label 2^63 came out negative.
func TestLoadNPZHostile(t *testing.T) {
	ok := tinyArrays()
	ds, err := LoadNPZ(writeTemp(t, npzBytes(ok, tinyKeys)))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Nodes() != 3 || ds.Classes != 2 || ds.Adj.NNZ() != 4 || ds.Features.NNZ() != 3 {
		t.Fatalf("tiny data set: %d nodes, %d classes, %d edges, %d features", ds.Nodes(), ds.Classes, ds.Adj.NNZ(), ds.Features.NNZ())
	}
	for name, c := range map[string]struct {
		key  string
		data []byte
	}{
		"garbage header":     {"labels", npyBytes("garbage!\n", le64(0, 1, 1))},
		"header no newline":  {"labels", npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), ", le64(0, 1, 1))},
		"truncated header":   {"labels", []byte("\x93NUMPY\x01\x00\xff\xff{'descr'")},
		"huge shape":         {"labels", npyBytes(npyHeader("<i8", 1<<40), le64(0, 1, 1))},
		"huge 2-d shape":     {"attr_matrix", npyBytes(npyHeader("<f8", 1<<31, 1<<31), nil)},
		"overflowing shape":  {"labels", npyBytes(npyHeader("<i8", 1<<62, 1<<62), nil)},
		"label 2^40":         {"labels", npyBytes(npyHeader("<i8", 3), le64(0, 1<<40, 1))},
		"uint64 label 2^63":  {"labels", npyBytes(npyHeader("<u8", 3), append(le64(0, 0), 0, 0, 0, 0, 0, 0, 0, 0x80))},
		"negative label":     {"labels", npyBytes(npyHeader("<i8", 3), le64(0, -1, 1))},
		"float labels":       {"labels", npyBytes(npyHeader("<f8", 3), lef64(0, 1, 1))},
		"3-d shape":          {"labels", npyBytes(npyHeader("<i8", 1, 1, 3), le64(0, 1, 1))},
		"bad dtype":          {"labels", npyBytes(npyHeader("<c16", 3), le64(0, 1, 1))},
		"huge adj_shape":     {"adj_shape", npyBytes(npyHeader("<i8", 2), le64(1<<62, 1<<62))},
		"negative adj_shape": {"adj_shape", npyBytes(npyHeader("<i8", 2), le64(-1, -1))},
		"bad magic":          {"labels", []byte("PK\x03\x04 not an array")},
	} {
		arrays := tinyArrays()
		arrays[c.key] = c.data
		if _, err := LoadNPZ(writeTemp(t, npzBytes(arrays, tinyKeys))); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "d.npz") {
			t.Errorf("%s: error %q lacks the file name", name, err)
		}
	}
	// Not a zip at all.
	if _, err := LoadNPZ(writeTemp(t, []byte("garbage"))); err == nil {
		t.Error("garbage file: no error")
	}
	// RandomSplit on a hand-made data set with a huge class count.
	ds.Classes = 1 << 40
	if _, err := ds.RandomSplit(1, 1, 0, 0); err == nil {
		t.Error("RandomSplit with 2^40 classes: no error")
	}
	ds.Classes, ds.Labels[1] = 2, 7
	if _, err := ds.RandomSplit(1, 1, 0, 0); err == nil {
		t.Error("RandomSplit with a label beyond Classes: no error")
	}
	// nVal + nTest overflowed int and passed the size check: slice bounds
	// out of range (cora -val 9223372036854775807 -test 1).
	ds.Labels[1] = 1
	for _, s := range [][2]int{{math.MaxInt, 1}, {1, math.MaxInt}, {math.MaxInt, math.MaxInt}} {
		if _, err := ds.RandomSplit(1, 1, s[0], s[1]); err == nil || !strings.Contains(err.Error(), "nodes left") {
			t.Errorf("RandomSplit(1, 1, %d, %d): error %v", s[0], s[1], err)
		}
	}
}

// FuzzLoadNPZ feeds arbitrary bytes to LoadNPZ: it must return an error or
// a consistent data set, never panic, and never allocate much more than
// the input. Run it in CI with
//
//	go test ./graph -run '^$' -fuzz FuzzLoadNPZ -fuzztime 1000x -fuzzminimizetime 100x
func FuzzLoadNPZ(f *testing.F) {
	f.Add(npzBytes(tinyArrays(), tinyKeys))
	a := tinyArrays()
	a["labels"] = npyBytes(npyHeader("|u1", 3), []byte{0, 1, 1})
	a["attr_data"] = npyBytes(npyHeader("<f8", 1), lef64(1))
	a["attr_indices"] = npyBytes(npyHeader("<i4", 1), []byte{1, 0, 0, 0})
	a["attr_indptr"] = npyBytes(npyHeader("<i8", 4), le64(0, 1, 1, 1))
	a["attr_shape"] = npyBytes(npyHeader("<i8", 2), le64(3, 2))
	f.Add(npzBytes(a, append(tinyKeys, "attr_data", "attr_indices", "attr_indptr", "attr_shape")))
	a = tinyArrays()
	a["adj_data"] = npyBytes(npyHeader(">f8", 4), []byte{63, 240, 0, 0, 0, 0, 0, 0, 63, 240, 0, 0, 0, 0, 0, 0, 63, 240, 0, 0, 0, 0, 0, 0, 63, 240, 0, 0, 0, 0, 0, 0})
	f.Add(npzBytes(a, tinyKeys))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.npz")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ds, err := LoadNPZ(p)
		if err != nil {
			return
		}
		if ds.Classes < 0 || ds.Classes > MaxClasses || ds.Adj.Validate() != nil || ds.Features.Validate() != nil {
			t.Fatalf("inconsistent data set: %d classes", ds.Classes)
		}
		if _, err := ds.RandomSplit(1, 1, 0, 0); err != nil {
			t.Fatalf("RandomSplit: %v", err)
		}
		if _, err := ds.LargestComponent(); err != nil && ds.Nodes() > 0 {
			t.Fatalf("LargestComponent: %v", err)
		}
		_ = math.MaxInt
	})
}

// splitArrays is a valid split of the tiny data set: node 0 for training,
// 1 for validation, 2 for testing.
func splitArrays() map[string][]byte {
	return map[string][]byte{
		"train_idx": npyBytes(npyHeader("<i8", 1), le64(0)),
		"val_idx":   npyBytes(npyHeader("<i8", 1), le64(1)),
		"test_idx":  npyBytes(npyHeader("<i8", 1), le64(2)),
	}
}

var splitKeys = []string{"train_idx", "val_idx", "test_idx"}

// TestLoadSplitHostile: hostile split files and datasets are errors
// that name the file, never a panic.
func TestLoadSplitHostile(t *testing.T) {
	ds, err := LoadNPZ(writeTemp(t, npzBytes(tinyArrays(), tinyKeys)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSplit(writeTemp(t, npzBytes(splitArrays(), splitKeys)), ds)
	if err != nil || len(s.Train) != 1 || s.Train[0] != 0 || len(s.Val) != 1 || s.Val[0] != 1 || len(s.Test) != 1 || s.Test[0] != 2 {
		t.Fatalf("valid split: %+v, %v", s, err)
	}
	for name, c := range map[string]struct {
		key  string
		data []byte
		want string
	}{
		"node beyond the graph": {"test_idx", npyBytes(npyHeader("<i8", 1), le64(3)), "not in the graph"},
		"negative node":         {"val_idx", npyBytes(npyHeader("<i8", 1), le64(-1)), "not in the graph"},
		"node 2^62":             {"val_idx", npyBytes(npyHeader("<i8", 1), le64(1<<62)), "not in the graph"},
		"node in two arrays":    {"val_idx", npyBytes(npyHeader("<i8", 1), le64(0)), "is in train_idx and val_idx"},
		"node twice in one":     {"test_idx", npyBytes(npyHeader("<i8", 2), le64(2, 2)), "is in test_idx and test_idx"},
		"no training nodes":     {"train_idx", npyBytes(npyHeader("<i8", 0), nil), "no training nodes"},
		"float indices":         {"train_idx", npyBytes(npyHeader("<f8", 1), lef64(0)), "d.npz"},
		"huge shape":            {"train_idx", npyBytes(npyHeader("<i8", 1<<40), le64(0)), "d.npz"},
		"garbage header":        {"train_idx", npyBytes("garbage!\n", le64(0)), "d.npz"},
	} {
		a := splitArrays()
		a[c.key] = c.data
		if _, err := LoadSplit(writeTemp(t, npzBytes(a, splitKeys)), ds); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "d.npz") {
			t.Errorf("%s: error %v, want one that names d.npz and mentions %q", name, err, c.want)
		}
	}
	if _, err := LoadSplit(writeTemp(t, npzBytes(splitArrays(), splitKeys[:2])), ds); err == nil || !strings.Contains(err.Error(), "test_idx") {
		t.Errorf("missing test_idx: error %v", err)
	}
	p := writeTemp(t, npzBytes(splitArrays(), splitKeys))
	if _, err := LoadSplit(p, nil); err == nil {
		t.Error("nil Dataset: no error")
	}
	ds.NodeIDs = ds.NodeIDs[:2]
	if _, err := LoadSplit(p, ds); err == nil || !strings.Contains(err.Error(), "node IDs") {
		t.Errorf("Dataset of 3 nodes with 2 node IDs: error %v", err)
	}
}

// FuzzLoadSplit feeds arbitrary bytes to LoadSplit, on the tiny data set
// and on its subgraph of nodes 0 and 2 (file IDs 0 and 2, indices 0 and
// 1): it must return an error or a split with training nodes whose
// indices lie in [0, d.Nodes()), none twice, each the index of the file's
// node ID (read back independently with data.NPZ) under d.NodeIDs; a
// split the subgraph accepts, the whole graph accepts with the same file
// IDs. Run it in CI with
//
//	go test ./graph -run '^$' -fuzz '^FuzzLoadSplit$' -fuzztime 6000x -fuzzminimizetime 100x
func FuzzLoadSplit(f *testing.F) {
	f.Add(npzBytes(splitArrays(), splitKeys))
	a := splitArrays()
	a["train_idx"] = npyBytes(npyHeader("<i4", 2), []byte{2, 0, 0, 0, 0, 0, 0, 0})
	a["val_idx"] = npyBytes(npyHeader("<i8", 0), nil)
	a["test_idx"] = npyBytes(npyHeader("|u1", 1), []byte{1})
	f.Add(npzBytes(a, splitKeys))
	a = splitArrays()
	a["train_idx"] = npyBytes(npyHeader(">i8", 1), []byte{0, 0, 0, 0, 0, 0, 0, 2})
	a["test_idx"] = npyBytes(npyHeader("|b1", 1), []byte{0})
	f.Add(npzBytes(a, []string{"test_idx", "train_idx", "val_idx"}))
	for _, c := range []struct {
		key  string
		data []byte
	}{
		{"train_idx", npyBytes(npyHeader("<i8", 2), le64(0, 0))},
		{"val_idx", npyBytes(npyHeader("<i8", 1), le64(0))},
		{"test_idx", npyBytes(npyHeader("<i8", 1), le64(3))},
		{"test_idx", npyBytes(npyHeader("<i8", 1), le64(-1))},
		{"train_idx", npyBytes(npyHeader("<i8", 0), nil)},
		{"train_idx", npyBytes(npyHeader("<i8", 1, 2), le64(0, 2))},
		{"train_idx", npyBytes(npyHeader("<f8", 1), lef64(0))},
		{"train_idx", npyBytes(npyHeader("<i8", 1<<40), le64(0))},
		{"val_idx", npyBytes(npyHeader("<u8", 1), le64(-1))},
	} {
		a := splitArrays()
		a[c.key] = c.data
		f.Add(npzBytes(a, splitKeys))
	}
	f.Add(npzBytes(splitArrays(), splitKeys[:2]))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	whole, err := LoadNPZ(writeTemp(f, npzBytes(tinyArrays(), tinyKeys)))
	if err != nil {
		f.Fatal(err)
	}
	sub, err := whole.Subgraph([]int{0, 2})
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "s.npz")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		var ids [][]int // the file's node IDs, once a split is accepted
		for _, d := range []*Dataset{sub, whole} {
			s, err := LoadSplit(p, d)
			if err != nil {
				if ids != nil {
					t.Fatalf("the subgraph accepts the split, the whole graph does not: %v", err)
				}
				continue
			}
			if s == nil || len(s.Train) == 0 {
				t.Fatalf("%d nodes: accepted a split without training nodes: %+v", d.Nodes(), s)
			}
			if ids == nil {
				z, err := data.OpenNPZ(p)
				if err != nil {
					t.Fatalf("LoadSplit accepted a file data.OpenNPZ refuses: %v", err)
				}
				for _, key := range splitKeys {
					v, err := z.Ints(key)
					if err != nil {
						t.Fatalf("LoadSplit accepted %s, data.NPZ.Ints refuses it: %v", key, err)
					}
					ids = append(ids, v)
				}
				z.Close()
			}
			seen := make([]bool, d.Nodes())
			for j, part := range [][]int{s.Train, s.Val, s.Test} {
				if len(part) != len(ids[j]) {
					t.Fatalf("%d nodes: %s holds %d nodes, the file %d", d.Nodes(), splitKeys[j], len(part), len(ids[j]))
				}
				for i, k := range part {
					if k < 0 || k >= d.Nodes() {
						t.Fatalf("%d nodes: %s index %d outside the graph", d.Nodes(), splitKeys[j], k)
					}
					if seen[k] {
						t.Fatalf("%d nodes: index %d twice in the split %+v", d.Nodes(), k, s)
					}
					seen[k] = true
					if d.NodeIDs[k] != ids[j][i] {
						t.Fatalf("%d nodes: %s[%d] = %d is node ID %d, the file says %d", d.Nodes(), splitKeys[j], i, k, d.NodeIDs[k], ids[j][i])
					}
				}
			}
		}
	})
}
