package data

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSet writes a small synthetic dataset into dir: nTrain and nTest
// images of 4×4 with labels i%10, gzipped or raw.
func writeSet(t *testing.T, dir string, nTrain, nTest int, gzipped bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	labels := func(n int) []byte {
		l := make([]byte, n)
		for i := range l {
			l[i] = byte(i % 10)
		}
		return l
	}
	for _, f := range []struct {
		base string
		data []byte
	}{
		{trainImages, idxImages(nTrain, 4, 4, pattern)},
		{trainLabels, idxLabels(labels(nTrain)...)},
		{testImages, idxImages(nTest, 4, 4, pattern)},
		{testLabels, idxLabels(labels(nTest)...)},
	} {
		name, data := f.base, f.data
		if gzipped {
			name, data = name+".gz", gz(t, data)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// isolate clears $GOFDE_DATA and points the cache at an empty directory.
func isolate(t *testing.T) string {
	t.Setenv(EnvDataDir, "")
	return t.TempDir()
}

func TestLoadDir(t *testing.T) {
	isolate(t)
	for _, gzipped := range []bool{true, false} {
		dir := t.TempDir()
		writeSet(t, dir, 30, 20, gzipped)
		var log bytes.Buffer
		ds, err := Load("mnist", LoadOptions{Dir: dir, Progress: &log})
		if err != nil {
			t.Fatal(err)
		}
		if ds.Source != SourceDir || ds.Dir != dir || ds.Name != "mnist" || ds.Train.Len() != 30 || ds.Test.Len() != 20 ||
			ds.Train.Images.N != 30 || len(ds.Classes) != 10 {
			t.Fatalf("got %+v", ds)
		}
		if ds.Test.Labels[13] != 3 || ds.Test.Images.Pixels[16] != float64(pattern(1, 0))/255 {
			t.Fatal("wrong content")
		}
		if !strings.Contains(log.String(), "loaded from "+dir) {
			t.Fatalf("log %q", log.String())
		}
	}
}

func TestLoadDirNoFallback(t *testing.T) {
	// A complete set in $GOFDE_DATA must not be used when Dir is given.
	env := t.TempDir()
	writeSet(t, env, 10, 10, true)
	t.Setenv(EnvDataDir, env)
	dir := t.TempDir()
	writeSet(t, dir, 10, 10, true)
	os.Remove(filepath.Join(dir, trainLabels+".gz"))
	_, err := Load("mnist", LoadOptions{Dir: dir})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "missing "+trainLabels+"[.gz]") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v", err)
	}
	_, err = Load("mnist", LoadOptions{Dir: filepath.Join(dir, "absent")})
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	// With TestOnly the two test files suffice.
	ds, err := Load("mnist", LoadOptions{Dir: dir, TestOnly: true})
	if err != nil || ds.Train != nil || ds.Test.Len() != 10 {
		t.Fatalf("TestOnly: %v %+v", err, ds)
	}
}

func TestLoadValidation(t *testing.T) {
	isolate(t)
	write := func(dir, base string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, base), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		patch func(dir string)
		want  error
		msg   string
	}{
		{"count mismatch", func(dir string) {
			write(dir, testLabels+".gz", gz(t, idxLabels(1, 2, 3)))
		}, ErrCountMismatch, "holds 20 images but"},
		{"label range", func(dir string) {
			l := make([]byte, 20)
			l[7] = 10
			write(dir, testLabels+".gz", gz(t, idxLabels(l...)))
		}, ErrLabelRange, "label 10 at index 7"},
		{"image sizes", func(dir string) {
			write(dir, testImages+".gz", gz(t, idxImages(20, 5, 4, pattern)))
		}, ErrCountMismatch, "training images are 4x4, test images 5x4"},
		{"truncated", func(dir string) {
			b := gz(t, idxImages(20, 4, 4, pattern))
			write(dir, testImages+".gz", b[:len(b)-40])
		}, ErrTruncated, testImages + ".gz: "},
		{"corrupt", func(dir string) {
			write(dir, trainImages+".gz", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8})
		}, ErrGzip, trainImages + ".gz: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSet(t, dir, 30, 20, true)
			tc.patch(dir)
			_, err := Load("mnist", LoadOptions{Dir: dir})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "data: ") {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestLoadEnv(t *testing.T) {
	cache := isolate(t)
	root := t.TempDir()
	t.Setenv(EnvDataDir, root)
	writeSet(t, root, 10, 5, true)
	writeSet(t, filepath.Join(root, "fashion-mnist"), 12, 6, false)
	// A complete cache is not used while $GOFDE_DATA has the files.
	writeSet(t, filepath.Join(cache, "mnist"), 14, 7, true)

	ds, err := Load("mnist", LoadOptions{CacheDir: cache})
	if err != nil || ds.Source != SourceEnv || ds.Dir != root || ds.Train.Len() != 10 {
		t.Fatalf("mnist: %v %+v", err, ds)
	}
	ds, err = Load("fashion", LoadOptions{CacheDir: cache})
	if err != nil || ds.Source != SourceEnv || ds.Dir != filepath.Join(root, "fashion-mnist") || ds.Train.Len() != 12 {
		t.Fatalf("fashion: %v %+v", err, ds)
	}
	// The mnist subdirectory takes precedence over the root.
	writeSet(t, filepath.Join(root, "mnist"), 16, 8, true)
	ds, err = Load("mnist", LoadOptions{CacheDir: cache})
	if err != nil || ds.Dir != filepath.Join(root, "mnist") {
		t.Fatalf("mnist subdir: %v %+v", err, ds)
	}
	// Without the env source, the cache is used.
	ds, err = Load("mnist", LoadOptions{CacheDir: cache, Sources: []string{SourceCache}})
	if err != nil || ds.Source != SourceCache || ds.Train.Len() != 14 {
		t.Fatalf("cache: %v %+v", err, ds)
	}
}

func TestLoadNotFound(t *testing.T) {
	cache := isolate(t)
	_, err := Load("mnist", LoadOptions{CacheDir: cache})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	for _, s := range []string{"$GOFDE_DATA is not set", filepath.Join(cache, "mnist") + ": no such directory", "LoadOptions.Download"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	// Only test files in the env dir: not enough without TestOnly.
	root := t.TempDir()
	t.Setenv(EnvDataDir, root)
	writeSet(t, root, 1, 5, true)
	os.Remove(filepath.Join(root, trainImages+".gz"))
	_, err = Load("mnist", LoadOptions{CacheDir: cache})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "missing "+trainImages+"[.gz]") {
		t.Fatalf("err = %v", err)
	}
	ds, err := Load("mnist", LoadOptions{CacheDir: cache, TestOnly: true})
	if err != nil || ds.Source != SourceEnv || ds.Train != nil {
		t.Fatalf("TestOnly: %v", err)
	}
	// No sample for mnist.
	t.Setenv(EnvDataDir, "")
	_, err = Load("mnist", LoadOptions{CacheDir: cache, AllowSample: true})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "there is none for mnist") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load("cifar", LoadOptions{}); err == nil {
		t.Fatal("unknown dataset accepted")
	}
	if _, err := Load("mnist", LoadOptions{Sources: []string{"web"}}); err == nil {
		t.Fatal("unknown source accepted")
	}
}

func TestLoadSample(t *testing.T) {
	cache := isolate(t)
	var log bytes.Buffer
	// Debian's copy is left out of the lookup so the result does not
	// depend on this machine.
	ds, err := Load("fashion-mnist", LoadOptions{CacheDir: cache, AllowSample: true, Progress: &log,
		Sources: []string{SourceEnv, SourceCache, SourceSample}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Source != SourceSample || ds.Dir != "" || ds.Name != "fashion" || ds.Classes[9] != "Ankle boot" {
		t.Fatalf("got %+v", ds)
	}
	if !strings.Contains(log.String(), "embedded sample") {
		t.Fatalf("log %q", log.String())
	}
	for _, c := range []struct {
		s       *Split
		n, each int
	}{{ds.Train, 2000, 200}, {ds.Test, 500, 50}} {
		if c.s.Len() != c.n || c.s.Images.N != c.n || c.s.Images.Rows != 28 || c.s.Images.Cols != 28 {
			t.Fatalf("split of %d: %d images %dx%d", c.n, c.s.Len(), c.s.Images.Rows, c.s.Images.Cols)
		}
		per := make([]int, 10)
		for _, l := range c.s.Labels {
			per[l]++
		}
		for k, v := range per {
			if v != c.each {
				t.Fatalf("class %d: %d examples, want %d", k, v, c.each)
			}
		}
	}
	// Without AllowSample the same lookup fails; with a set in the
	// cache, the cache wins over the sample.
	if _, err := Load("fashion", LoadOptions{CacheDir: cache, Sources: []string{SourceEnv, SourceCache}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	writeSet(t, filepath.Join(cache, "fashion"), 10, 10, true)
	ds, err = Load("fashion", LoadOptions{CacheDir: cache, Sources: []string{SourceEnv, SourceCache, SourceSample}})
	if err != nil || ds.Source != SourceCache {
		t.Fatalf("%v %+v", err, ds)
	}
}

func TestSplitTest(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeSet(t, dir, 0, 50, true)
	ds, err := Load("mnist", LoadOptions{Dir: dir, TestOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := SplitTest(ds, 40)
	if err != nil {
		t.Fatal(err)
	}
	if s.Train.Len() != 40 || s.Test.Len() != 10 || s.Train.Images.N != 40 || s.Test.Images.N != 10 || ds.Test.Len() != 50 || ds.Train != nil {
		t.Fatalf("got %d/%d", s.Train.Len(), s.Test.Len())
	}
	if s.Test.Labels[0] != ds.Test.Labels[40] || s.Test.Images.Pixels[0] != ds.Test.Images.Pixels[40*16] {
		t.Fatal("test part is not the tail")
	}
	s.Train.Images.Pixels[0] = -1
	if ds.Test.Images.Pixels[0] == -1 {
		t.Fatal("SplitTest aliases its input")
	}
	for _, n := range []int{0, 50, -1} {
		if _, err := SplitTest(ds, n); err == nil {
			t.Errorf("SplitTest(ds, %d) accepted", n)
		}
	}
	if _, err := SplitTest(&Dataset{}, 1); err == nil {
		t.Error("SplitTest without a test split accepted")
	}
}

// sharedMNIST returns the project's offline MNIST directory
// (shared/data/mnist beside the repository root), or skips.
func sharedMNIST(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared", "data", "mnist"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, testImages+".gz")); err != nil {
		t.Skipf("offline MNIST not available at %s (expected ../shared/data/mnist beside the repository root): %v", dir, err)
	}
	return dir
}

func TestSharedMNISTOfflineProtocol(t *testing.T) {
	dir := sharedMNIST(t)
	isolate(t)
	ds, err := Load("mnist", LoadOptions{Dir: dir, TestOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Test.Len() != 10000 || ds.Test.Images.Rows != 28 || ds.Test.Images.Cols != 28 {
		t.Fatalf("test split: %d images %dx%d", ds.Test.Len(), ds.Test.Images.Rows, ds.Test.Images.Cols)
	}
	// The first labels of the MNIST test set are 7 2 1 0 4.
	if got := ds.Test.Labels[:5]; !equalInts(got, []int{7, 2, 1, 0, 4}) {
		t.Fatalf("first labels %v", got)
	}
	m, s := ds.Test.Images.MeanStd()
	if m < 0.13 || m > 0.135 || s < 0.30 || s > 0.32 {
		t.Fatalf("test mean/std %v %v", m, s)
	}
	sp, err := SplitTest(ds, 8000)
	if err != nil || sp.Train.Len() != 8000 || sp.Test.Len() != 2000 {
		t.Fatalf("SplitTest: %v", err)
	}
	// The training images are not there: a full load fails and says so.
	_, err = Load("mnist", LoadOptions{Dir: dir})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), trainImages) || strings.Contains(err.Error(), trainLabels) {
		t.Fatalf("err = %v", err)
	}
	// The training labels that are there parse.
	l, err := OpenLabels(filepath.Join(dir, trainLabels+".gz"))
	if err != nil || len(l) != 60000 || CheckLabels(l, 10) != nil {
		t.Fatalf("train labels: %d, %v", len(l), err)
	}
}

// The known checksums of the MNIST files at hand match the copies in
// shared/data/mnist: SHA-256 and MD5 of the .gz, size and SHA-256 of
// the content.
func TestSharedMNISTChecksums(t *testing.T) {
	dir := sharedMNIST(t)
	checked := 0
	for _, spec := range knownFiles["mnist"] {
		p := filepath.Join(dir, spec.name)
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		checkSpec(t, p, b, spec)
		checked++
	}
	if checked != 3 {
		t.Logf("checked %d files", checked)
	}
}

func checkSpec(t *testing.T, path string, b []byte, spec fileSpec) {
	t.Helper()
	sum, m := sha256.Sum256(b), md5.Sum(b)
	if int64(len(b)) != spec.size || hex.EncodeToString(sum[:]) != spec.sha256 || hex.EncodeToString(m[:]) != spec.md5 {
		t.Errorf("%s: size %d sha256 %x md5 %x; want %d %s %s", path, len(b), sum, m, spec.size, spec.sha256, spec.md5)
	}
	if err := verifyFile(path, spec, nil); err != nil {
		t.Error(err)
	}
}

func debianFashion(t testing.TB) string {
	t.Helper()
	dir := debianFashionDir(t.Context())
	if _, err := os.Stat(filepath.Join(dir, trainImages+".gz")); err != nil {
		t.Skipf("Debian's %s is not installed (apt-get install %s): %v", DebianFashionPackage, DebianFashionPackage, err)
	}
	return dir
}

func TestDebianFashion(t *testing.T) {
	dir := debianFashion(t)
	isolate(t)
	ds, err := Load("fashion", LoadOptions{Sources: []string{SourceDebian}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Source != SourceDebian || ds.Dir != dir || ds.Train.Len() != 60000 || ds.Test.Len() != 10000 {
		t.Fatalf("source %s dir %s: %d/%d", ds.Source, ds.Dir, ds.Train.Len(), ds.Test.Len())
	}
	// LoadOptions.TrainLimit and TestLimit give the first examples.
	checkDebianLimits(t, ds, LoadOptions{Sources: []string{SourceDebian}})
	for _, s := range []*Split{ds.Train, ds.Test} {
		if err := CheckLabels(s.Labels, NumClasses); err != nil {
			t.Fatal(err)
		}
		per := make([]int, 10)
		for _, l := range s.Labels {
			per[l]++
		}
		for k, v := range per {
			if v != s.Len()/10 {
				t.Fatalf("class %d: %d examples", k, v)
			}
		}
	}
	// The embedded sample is the first 200/50 images of each class.
	sample, err := Load("fashion", LoadOptions{Sources: []string{SourceSample}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ full, part *Split }{{ds.Train, sample.Train}, {ds.Test, sample.Test}} {
		seen, k := make([]int, 10), 0
		each := c.part.Len() / 10
		for i, l := range c.full.Labels {
			if seen[l] == each {
				continue
			}
			seen[l]++
			if c.part.Labels[k] != l || !equalFloats(c.part.Images.Image(k), c.full.Images.Image(i)) {
				t.Fatalf("sample image %d is not full image %d", k, i)
			}
			k++
		}
		if k != c.part.Len() {
			t.Fatalf("matched %d of %d sample images", k, c.part.Len())
		}
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Debian's files are the original release files with the gzip header
// normalised (file name dropped, mtime replaced); putting the name and
// the original mtime back reproduces the published files exactly, which
// checks the SHA-256 and MD5 values in knownFiles.
func TestDebianFashionIsOriginal(t *testing.T) {
	dir := debianFashion(t)
	mtime := map[string]uint32{ // 2017-08-31 10:50:06 / 10:50:27 UTC
		"train-images-idx3-ubyte.gz": 1504176606, "train-labels-idx1-ubyte.gz": 1504176606,
		"t10k-images-idx3-ubyte.gz": 1504176627, "t10k-labels-idx1-ubyte.gz": 1504176627,
	}
	for _, spec := range knownFiles["fashion"] {
		p := filepath.Join(dir, spec.name)
		deb, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(deb) < 10 || deb[0] != 0x1f || deb[1] != 0x8b || deb[3] != 0 {
			t.Fatalf("%s: not a gzip file with a bare header", p)
		}
		// The Debian file itself passes verification through its content.
		if err := verifyFile(p, spec, nil); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		orig := []byte{0x1f, 0x8b, 8, 8 /* FNAME */, 0, 0, 0, 0, deb[8], deb[9]}
		binary.LittleEndian.PutUint32(orig[4:], mtime[spec.name])
		orig = append(orig, strings.TrimSuffix(spec.name, ".gz")...)
		orig = append(orig, 0)
		orig = append(orig, deb[10:]...)
		tmp := filepath.Join(t.TempDir(), spec.name)
		os.WriteFile(tmp, orig, 0o644)
		checkSpec(t, tmp, orig, spec)
	}
}
