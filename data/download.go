package data

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// fileSpec is one of the four canonical files of a dataset, as published.
type fileSpec struct {
	name      string // file name on the mirrors, e.g. "t10k-labels-idx1-ubyte.gz"
	size      int64  // bytes of the .gz file
	sha256    string // SHA-256 of the .gz file
	md5       string // MD5 of the .gz file, as published (documentation and tests only)
	rawSize   int64  // bytes of the decompressed IDX file
	rawSHA256 string // SHA-256 of the decompressed IDX file
}

// Known files. A download is accepted when the SHA-256 of the .gz file
// matches; a mirror serving the same data recompressed is accepted when
// the SHA-256 of the decompressed content matches (see verifyFile). MD5
// is never used for acceptance.
//
// MNIST (mirrors as in torchvision's datasets/mnist.py; its MD5s):
//   - t10k-images, t10k-labels, train-labels: all of size, SHA-256 and
//     MD5, compressed and decompressed, were computed from the copies in
//     the project's shared/data/mnist; the SHA-256 values agree with
//     those published by several independent projects, the MD5s with
//     torchvision's.
//   - train-images: NOT verified locally (no copy was available offline).
//     Its size, .gz SHA-256 and raw SHA-256 are the values published by
//     several independent public projects (Guild AI's MNIST package,
//     torch.rb, Haskell and Python loaders), the MD5 is torchvision's.
//
// Fashion-MNIST (mirror and MD5s from the Zalando Research README):
// Debian's dataset-fashion-mnist ships the original .gz files with only
// the gzip header normalised by strip-nondeterminism (file name dropped,
// mtime set to the package date; the deflate data is untouched). Putting
// back the name and the original mtimes (2017-08-31 10:50:06 UTC for the
// train files, 10:50:27 UTC for the test files) reproduces the published
// files byte for byte: their sizes, the SHA-256 values below (also
// published by independent projects) and Zalando's MD5s all match.
// TestDebianFashionIsOriginal repeats that check where the package is
// installed. The raw SHA-256 values are those of the decompressed files.
var knownFiles = map[string][]fileSpec{
	"mnist": {
		{"train-images-idx3-ubyte.gz", 9912422,
			"440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
			"f68b3c2dcbeaaa9fbdd348bbdeb94873", 47040016,
			"ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
		{"train-labels-idx1-ubyte.gz", 28881,
			"3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
			"d53e105ee54ea40749a09fcbcd1e9432", 60008,
			"65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
		{"t10k-images-idx3-ubyte.gz", 1648877,
			"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
			"9fb629c4189551a2d022fa330f9573f3", 7840016,
			"0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
		{"t10k-labels-idx1-ubyte.gz", 4542,
			"f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
			"ec29112dd5afa0611ce80d1b7f02629c", 10008,
			"ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
	},
	"fashion": {
		{"train-images-idx3-ubyte.gz", 26421880,
			"3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
			"8d4fb7e6c68d591d4c3dfef9ec88bf0d", 47040016,
			"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
		{"train-labels-idx1-ubyte.gz", 29515,
			"a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
			"25c81989df183df01b3e8a0aad5dffbe", 60008,
			"bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
		{"t10k-images-idx3-ubyte.gz", 4422102,
			"346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
			"bef4ecab320f06d8554ea6380940ec79", 7840016,
			"5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
		{"t10k-labels-idx1-ubyte.gz", 5148,
			"67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
			"bb300cfdad3c16e7a12a480ee83cd310", 10008,
			"0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
	},
}

// defaultMirrors are tried in order; the file name is appended.
var defaultMirrors = map[string][]string{
	"mnist": {
		"https://ossci-datasets.s3.amazonaws.com/mnist/",
		"http://yann.lecun.com/exdb/mnist/",
	},
	"fashion": {
		"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
	},
}

// DownloadProgress describes the state of one file download; it is
// handed to LoadOptions.OnProgress as data arrives.
type DownloadProgress struct {
	Dataset string // "mnist" or "fashion"
	File    string // file name, e.g. "train-images-idx3-ubyte.gz"
	URL     string // the mirror URL being read
	Done    int64  // bytes received so far
	Total   int64  // expected bytes (the known size)
}

// userAgent is sent with every request; some mirrors refuse anonymous
// default agents.
const userAgent = "gofde-data/1 (+https://github.com/gofde/gofde)"

// downloader fetches known files into one directory.
type downloader struct {
	dataset  string
	dir      string
	mirrors  []string
	client   *http.Client
	log      io.Writer // may be nil
	progress func(DownloadProgress)
}

func (d *downloader) logf(format string, args ...any) {
	if d.log != nil {
		fmt.Fprintf(d.log, format+"\n", args...)
	}
}

// fetch downloads spec into d.dir, trying the mirrors in order. The data
// go to a temporary file in d.dir that is renamed to its final name only
// once its checksum is verified, so a partial or corrupt file never
// carries a name that the loader looks for.
func (d *downloader) fetch(ctx context.Context, spec fileSpec) error {
	if len(d.mirrors) == 0 {
		return fmt.Errorf("data: %s: no mirrors to download from", spec.name)
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	var errs []error
	for _, m := range d.mirrors {
		url := strings.TrimSuffix(m, "/") + "/" + spec.name
		d.logf("data: %s: downloading %s", d.dataset, url)
		err := d.fetchFrom(ctx, url, spec)
		if err == nil {
			return nil
		}
		d.logf("data: %s: %v", d.dataset, err)
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("data: %s %s: every mirror failed: %w", d.dataset, spec.name, errors.Join(errs...))
}

// progressWriter counts bytes for the progress callback and the log.
type progressWriter struct {
	d        *downloader
	p        DownloadProgress
	lastTick int64 // last tenth logged
}

func (w *progressWriter) Write(b []byte) (int, error) {
	w.p.Done += int64(len(b))
	if w.d.progress != nil {
		w.d.progress(w.p)
	}
	if w.p.Total > 0 {
		if tick := 10 * w.p.Done / w.p.Total; tick > w.lastTick && tick < 10 {
			w.lastTick = tick
			w.d.logf("data: %s: %s %d%% (%d of %d bytes)", w.d.dataset, w.p.File, 10*tick, w.p.Done, w.p.Total)
		}
	}
	return len(b), nil
}

func (d *downloader) fetchFrom(ctx context.Context, url string, spec fileSpec) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	req.Header.Set("User-Agent", userAgent)
	// Ask for the bytes as stored: no transparent decompression of a
	// .gz file served with Content-Encoding: gzip.
	req.Header.Set("Accept-Encoding", "identity")
	client := d.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != spec.size {
		return fmt.Errorf("%s: server announces %d bytes, want %d", url, resp.ContentLength, spec.size)
	}

	tmp, err := os.CreateTemp(d.dir, ".partial-"+spec.name+"-*")
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	pw := &progressWriter{d: d, p: DownloadProgress{Dataset: d.dataset, File: spec.name, URL: url, Total: spec.size}}
	// Read at most one byte more than expected: enough to notice an
	// oversized body without storing it.
	n, err := io.Copy(io.MultiWriter(tmp, h, pw), io.LimitReader(resp.Body, spec.size+1))
	if err != nil {
		return fmt.Errorf("%s: after %d of %d bytes: %w", url, n, spec.size, err)
	}
	if n != spec.size {
		what := "truncated"
		if n > spec.size {
			what = "too long"
		}
		return fmt.Errorf("%s: body %s: got %d bytes, want %d", url, what, n, spec.size)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := verifyFile(tmp.Name(), spec, h); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	final := filepath.Join(d.dir, spec.name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	d.logf("data: %s: %s: %d bytes, SHA-256 verified", d.dataset, final, n)
	return nil
}

// verifyFile checks the file at path against spec. sum, if not nil, is a
// SHA-256 already fed with the file's bytes. The file is accepted if its
// SHA-256 is spec.sha256, or if it is a gzip file whose decompressed
// content has spec.rawSize bytes and SHA-256 spec.rawSHA256 (the same
// data, compressed differently).
func verifyFile(path string, spec fileSpec, sum hash.Hash) error {
	if sum == nil {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		sum = sha256.New()
		_, err = io.Copy(sum, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	got := hex.EncodeToString(sum.Sum(nil))
	if got == spec.sha256 {
		return nil
	}
	raw, rawErr := rawSHA256(path, spec.rawSize)
	if rawErr == nil && raw == spec.rawSHA256 {
		return nil
	}
	return fmt.Errorf("%w: %s: SHA-256 %s, want %s", ErrChecksum, spec.name, got, spec.sha256)
}

// rawSHA256 returns the SHA-256 of the gzip file's decompressed content,
// reading at most limit+1 bytes of it (so a decompression bomb costs
// nothing). It fails if the content has other than limit bytes.
func rawSHA256(path string, limit int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(zr, limit+1))
	if err != nil {
		return "", err
	}
	if n != limit {
		return "", fmt.Errorf("decompressed size %d, want %d", n, limit)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
