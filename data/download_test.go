package data

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// synthetic returns a gzipped IDX label file and its fileSpec.
func synthetic(t *testing.T, name string, raw []byte) ([]byte, fileSpec) {
	t.Helper()
	z := gz(t, raw)
	s, r := sha256.Sum256(z), sha256.Sum256(raw)
	return z, fileSpec{name: name, size: int64(len(z)), sha256: hex.EncodeToString(s[:]),
		rawSize: int64(len(raw)), rawSHA256: hex.EncodeToString(r[:])}
}

// server serves files by name; handler overrides, keyed by name, let a
// test misbehave. It counts requests.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	files map[string][]byte
}

func newServer(t *testing.T, files map[string][]byte, override func(w http.ResponseWriter, r *http.Request) bool) *server {
	s := &server{hits: map[string]int{}, files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := filepath.Base(r.URL.Path)
		s.mu.Lock()
		s.hits[name]++
		s.mu.Unlock()
		if r.Header.Get("User-Agent") != userAgent {
			http.Error(w, "bad agent", http.StatusForbidden)
			return
		}
		if override != nil && override(w, r) {
			return
		}
		b, ok := files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestDownloadSuccess(t *testing.T) {
	z, spec := synthetic(t, "t10k-labels-idx1-ubyte.gz", idxLabels(1, 2, 3, 4, 5))
	srv := newServer(t, map[string][]byte{spec.name: z}, nil)
	dir := filepath.Join(t.TempDir(), "cache", "mnist")
	var log bytes.Buffer
	var last DownloadProgress
	calls := 0
	d := &downloader{dataset: "mnist", dir: dir, mirrors: []string{srv.URL + "/mnist"}, log: &log,
		progress: func(p DownloadProgress) { last = p; calls++ }}
	if err := d.fetch(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, spec.name))
	if err != nil || !bytes.Equal(got, z) {
		t.Fatalf("file: %v", err)
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Fatalf("dir holds %v", names)
	}
	if calls == 0 || last.Done != spec.size || last.Total != spec.size || last.File != spec.name || last.URL != srv.URL+"/mnist/"+spec.name {
		t.Fatalf("progress %+v after %d calls", last, calls)
	}
	if !strings.Contains(log.String(), "SHA-256 verified") {
		t.Fatalf("log %q", log.String())
	}
}

func TestDownloadBadChecksum(t *testing.T) {
	z, spec := synthetic(t, "x.gz", idxLabels(1, 2, 3))
	bad := append([]byte(nil), z...)
	bad[len(bad)-5] ^= 1 // same size, other bytes
	srv := newServer(t, map[string][]byte{spec.name: bad}, nil)
	dir := t.TempDir()
	d := &downloader{dataset: "mnist", dir: dir, mirrors: []string{srv.URL}}
	err := d.fetch(t.Context(), spec)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "want "+spec.sha256) {
		t.Fatalf("err = %v", err)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Fatalf("dir holds %v after a failed download", names)
	}
}

// A mirror that serves the same content compressed differently passes on
// the content's SHA-256.
func TestDownloadRecompressed(t *testing.T) {
	raw := idxImages(20, 8, 8, pattern)
	_, spec := synthetic(t, "y.gz", raw)
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.NoCompression)
	zw.Name = "other"
	zw.Write(raw)
	zw.Close()
	spec.size = int64(b.Len())
	srv := newServer(t, map[string][]byte{spec.name: b.Bytes()}, nil)
	dir := t.TempDir()
	d := &downloader{dataset: "mnist", dir: dir, mirrors: []string{srv.URL}}
	if err := d.fetch(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	im, err := OpenImages(filepath.Join(dir, spec.name))
	if err != nil || im.N != 20 {
		t.Fatalf("%v", err)
	}
}

func TestDownloadTruncated(t *testing.T) {
	z, spec := synthetic(t, "t.gz", idxImages(50, 10, 10, pattern))
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter)
		msg   string
	}{
		{"connection closed early", func(w http.ResponseWriter) {
			// Announce the full length, send half, then drop the connection.
			w.Header().Set("Content-Length", strconv.Itoa(len(z)))
			w.Write(z[:len(z)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, "unexpected EOF"},
		{"short Content-Length", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", strconv.Itoa(len(z)/2))
			w.Write(z[:len(z)/2])
		}, "server announces"},
		{"no Content-Length", func(w http.ResponseWriter) {
			w.(http.Flusher).Flush() // chunked: ends cleanly, but short
			w.Write(z[:len(z)-7])
		}, "body truncated"},
		{"too long", func(w http.ResponseWriter) {
			w.(http.Flusher).Flush()
			w.Write(append(append([]byte(nil), z...), 0, 0, 0))
		}, "body too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) bool { tc.serve(w); return true })
			dir := t.TempDir()
			d := &downloader{dataset: "mnist", dir: dir, mirrors: []string{srv.URL}}
			err := d.fetch(t.Context(), spec)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.msg)
			}
			if names := listDir(t, dir); len(names) != 0 {
				t.Fatalf("dir holds %v after a failed download", names)
			}
		})
	}
}

func TestDownloadMirrorFallback(t *testing.T) {
	z, spec := synthetic(t, "f.gz", idxLabels(9, 8, 7))
	broken := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return true
	})
	good := newServer(t, map[string][]byte{spec.name: z}, nil)
	dir := t.TempDir()
	var log bytes.Buffer
	d := &downloader{dataset: "fashion", dir: dir, mirrors: []string{broken.URL, good.URL + "/"}, log: &log}
	if err := d.fetch(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if broken.hits[spec.name] != 1 || good.hits[spec.name] != 1 {
		t.Fatalf("hits: broken %v good %v", broken.hits, good.hits)
	}
	if !strings.Contains(log.String(), "503") {
		t.Fatalf("log %q does not report the first mirror's failure", log.String())
	}
	if _, err := os.Stat(filepath.Join(dir, spec.name)); err != nil {
		t.Fatal(err)
	}
}

func TestDownload404(t *testing.T) {
	_, spec := synthetic(t, "missing.gz", idxLabels(1))
	a, b := newServer(t, nil, nil), newServer(t, nil, nil)
	dir := t.TempDir()
	d := &downloader{dataset: "mnist", dir: dir, mirrors: []string{a.URL, b.URL}}
	err := d.fetch(t.Context(), spec)
	if err == nil || strings.Count(err.Error(), "404") != 2 || !strings.Contains(err.Error(), "every mirror failed") {
		t.Fatalf("err = %v", err)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Fatalf("dir holds %v", names)
	}
}

// Load with Download fetches the missing files into the cache, then
// finds them there.
func TestLoadDownload(t *testing.T) {
	// Replace the known MNIST files by synthetic ones for this test.
	saved := knownFiles["mnist"]
	t.Cleanup(func() { knownFiles["mnist"] = saved })
	lab := func(n int) []byte {
		l := make([]byte, n)
		for i := range l {
			l[i] = byte(i % 10)
		}
		return l
	}
	files := map[string][]byte{}
	var specs []fileSpec
	for _, f := range []struct {
		name string
		raw  []byte
	}{
		{trainImages + ".gz", idxImages(40, 6, 6, pattern)},
		{trainLabels + ".gz", idxLabels(lab(40)...)},
		{testImages + ".gz", idxImages(15, 6, 6, pattern)},
		{testLabels + ".gz", idxLabels(lab(15)...)},
	} {
		z, spec := synthetic(t, f.name, f.raw)
		files[f.name], specs = z, append(specs, spec)
	}
	knownFiles["mnist"] = specs

	cache := isolate(t)
	// The train labels are already in the cache; only three files are
	// fetched.
	os.MkdirAll(filepath.Join(cache, "mnist"), 0o755)
	os.WriteFile(filepath.Join(cache, "mnist", trainLabels+".gz"), files[trainLabels+".gz"], 0o644)
	srv := newServer(t, files, nil)
	bad := newServer(t, nil, nil)
	var log bytes.Buffer
	opt := LoadOptions{CacheDir: cache, Download: true, Mirrors: []string{bad.URL, srv.URL}, Progress: &log}
	ds, err := Load("mnist", opt)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Source != SourceDownload || ds.Dir != filepath.Join(cache, "mnist") || ds.Train.Len() != 40 || ds.Test.Len() != 15 {
		t.Fatalf("got %+v", ds)
	}
	if srv.hits[trainLabels+".gz"] != 0 || srv.hits[trainImages+".gz"] != 1 {
		t.Fatalf("hits %v", srv.hits)
	}
	// Now everything is cached: no more requests.
	ds, err = Load("mnist", opt)
	if err != nil || ds.Source != SourceCache || srv.hits[trainImages+".gz"] != 1 {
		t.Fatalf("second load: %v %+v %v", err, ds, srv.hits)
	}
	if names := listDir(t, filepath.Join(cache, "mnist")); len(names) != 4 {
		t.Fatalf("cache holds %v", names)
	}
}

// The real MNIST test files, served locally, pass the built-in checksums.
func TestLoadDownloadRealMNISTTestSet(t *testing.T) {
	dir := sharedMNIST(t)
	files := map[string][]byte{}
	for _, n := range []string{testImages + ".gz", testLabels + ".gz"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	srv := newServer(t, files, nil)
	cache := isolate(t)
	var calls int
	ds, err := Load("mnist", LoadOptions{CacheDir: cache, Download: true, TestOnly: true, Mirrors: []string{srv.URL},
		OnProgress: func(DownloadProgress) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Source != SourceDownload || ds.Test.Len() != 10000 || ds.Train != nil || calls == 0 {
		t.Fatalf("source %s, %d test images, %d progress calls", ds.Source, ds.Test.Len(), calls)
	}
	// Served corrupt, the file is refused and not cached.
	cache2 := t.TempDir()
	b := append([]byte(nil), files[testImages+".gz"]...)
	b[1000] ^= 0xff
	files[testImages+".gz"] = b
	_, err = Load("mnist", LoadOptions{CacheDir: cache2, Download: true, TestOnly: true, Mirrors: []string{srv.URL}})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache2, "mnist", testImages+".gz")); !os.IsNotExist(err) {
		t.Fatalf("corrupt file cached: %v", err)
	}
}
