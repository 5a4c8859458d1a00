package data

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// sameSplit reports how got differs from want, or "" if it does not.
func sameSplit(got, want *Split) string {
	switch {
	case got.Len() != want.Len() || got.Images.N != want.Images.N:
		return "lengths differ"
	case got.Images.Rows != want.Images.Rows || got.Images.Cols != want.Images.Cols:
		return "image sizes differ"
	case !equalInts(got.Labels, want.Labels):
		return "labels differ"
	case !equalFloats(got.Images.Pixels, want.Images.Pixels):
		return "pixels differ"
	case len(got.Images.Pixels) != got.Images.N*got.Images.Dim():
		return "wrong number of pixels"
	}
	return ""
}

// checkLimits loads with each pair of limits and compares the result
// with the full dataset's first examples.
func checkLimits(t *testing.T, full *Dataset, opt LoadOptions, limits [][2]int) {
	t.Helper()
	for _, lim := range limits {
		o := opt
		o.TrainLimit, o.TestLimit = lim[0], lim[1]
		ds, err := Load(full.Name, o)
		if err != nil {
			t.Fatalf("limits %v: %v", lim, err)
		}
		if ds.Source != full.Source || ds.Dir != full.Dir {
			t.Fatalf("limits %v: source %s %s, want %s %s", lim, ds.Source, ds.Dir, full.Source, full.Dir)
		}
		for _, c := range []struct {
			name      string
			got, full *Split
			n         int
		}{{"train", ds.Train, full.Train, lim[0]}, {"test", ds.Test, full.Test, lim[1]}} {
			if c.full == nil || (c.name == "train" && o.TestOnly) {
				if c.got != nil {
					t.Fatalf("limits %v: unexpected %s split", lim, c.name)
				}
				continue
			}
			want := c.full
			if c.n > 0 && c.n < c.full.Len() {
				want = c.full.Subset(0, c.n)
			}
			if d := sameSplit(c.got, want); d != "" {
				t.Fatalf("limits %v: %s split: %s (got %d examples, want %d)", lim, c.name, d, c.got.Len(), want.Len())
			}
		}
	}
}

func TestLoadLimitSample(t *testing.T) {
	isolate(t)
	opt := LoadOptions{Sources: []string{SourceSample}}
	full, err := Load("fashion", opt)
	if err != nil {
		t.Fatal(err)
	}
	checkLimits(t, full, opt, [][2]int{{0, 0}, {1, 1}, {7, 0}, {0, 13}, {1999, 499}, {2000, 500}, {2001, 501}, {6400, 500}, {1 << 40, 1 << 40}})
	// TestOnly loads no training split whatever TrainLimit says.
	opt.TestOnly = true
	full, err = Load("fashion", opt)
	if err != nil {
		t.Fatal(err)
	}
	checkLimits(t, full, opt, [][2]int{{5, 0}, {0, 3}, {100, 400}, {0, 500}, {0, 600}})
}

func TestLoadLimitDir(t *testing.T) {
	isolate(t)
	for _, gzipped := range []bool{true, false} {
		dir := t.TempDir()
		writeSet(t, dir, 30, 20, gzipped)
		opt := LoadOptions{Dir: dir}
		full, err := Load("mnist", opt)
		if err != nil {
			t.Fatal(err)
		}
		checkLimits(t, full, opt, [][2]int{{1, 1}, {29, 19}, {30, 20}, {31, 21}, {10, 0}, {0, 10}})
	}
}

func TestLoadLimitNegative(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeSet(t, dir, 3, 3, true)
	for _, opt := range []LoadOptions{{Dir: dir, TrainLimit: -1}, {Dir: dir, TestLimit: -1}, {Dir: dir, TestOnly: true, TestLimit: -5}} {
		if _, err := Load("mnist", opt); err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Errorf("limits %d/%d: err = %v", opt.TrainLimit, opt.TestLimit, err)
		}
	}
}

// With limits, what lies beyond them is not read, but the headers are
// still checked and what is needed must be there.
func TestLoadLimitValidation(t *testing.T) {
	isolate(t)
	write := func(dir, base string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, base), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	images20 := idxImages(20, 4, 4, pattern) // 16 + 20*16 bytes
	labels20 := make([]byte, 20)
	for i := range labels20 {
		labels20[i] = byte(i % 10)
	}
	for _, tc := range []struct {
		name  string
		patch func(dir string)
		want  error  // nil: loads with TestLimit 10
		msg   string // part of the error
	}{
		{"count mismatch beyond the limit", func(dir string) {
			write(dir, testLabels+".gz", gz(t, idxLabels(labels20[:15]...)))
		}, ErrCountMismatch, "holds 20 images but"},
		{"truncated before the limit", func(dir string) {
			write(dir, testImages, images20[:16+9*16+3])
		}, ErrTruncated, "image data (first 10 of 20 images of 4x4): expected 160 bytes, found 147"},
		{"labels truncated before the limit", func(dir string) {
			write(dir, testLabels, idxLabels(labels20...)[:8+4])
		}, ErrTruncated, "label data (first 10 of 20 labels): expected 10 bytes, found 4"},
		{"label out of range before the limit", func(dir string) {
			l := append([]byte(nil), labels20...)
			l[9] = 10
			write(dir, testLabels+".gz", gz(t, idxLabels(l...)))
		}, ErrLabelRange, "label 10 at index 9"},
		{"gzip cut before the limit", func(dir string) {
			b := gz(t, images20)
			write(dir, testImages+".gz", b[:20])
		}, ErrTruncated, testImages + ".gz: "},
		{"too large a header", func(dir string) {
			hdr := idxImages(0, 4, 4, pattern)
			hdr[4], hdr[5], hdr[6], hdr[7] = 0x10, 0, 0, 0 // 2^28 images of 4x4
			write(dir, testImages+".gz", gz(t, append(hdr, images20[16:]...)))
		}, ErrTooLarge, "268435456 images of 4x4"},
		// Beyond the limit nothing is read: these load.
		{"truncated after the limit", func(dir string) {
			write(dir, testImages, images20[:16+12*16])
		}, nil, ""},
		{"trailing bytes", func(dir string) {
			write(dir, testImages, append(append([]byte(nil), images20...), 1, 2, 3))
		}, nil, ""},
		{"bad gzip CRC", func(dir string) {
			b := gz(t, images20)
			b[len(b)-8] ^= 1
			write(dir, testImages+".gz", b)
		}, nil, ""},
		{"label out of range after the limit", func(dir string) {
			l := append([]byte(nil), labels20...)
			l[15] = 200
			write(dir, testLabels+".gz", gz(t, idxLabels(l...)))
		}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSet(t, dir, 30, 20, true)
			for _, b := range []string{testImages, testLabels} { // patches may replace either form
				os.Remove(filepath.Join(dir, b+".gz"))
			}
			write(dir, testImages+".gz", gz(t, images20))
			write(dir, testLabels+".gz", gz(t, idxLabels(labels20...)))
			tc.patch(dir)
			if _, err := os.Stat(filepath.Join(dir, testImages)); err == nil {
				os.Remove(filepath.Join(dir, testImages+".gz"))
			}
			if _, err := os.Stat(filepath.Join(dir, testLabels)); err == nil {
				os.Remove(filepath.Join(dir, testLabels+".gz"))
			}
			ds, err := Load("mnist", LoadOptions{Dir: dir, TestLimit: 10, TrainLimit: 5})
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if ds.Test.Len() != 10 || ds.Train.Len() != 5 || ds.Test.Images.Pixels[16] != float64(pattern(1, 0))/255 {
					t.Fatalf("got %d/%d examples", ds.Train.Len(), ds.Test.Len())
				}
				// The full load does see the damage.
				if _, err := Load("mnist", LoadOptions{Dir: dir}); err == nil {
					t.Fatal("full load accepted the damaged file")
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "data: ") {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestReadLimitReaders(t *testing.T) {
	raw := idxImages(5, 2, 3, pattern)
	for name, in := range map[string][]byte{"raw": raw, "gzip": gz(t, raw)} {
		full, err := ReadImages(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		for _, lim := range []int{0, 1, 4, 5, 6, 100} {
			im, declared, err := readImagesLimit(bytes.NewReader(in), lim)
			if err != nil || declared != 5 {
				t.Fatalf("%s, limit %d: declared %d, %v", name, lim, declared, err)
			}
			want := full
			if lim > 0 && lim < 5 {
				want = full.Subset(0, lim)
			}
			if im.N != want.N || im.Rows != 2 || im.Cols != 3 || !equalFloats(im.Pixels, want.Pixels) {
				t.Fatalf("%s, limit %d: got %d images", name, lim, im.N)
			}
		}
	}
	l, declared, err := readLabelsLimit(bytes.NewReader(idxLabels(4, 5, 6, 7)), 2)
	if err != nil || declared != 4 || !equalInts(l, []int{4, 5}) {
		t.Fatalf("labels: %v, %d, %v", l, declared, err)
	}
	if _, _, err := readImagesLimit(bytes.NewReader(raw), -1); err == nil {
		t.Fatal("negative image limit accepted")
	}
	if _, _, err := readLabelsLimit(bytes.NewReader(idxLabels(1)), -1); err == nil {
		t.Fatal("negative label limit accepted")
	}
}

// A header claiming the maximum size must not make a limited read
// allocate it either.
func TestReadImagesLimitLyingHeaderAllocatesLittle(t *testing.T) {
	var b bytes.Buffer
	b.Write(idxImages(0, 32, 32, pattern))
	b.Bytes()[4] = 0 // header: 2^18 images of 32x32, exactly MaxIDXBytes
	b.Bytes()[5] = 4
	b.Write(make([]byte, 1000))
	in := b.Bytes()
	for _, lim := range []int{0, 1 << 17, 1 << 30} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, _, err := readImagesLimit(bytes.NewReader(in), lim)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("limit %d: err = %v, want ErrTruncated", lim, err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
			t.Fatalf("limit %d: allocated %d bytes for a 1 KB input", lim, got)
		}
	}
}

// checkDebianLimits checks, on Debian's full Fashion-MNIST (loaded
// whole as full with opt), that limited loads give the full splits'
// first examples. TestDebianFashion calls it, to load the full set once.
func checkDebianLimits(t *testing.T, full *Dataset, opt LoadOptions) {
	t.Helper()
	limits := [][2]int{{6400, 500}}
	if !testing.Short() {
		limits = append(limits, [2]int{59999, 1})
	}
	checkLimits(t, full, opt, limits)
	// With TestOnly, TestLimit limits the test file and TrainLimit is
	// ignored.
	opt.TestOnly = true
	checkLimits(t, full, opt, [][2]int{{6400, 8500}})
}

// BenchmarkLoadLimit loads Debian's Fashion-MNIST whole and with the
// limits the image example uses (-train-limit 6400 -test-limit 500).
func BenchmarkLoadLimit(b *testing.B) {
	dir := debianFashion(b)
	for _, bc := range []struct {
		name        string
		train, test int
	}{{"all", 0, 0}, {"train6400", 6400, 0}, {"train6400_test500", 6400, 500}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				ds, err := Load("fashion", LoadOptions{Dir: dir, TrainLimit: bc.train, TestLimit: bc.test})
				if err != nil {
					b.Fatal(err)
				}
				if bc.train > 0 && ds.Train.Len() != bc.train {
					b.Fatalf("%d training examples", ds.Train.Len())
				}
			}
		})
	}
}
