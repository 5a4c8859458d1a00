package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofde/gofde/graph"
)

// mk writes a graph with the given extra flags into the test's temporary
// directory and returns its path.
func mk(t *testing.T, name string, args ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	var errb bytes.Buffer
	if err := run(append(args, "-o", p), &errb); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errb.String())
	}
	if !strings.Contains(errb.String(), "wrote "+p) {
		t.Errorf("summary %q does not name the file", errb.String())
	}
	return p
}

// TestLoadsBack: the file is a valid data set for graph.LoadNPZ with the
// sizes asked for, no self-loops or repeated edges, and word counts that
// add up to -words per node.
func TestLoadsBack(t *testing.T) {
	const n, deg, classes, feats, words = 3000, 7, 5, 120, 12
	p := mk(t, "g.npz", "-nodes", "3000", "-degree", "7", "-classes", "5", "-features", "120", "-words", "12", "-seed", "3")
	ds, err := graph.LoadNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Nodes() != n || ds.Classes != classes || ds.Features.Cols != feats || ds.Features.Rows != n {
		t.Fatalf("%d nodes, %d classes, features %d×%d", ds.Nodes(), ds.Classes, ds.Features.Rows, ds.Features.Cols)
	}
	if ds.Adj.NNZ() != n*deg {
		t.Errorf("%d edges, want %d", ds.Adj.NNZ(), n*deg)
	}
	seen := make([]int, classes)
	for i := 0; i < n; i++ {
		seen[ds.Labels[i]]++
		if e := ds.Adj.Ptr[i+1] - ds.Adj.Ptr[i]; e != deg {
			t.Fatalf("node %d has %d edges, want %d", i, e, deg)
		}
		for k := ds.Adj.Ptr[i]; k < ds.Adj.Ptr[i+1]; k++ {
			// LoadNPZ sums repeated entries, so a value other than 1
			// is a repeated edge.
			if ds.Adj.Col[k] == i || ds.Adj.Val[k] != 1 {
				t.Fatalf("node %d: edge to %d with value %v", i, ds.Adj.Col[k], ds.Adj.Val[k])
			}
		}
		s := 0.0
		for k := ds.Features.Ptr[i]; k < ds.Features.Ptr[i+1]; k++ {
			s += ds.Features.Val[k]
		}
		if s != words {
			t.Fatalf("node %d has %v words, want %d", i, s, words)
		}
	}
	for c, k := range seen {
		if math.Abs(float64(k)-n/classes) > 5*math.Sqrt(n/classes) {
			t.Errorf("class %d has %d nodes, want about %d", c, k, n/classes)
		}
	}
}

// homophily returns the fraction of stored edges joining nodes of one
// class.
func homophily(ds *graph.Dataset) float64 {
	same := 0
	for i := 0; i < ds.Nodes(); i++ {
		for k := ds.Adj.Ptr[i]; k < ds.Adj.Ptr[i+1]; k++ {
			if ds.Labels[ds.Adj.Col[k]] == ds.Labels[i] {
				same++
			}
		}
	}
	return float64(same) / float64(ds.Adj.NNZ())
}

// TestHomophily: the edge homophily is -homophily up to sampling noise
// (20,000 edges: a standard deviation below 0.004).
func TestHomophily(t *testing.T) {
	for _, h := range []string{"0", "0.3", "0.8", "1"} {
		p := mk(t, "h.npz", "-nodes", "2000", "-degree", "10", "-classes", "4", "-homophily", h)
		ds, err := graph.LoadNPZ(p)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"0": 0, "0.3": 0.3, "0.8": 0.8, "1": 1}[h]
		if got := homophily(ds); math.Abs(got-want) > 0.02 {
			t.Errorf("-homophily %s: edge homophily %.3f", h, got)
		}
	}
}

// TestFeaturesCarryTheClass: a node's words fall into its class's topic
// at the rate signal + (1 - signal)·(topic size / features), and into
// another class's topic at the rate (1 - signal)·(topic size / features),
// so the class can be read from the words.
func TestFeaturesCarryTheClass(t *testing.T) {
	p := mk(t, "f.npz", "-nodes", "2000", "-classes", "4", "-features", "100", "-words", "20", "-signal", "0.4")
	ds, err := graph.LoadNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	var own, other, total float64
	for i := 0; i < ds.Nodes(); i++ {
		for k := ds.Features.Ptr[i]; k < ds.Features.Ptr[i+1]; k++ {
			c := ds.Features.Col[k] / 25 // topics of 100/4 words
			if c == ds.Labels[i] {
				own += ds.Features.Val[k]
			} else if c == (ds.Labels[i]+1)%4 {
				other += ds.Features.Val[k]
			}
			total += ds.Features.Val[k]
		}
	}
	if got, want := own/total, 0.4+0.6*0.25; math.Abs(got-want) > 0.02 {
		t.Errorf("own-topic rate %.3f, want %.3f", got, want)
	}
	if got, want := other/total, 0.6*0.25; math.Abs(got-want) > 0.02 {
		t.Errorf("other-topic rate %.3f, want %.3f", got, want)
	}
}

// TestDeterministic: the same flags write the same bytes; another seed
// writes another graph.
func TestDeterministic(t *testing.T) {
	args := []string{"-nodes", "500", "-degree", "4", "-classes", "3", "-features", "50"}
	a, err := os.ReadFile(mk(t, "a.npz", append(args, "-seed", "9")...))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(mk(t, "b.npz", append(args, "-seed", "9")...))
	if err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(mk(t, "c.npz", append(args, "-seed", "10")...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two runs with seed 9 wrote different files")
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 9 and 10 wrote the same file")
	}
}

// TestSmallAndDegenerate: graphs at the edges of the flag ranges load
// back; in a graph of one class every edge stays in the class whatever
// -homophily says, and a node whose class has no other node sends its
// edges to other classes.
func TestSmallAndDegenerate(t *testing.T) {
	for _, args := range [][]string{
		{"-nodes", "2", "-degree", "1", "-classes", "2"},
		{"-nodes", "5", "-degree", "4", "-classes", "1", "-homophily", "0"},
		{"-nodes", "6", "-degree", "5", "-classes", "6", "-homophily", "1", "-features", "3"},
		{"-nodes", "50", "-degree", "3", "-features", "1", "-words", "1"},
	} {
		oneClass := strings.Join(args, " ") == "-nodes 5 -degree 4 -classes 1 -homophily 0"
		ds, err := graph.LoadNPZ(mk(t, "s.npz", args...))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for i := 0; i < ds.Nodes(); i++ {
			if ds.Adj.Ptr[i+1] == ds.Adj.Ptr[i] {
				t.Errorf("%v: node %d has no edges", args, i)
			}
		}
		if oneClass && homophily(ds) != 1 {
			t.Errorf("%v: homophily %v in a graph of one class", args, homophily(ds))
		}
	}
}

func TestNPYHeader(t *testing.T) {
	for _, shape := range [][]int{{0}, {7}, {123456789}, {3, 4}} {
		h := npyHeader("<i8", shape)
		if len(h)%64 != 0 || h[len(h)-1] != '\n' || int(h[8])|int(h[9])<<8 != len(h)-10 {
			t.Errorf("shape %v: header %q", shape, h)
		}
	}
	if !strings.Contains(string(npyHeader("<f4", []int{5})), "'shape': (5,)") {
		t.Error("a one-dimensional shape needs a trailing comma")
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nodes", "10"}, "-o FILE is required"},
		{[]string{"-nodes", "1", "-o", "x"}, "-nodes 1 outside"},
		{[]string{"-nodes", "1000000000", "-o", "x"}, "-nodes 1000000000 outside"},
		{[]string{"-nodes", "10", "-degree", "10", "-o", "x"}, "-degree 10 outside"},
		{[]string{"-degree", "0", "-o", "x"}, "-degree 0 outside"},
		{[]string{"-nodes", "100000000", "-degree", "1000", "-o", "x"}, "edges, above"},
		{[]string{"-classes", "0", "-o", "x"}, "-classes 0 outside"},
		{[]string{"-nodes", "10", "-degree", "2", "-classes", "11", "-o", "x"}, "-classes 11 outside"},
		{[]string{"-features", "0", "-o", "x"}, "-features 0 outside"},
		{[]string{"-words", "2000", "-o", "x"}, "-words 2000 outside"},
		{[]string{"-homophily", "NaN", "-o", "x"}, "-homophily NaN outside"},
		{[]string{"-homophily", "1.5", "-o", "x"}, "-homophily 1.5 outside"},
		{[]string{"-signal", "-0.1", "-o", "x"}, "-signal -0.1 outside"},
		{[]string{"-o", "x", "extra"}, "unexpected arguments"},
		{[]string{"-nodes", "ten"}, "invalid value"},
	} {
		err := run(tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	// An unwritable path is an error, not a panic.
	if err := run([]string{"-nodes", "10", "-degree", "2", "-o", filepath.Join(t.TempDir(), "no", "such", "dir.npz")}, &bytes.Buffer{}); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// FuzzParse parses argument lists built from the input (split at NUL
// bytes): the parser must never panic, and a configuration it accepts
// must satisfy the bounds the generator relies on.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "-o\x00x", "-nodes\x002\x00-degree\x001\x00-o\x00x", "-homophily\x00NaN\x00-o\x00x",
		"-nodes\x00134217728\x00-degree\x001024\x00-o\x00x", "-classes\x0065537\x00-o\x00x",
		"-features\x0016777216\x00-words\x001024\x00-o\x00x", "-h", "--", "-seed\x00-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var args []string
		if in != "" {
			args = strings.Split(in, "\x00")
		}
		c, err := parse(args, &bytes.Buffer{})
		if err != nil {
			return
		}
		switch {
		case c.out == "":
			t.Fatalf("%q: accepted without -o", args)
		case c.nodes < 2 || c.nodes > maxNodes, c.degree < 1 || c.degree >= c.nodes || c.degree > maxDegree,
			uint64(c.nodes)*uint64(c.degree) > maxEdges:
			t.Fatalf("%q: accepted sizes %+v", args, c)
		case c.classes < 1 || c.classes > c.nodes || c.classes > maxClasses,
			c.features < 1 || c.features > maxFeatures, c.words < 1 || c.words > maxWords:
			t.Fatalf("%q: accepted sizes %+v", args, c)
		case !(c.homophily >= 0 && c.homophily <= 1), !(c.signal >= 0 && c.signal <= 1):
			t.Fatalf("%q: accepted probabilities %+v", args, c)
		}
	})
}
