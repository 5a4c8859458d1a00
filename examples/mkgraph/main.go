// Command mkgraph writes a synthetic node-classification graph in the
// gnn-benchmark .npz layout that graph.LoadNPZ (and examples/cora) read:
// a stochastic block model whose nodes carry sparse bag-of-words features
// that depend on their class, so a model can learn the labels from the
// features and the edges.
//
//	go run ./examples/mkgraph -nodes 1000000 -degree 10 -classes 10 \
//	    -features 500 -homophily 0.8 -seed 1 -o /tmp/sbm1m.npz
//
// The graph has -nodes nodes with labels drawn uniformly from -classes
// classes. Every node sends -degree directed edges (no self-loops, no
// repeated targets): each goes, with probability -homophily, to a uniformly
// drawn node of the same class and otherwise to one of another class, so
// the fraction of edges that join two nodes of one class (the edge
// homophily) is about -homophily. Every node holds -words word draws from
// a vocabulary of -features words: with probability -signal a draw comes
// from its class's topic (a block of about features/classes words), and
// otherwise from the whole vocabulary; the feature matrix stores the word
// counts.
//
// The arrays are adj_indptr (int64), adj_indices (int32), adj_data
// (uint8 ones), adj_shape, attr_indptr (int64), attr_indices (int32),
// attr_data (float32 counts), attr_shape and labels (int32), stored
// uncompressed. They are streamed to the file row by row: every node's
// edges and words come from its own random stream derived from -seed, so
// a row can be generated again instead of kept, and the memory used is a
// few bytes per node (labels and the nodes sorted by class), independent
// of the number of edges. The same flags always write the same bytes.
//
// A summary (edges, feature entries, the measured edge homophily, the
// time taken) goes to stderr.
package main

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sort"
	"strings"
	"time"
)

// Bounds of the flags, checked before anything is allocated: the memory
// is about 6 bytes per node, the file about 5 bytes per edge plus 8 per
// feature entry.
const (
	maxNodes    = 1 << 27
	maxDegree   = 1024
	maxEdges    = 1 << 32 // nodes × degree
	maxClasses  = 1 << 16 // graph.MaxClasses
	maxFeatures = 1 << 24
	maxWords    = 1024
	// maxRedraws bounds the extra draws a node makes to replace
	// self-loops and repeated targets; a node that runs out (only in tiny
	// or very unbalanced graphs) keeps fewer than -degree edges.
	maxRedraws = 64
)

type config struct {
	nodes, degree, classes, features, words int
	homophily, signal                       float64
	seed                                    uint64
	out                                     string
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkgraph:", err)
		os.Exit(1)
	}
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("mkgraph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.nodes, "nodes", 10000, fmt.Sprintf("number of nodes, in [2, %d]", maxNodes))
	fs.IntVar(&c.degree, "degree", 10, fmt.Sprintf("directed edges sent by every node, in [1, min(nodes-1, %d)]", maxDegree))
	fs.IntVar(&c.classes, "classes", 10, fmt.Sprintf("number of classes, in [1, min(nodes, %d)]", maxClasses))
	fs.IntVar(&c.features, "features", 500, fmt.Sprintf("vocabulary size (feature columns), in [1, %d]", maxFeatures))
	fs.IntVar(&c.words, "words", 10, fmt.Sprintf("word draws per node, in [1, %d]", maxWords))
	fs.Float64Var(&c.homophily, "homophily", 0.8, "probability that an edge stays within its class, in [0, 1]")
	fs.Float64Var(&c.signal, "signal", 0.3, "probability that a word comes from the node's class topic, in [0, 1]")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.StringVar(&c.out, "o", "", "output .npz file (required)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	switch {
	case c.out == "":
		return c, errors.New("-o FILE is required")
	case c.nodes < 2 || c.nodes > maxNodes:
		return c, fmt.Errorf("-nodes %d outside [2, %d]", c.nodes, maxNodes)
	case c.degree < 1 || c.degree > maxDegree || c.degree >= c.nodes:
		return c, fmt.Errorf("-degree %d outside [1, %d] (and below -nodes %d)", c.degree, maxDegree, c.nodes)
	case uint64(c.nodes)*uint64(c.degree) > maxEdges:
		return c, fmt.Errorf("-nodes %d × -degree %d = %d edges, above %d", c.nodes, c.degree, uint64(c.nodes)*uint64(c.degree), uint64(maxEdges))
	case c.classes < 1 || c.classes > maxClasses || c.classes > c.nodes:
		return c, fmt.Errorf("-classes %d outside [1, %d] (and at most -nodes)", c.classes, maxClasses)
	case c.features < 1 || c.features > maxFeatures:
		return c, fmt.Errorf("-features %d outside [1, %d]", c.features, maxFeatures)
	case c.words < 1 || c.words > maxWords:
		return c, fmt.Errorf("-words %d outside [1, %d]", c.words, maxWords)
	case !(c.homophily >= 0 && c.homophily <= 1): // also NaN
		return c, fmt.Errorf("-homophily %v outside [0, 1]", c.homophily)
	case !(c.signal >= 0 && c.signal <= 1):
		return c, fmt.Errorf("-signal %v outside [0, 1]", c.signal)
	}
	return c, nil
}

func run(args []string, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := write(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %d nodes, %d directed edges (edge homophily %.3f), %d classes, %d features with %d stored counts, in %.1f s\n",
		c.out, c.nodes, st.edges, st.homophily(), c.classes, c.features, st.words, time.Since(start).Seconds())
	return nil
}

// stats describes a written graph.
type stats struct {
	edges, sameClass, words int
}

func (s stats) homophily() float64 {
	if s.edges == 0 {
		return 0
	}
	return float64(s.sameClass) / float64(s.edges)
}

// write creates c.out and streams the graph into it; a partial file is
// removed on error.
func write(c config) (st stats, err error) {
	f, err := os.Create(c.out)
	if err != nil {
		return st, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(c.out)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	if st, err = newGenerator(c).writeArrays(zw); err != nil {
		return st, fmt.Errorf("writing %s: %w", c.out, err)
	}
	if err := zw.Close(); err != nil {
		return st, fmt.Errorf("writing %s: %w", c.out, err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("writing %s: %w", c.out, err)
	}
	return st, nil
}

// generator draws the graph. Only the labels and the class-sorted node
// list are kept; a node's edges and words are drawn again, identically,
// from the node's own random streams whenever an array needs them.
type generator struct {
	c       config
	labels  []uint16 // classes ≤ 1<<16
	members []int32  // nodes sorted by class
	start   []int    // class k's nodes are members[start[k]:start[k+1]]
}

// Stream identifiers of the per-node random streams.
const (
	streamLabel = iota + 1
	streamEdges
	streamWords
)

func newGenerator(c config) *generator {
	g := &generator{c: c, labels: make([]uint16, c.nodes), members: make([]int32, c.nodes), start: make([]int, c.classes+1)}
	r := newRNG(c.seed, streamLabel, 0)
	for i := range g.labels {
		l := r.intn(c.classes)
		g.labels[i] = uint16(l)
		g.start[l+1]++
	}
	for k := 0; k < c.classes; k++ {
		g.start[k+1] += g.start[k]
	}
	next := append([]int(nil), g.start[:c.classes]...)
	for i, l := range g.labels {
		g.members[next[l]] = int32(i)
		next[l]++
	}
	return g
}

// edges returns node i's targets in increasing order, appended to buf[:0].
func (g *generator) edges(i int, buf []int32) []int32 {
	r := newRNG(g.c.seed, streamEdges, uint64(i))
	l := int(g.labels[i])
	lo, size := g.start[l], g.start[l+1]-g.start[l]
	others := g.c.nodes - size
	buf = buf[:0]
	for tries := 0; len(buf) < g.c.degree && tries < g.c.degree+maxRedraws; tries++ {
		var j int32
		if same := r.float() < g.c.homophily; (same && size > 1) || others == 0 {
			j = g.members[lo+r.intn(size)]
		} else {
			k := r.intn(others)
			if k >= lo {
				k += size
			}
			j = g.members[k]
		}
		if int(j) == i {
			continue
		}
		p := sort.Search(len(buf), func(q int) bool { return buf[q] >= j })
		if p < len(buf) && buf[p] == j {
			continue
		}
		buf = append(buf, 0)
		copy(buf[p+1:], buf[p:])
		buf[p] = j
	}
	return buf
}

// topic returns the block of words [lo, hi) of class l.
func (g *generator) topic(l int) (lo, hi int) {
	f, c := g.c.features, g.c.classes
	lo = int(uint64(l) * uint64(f) / uint64(c))
	hi = int(uint64(l+1) * uint64(f) / uint64(c))
	if hi <= lo { // fewer words than classes: topics of one word
		hi = lo + 1
	}
	return lo, hi
}

// words returns node i's distinct words in increasing order and their
// counts, appended to idx[:0] and cnt[:0].
func (g *generator) words(i int, idx []int32, cnt []float32) ([]int32, []float32) {
	r := newRNG(g.c.seed, streamWords, uint64(i))
	lo, hi := g.topic(int(g.labels[i]))
	idx, cnt = idx[:0], cnt[:0]
	for k := 0; k < g.c.words; k++ {
		var w int32
		if r.float() < g.c.signal {
			w = int32(lo + r.intn(hi-lo))
		} else {
			w = int32(r.intn(g.c.features))
		}
		p := sort.Search(len(idx), func(q int) bool { return idx[q] >= w })
		if p < len(idx) && idx[p] == w {
			cnt[p]++
			continue
		}
		idx, cnt = append(idx, 0), append(cnt, 0)
		copy(idx[p+1:], idx[p:])
		copy(cnt[p+1:], cnt[p:])
		idx[p], cnt[p] = w, 1
	}
	return idx, cnt
}

// writeArrays writes every array of the layout, streaming the rows.
func (g *generator) writeArrays(zw *zip.Writer) (stats, error) {
	var st stats
	n := g.c.nodes
	var ebuf []int32
	var wbuf []int32
	var cbuf []float32

	// adj_indptr: the first pass over the edges counts them.
	err := writeNPY(zw, "adj_indptr", "<i8", []int{n + 1}, func(w *npyWriter) {
		w.i64(0)
		for i := 0; i < n; i++ {
			ebuf = g.edges(i, ebuf)
			st.edges += len(ebuf)
			for _, j := range ebuf {
				if g.labels[j] == g.labels[i] {
					st.sameClass++
				}
			}
			w.i64(int64(st.edges))
		}
	})
	if err != nil {
		return st, err
	}
	err = writeNPY(zw, "adj_indices", "<i4", []int{st.edges}, func(w *npyWriter) {
		for i := 0; i < n; i++ {
			ebuf = g.edges(i, ebuf)
			for _, j := range ebuf {
				w.i32(j)
			}
		}
	})
	if err != nil {
		return st, err
	}
	err = writeNPY(zw, "adj_data", "|u1", []int{st.edges}, func(w *npyWriter) {
		for k := 0; k < st.edges; k++ {
			w.u8(1)
		}
	})
	if err != nil {
		return st, err
	}
	if err := writeNPY(zw, "adj_shape", "<i8", []int{2}, func(w *npyWriter) { w.i64(int64(n)); w.i64(int64(n)) }); err != nil {
		return st, err
	}
	err = writeNPY(zw, "attr_indptr", "<i8", []int{n + 1}, func(w *npyWriter) {
		w.i64(0)
		for i := 0; i < n; i++ {
			wbuf, cbuf = g.words(i, wbuf, cbuf)
			st.words += len(wbuf)
			w.i64(int64(st.words))
		}
	})
	if err != nil {
		return st, err
	}
	err = writeNPY(zw, "attr_indices", "<i4", []int{st.words}, func(w *npyWriter) {
		for i := 0; i < n; i++ {
			wbuf, cbuf = g.words(i, wbuf, cbuf)
			for _, v := range wbuf {
				w.i32(v)
			}
		}
	})
	if err != nil {
		return st, err
	}
	err = writeNPY(zw, "attr_data", "<f4", []int{st.words}, func(w *npyWriter) {
		for i := 0; i < n; i++ {
			wbuf, cbuf = g.words(i, wbuf, cbuf)
			for _, v := range cbuf {
				w.f32(v)
			}
		}
	})
	if err != nil {
		return st, err
	}
	if err := writeNPY(zw, "attr_shape", "<i8", []int{2}, func(w *npyWriter) { w.i64(int64(n)); w.i64(int64(g.c.features)) }); err != nil {
		return st, err
	}
	err = writeNPY(zw, "labels", "<i4", []int{n}, func(w *npyWriter) {
		for _, l := range g.labels {
			w.i32(int32(l))
		}
	})
	return st, err
}

// npyWriter writes little-endian items, remembering the first error and
// counting the bytes.
type npyWriter struct {
	w   io.Writer
	buf [8]byte
	n   int64
	err error
}

func (w *npyWriter) put(b []byte) {
	if w.err != nil {
		return
	}
	var m int
	m, w.err = w.w.Write(b)
	w.n += int64(m)
}

func (w *npyWriter) u8(v uint8) { w.buf[0] = v; w.put(w.buf[:1]) }
func (w *npyWriter) i32(v int32) {
	binary.LittleEndian.PutUint32(w.buf[:4], uint32(v))
	w.put(w.buf[:4])
}
func (w *npyWriter) i64(v int64) {
	binary.LittleEndian.PutUint64(w.buf[:8], uint64(v))
	w.put(w.buf[:8])
}
func (w *npyWriter) f32(v float32) {
	binary.LittleEndian.PutUint32(w.buf[:4], math.Float32bits(v))
	w.put(w.buf[:4])
}

// itemSize returns the bytes of one item of the dtype descr ("<i8", "|u1").
func itemSize(descr string) int { return int(descr[2] - '0') }

// npyHeader returns the .npy version 1.0 preamble and header of a
// C-ordered array, padded with spaces to a multiple of 64 bytes.
func npyHeader(descr string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	s := strings.Join(dims, ", ")
	if len(shape) == 1 {
		s += ","
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, s)
	pad := 64 - (10+len(dict)+1)%64
	if pad == 64 {
		pad = 0
	}
	dict += strings.Repeat(" ", pad) + "\n"
	h := append([]byte("\x93NUMPY\x01\x00"), byte(len(dict)), byte(len(dict)>>8))
	return append(h, dict...)
}

// writeNPY adds the entry name.npy, an array of the given dtype and shape
// whose items fill writes; it checks that fill wrote exactly the declared
// number of bytes.
func writeNPY(zw *zip.Writer, name, descr string, shape []int, fill func(*npyWriter)) error {
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store,
		Modified: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return err
	}
	want := int64(itemSize(descr))
	for _, d := range shape {
		want *= int64(d)
	}
	bw := bufio.NewWriterSize(fw, 1<<16)
	w := &npyWriter{w: bw}
	w.put(npyHeader(descr, shape))
	head := w.n
	fill(w)
	if w.err == nil {
		w.err = bw.Flush()
	}
	if w.err != nil {
		return fmt.Errorf("%s: %w", name, w.err)
	}
	if got := w.n - head; got != want {
		return fmt.Errorf("%s: wrote %d bytes of data, the header declares %d", name, got, want)
	}
	return nil
}

// rng is a SplitMix64 stream: fast, and cheap to derive one per node.
type rng struct{ s uint64 }

func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// newRNG returns the stream of one node (or of the labels) for a seed.
func newRNG(seed, stream, i uint64) rng {
	return rng{s: mix(mix(seed+stream*0x9e3779b97f4a7c15) + i)}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix(r.s)
}

// intn returns a number in [0, n) for n ≥ 1 (multiply-shift; the bias is
// below n/2⁶⁴).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
