package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// idxImages builds an IDX3 image file whose pixel j of image i is
// px(i, j).
func idxImages(n, rows, cols int, px func(i, j int) byte) []byte {
	var b bytes.Buffer
	for _, v := range []uint32{ImagesMagic, uint32(n), uint32(rows), uint32(cols)} {
		binary.Write(&b, binary.BigEndian, v)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < rows*cols; j++ {
			b.WriteByte(px(i, j))
		}
	}
	return b.Bytes()
}

func idxLabels(labels ...byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(LabelsMagic))
	binary.Write(&b, binary.BigEndian, uint32(len(labels)))
	b.Write(labels)
	return b.Bytes()
}

func gz(t testing.TB, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pattern(i, j int) byte { return byte(31*i + 7*j) }

func TestReadImagesRawAndGzip(t *testing.T) {
	raw := idxImages(3, 2, 5, pattern)
	for name, in := range map[string][]byte{"raw": raw, "gzip": gz(t, raw)} {
		t.Run(name, func(t *testing.T) {
			im, err := ReadImages(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if im.N != 3 || im.Rows != 2 || im.Cols != 5 || len(im.Pixels) != 30 || im.Dim() != 10 {
				t.Fatalf("got N=%d %dx%d len=%d", im.N, im.Rows, im.Cols, len(im.Pixels))
			}
			for i := 0; i < 3; i++ {
				img := im.Image(i)
				for j, v := range img {
					if want := float64(pattern(i, j)) / 255; v != want {
						t.Fatalf("pixel %d,%d = %v, want %v", i, j, v, want)
					}
				}
			}
		})
	}
}

func TestReadLabelsRawAndGzip(t *testing.T) {
	raw := idxLabels(0, 9, 3, 255)
	for name, in := range map[string][]byte{"raw": raw, "gzip": gz(t, raw)} {
		l, err := ReadLabels(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := []int{0, 9, 3, 255}; !equalInts(l, want) {
			t.Fatalf("%s: got %v, want %v", name, l, want)
		}
	}
}

func equalInts(a, b []int) bool {
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

func TestReadImagesErrors(t *testing.T) {
	good := idxImages(2, 4, 4, pattern)
	hdr := func(words ...uint32) []byte {
		var b bytes.Buffer
		for _, w := range words {
			binary.Write(&b, binary.BigEndian, w)
		}
		return b.Bytes()
	}
	gzGood := gz(t, good)
	corrupt := append([]byte(nil), gzGood...)
	corrupt[len(corrupt)/2] ^= 0xff
	badCRC := append([]byte(nil), gzGood...)
	badCRC[len(badCRC)-8] ^= 0x01

	for _, tc := range []struct {
		name string
		in   []byte
		want []error
		msg  string
	}{
		{"empty", nil, []error{ErrTruncated}, "expected 16 bytes, found 0"},
		{"short header", good[:7], []error{ErrTruncated}, "expected 16 bytes, found 7"},
		{"labels magic", idxLabels(1, 2), []error{ErrFormat}, "this is a label file"},
		{"bad magic", hdr(0x0d03, 1, 1, 1, 0), []error{ErrFormat}, "bad magic number 0x00000d03"},
		{"zero rows", hdr(ImagesMagic, 1, 0, 28), []error{ErrFormat}, "image size 0x28"},
		{"too large", hdr(ImagesMagic, 1<<20, 28, 28), []error{ErrTooLarge}, "1048576 images of 28x28"},
		{"too large overflow", hdr(ImagesMagic, 0xffffffff, 0xffffffff, 0xffffffff), []error{ErrTooLarge}, ""},
		{"truncated data", good[:16+20], []error{ErrTruncated}, "image data (2 images of 4x4): expected 32 bytes, found 20"},
		{"trailing", append(append([]byte(nil), good...), 0), []error{ErrTrailing}, ""},
		{"truncated gzip", gzGood[:len(gzGood)/2], []error{ErrTruncated, ErrGzip}, "compressed stream ends early"},
		{"corrupt gzip", corrupt, []error{ErrGzip}, ""},
		{"gzip crc", badCRC, []error{ErrGzip}, "checksum"},
		{"gzip header only", gzGood[:5], []error{ErrGzip}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := ReadImages(bytes.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error, got %d images", im.N)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not wrap %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "data: ") {
				t.Errorf("error %q, want it to start with \"data: \" and contain %q", err, tc.msg)
			}
		})
	}
}

func TestReadLabelsErrors(t *testing.T) {
	good := idxLabels(1, 2, 3, 4)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"short header", good[:5], ErrTruncated, "expected 8 bytes, found 5"},
		{"images magic", idxImages(1, 1, 1, pattern), ErrFormat, "this is an image file"},
		{"too large", []byte{0, 0, 8, 1, 0x10, 0, 0, 1}, ErrTooLarge, ""},
		{"truncated", good[:10], ErrTruncated, "label data (4 labels): expected 4 bytes, found 2"},
		{"trailing", append(append([]byte(nil), good...), 9), ErrTrailing, ""},
		{"truncated gzip", gz(t, good)[:12], ErrGzip, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadLabels(bytes.NewReader(tc.in))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

// A header claiming the maximum size must not make the reader allocate
// it when the data are not there.
func TestReadImagesLyingHeaderAllocatesLittle(t *testing.T) {
	var b bytes.Buffer
	for _, v := range []uint32{ImagesMagic, 1 << 18, 32, 32} { // exactly MaxIDXBytes
		binary.Write(&b, binary.BigEndian, v)
	}
	b.Write(make([]byte, 1000))
	in := b.Bytes()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadImages(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Fatalf("allocated %d bytes for a 1 KB input", got)
	}
}

func TestOpenDetectsGzipByContent(t *testing.T) {
	dir := t.TempDir()
	raw := idxImages(2, 3, 3, pattern)
	// gzip data under a plain name, raw data under a .gz name.
	p1, p2 := filepath.Join(dir, "images.idx"), filepath.Join(dir, "images.gz")
	os.WriteFile(p1, gz(t, raw), 0o644)
	os.WriteFile(p2, raw, 0o644)
	for _, p := range []string{p1, p2} {
		im, err := OpenImages(p)
		if err != nil || im.N != 2 {
			t.Fatalf("%s: %v", p, err)
		}
	}
	lp := filepath.Join(dir, "labels")
	os.WriteFile(lp, gz(t, idxLabels(5, 6)), 0o644)
	if l, err := OpenLabels(lp); err != nil || !equalInts(l, []int{5, 6}) {
		t.Fatalf("labels: %v %v", l, err)
	}
}

func TestOpenErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
	full := gz(t, idxImages(10, 28, 28, pattern))
	os.WriteFile(p, full[:len(full)-100], 0o644)
	_, err := OpenImages(p)
	if err == nil || !strings.HasPrefix(err.Error(), "data: "+p+": ") || !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v", err)
	}
	lp := filepath.Join(dir, "labels")
	os.WriteFile(lp, idxLabels(1, 2, 3)[:9], 0o644)
	_, err = OpenLabels(lp)
	if err == nil || !strings.Contains(err.Error(), "data: "+lp+": ") || !strings.Contains(err.Error(), "expected 3 bytes, found 1") {
		t.Fatalf("err = %v", err)
	}
	if _, err := OpenImages(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestMeanStdNormalize(t *testing.T) {
	im := &Images{N: 1, Rows: 2, Cols: 2, Pixels: []float64{0, 0, 1, 1}}
	m, s := im.MeanStd()
	if m != 0.5 || s != 0.5 {
		t.Fatalf("mean, std = %v, %v", m, s)
	}
	if err := im.Normalize(m, s); err != nil {
		t.Fatal(err)
	}
	m, s = im.MeanStd()
	if math.Abs(m) > 1e-15 || math.Abs(s-1) > 1e-15 {
		t.Fatalf("after Normalize: mean, std = %v, %v", m, s)
	}
	for _, bad := range [][2]float64{{0, 0}, {0, -1}, {math.NaN(), 1}, {0, math.Inf(1)}, {0, math.NaN()}} {
		if err := im.Normalize(bad[0], bad[1]); err == nil {
			t.Errorf("Normalize(%v, %v) accepted", bad[0], bad[1])
		}
	}
	if m, s := (&Images{}).MeanStd(); m != 0 || s != 0 {
		t.Fatal("empty MeanStd")
	}
}

func TestCheckLabels(t *testing.T) {
	if err := CheckLabels([]int{0, 9, 5}, 10); err != nil {
		t.Fatal(err)
	}
	err := CheckLabels([]int{0, 10}, 10)
	if !errors.Is(err, ErrLabelRange) || !strings.Contains(err.Error(), "label 10 at index 1") {
		t.Fatalf("err = %v", err)
	}
	if err := CheckLabels([]int{-1}, 10); !errors.Is(err, ErrLabelRange) {
		t.Fatalf("err = %v", err)
	}
}

func TestSubset(t *testing.T) {
	im, _ := ReadImages(bytes.NewReader(idxImages(4, 2, 2, pattern)))
	s := im.Subset(1, 3)
	if s.N != 2 || len(s.Pixels) != 8 || s.Pixels[0] != im.Pixels[4] {
		t.Fatalf("subset %+v", s)
	}
	s.Pixels[0] = -1
	if im.Pixels[4] == -1 {
		t.Fatal("Subset aliases the original")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a bad range")
		}
	}()
	im.Subset(3, 5)
}

// storedGzip gzips raw without compression, so raw's bytes appear as they
// are in the stream, and returns the stream and where raw starts in it.
func storedGzip(t *testing.T, raw []byte) ([]byte, int) {
	t.Helper()
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b.Bytes(), raw)
	if at < 0 {
		t.Fatal("stored gzip stream does not hold the raw bytes")
	}
	return b.Bytes(), at
}

// TestCorruptGzipReportedAsGzip is the regression test of corrupt gzip
// streams that decompress to wrong IDX data: the CRC at the end of the
// stream catches them, and the error must be the gzip one, not the
// "trailing data" or "bad magic number" the wrong data would suggest.
func TestCorruptGzipReportedAsGzip(t *testing.T) {
	labels := idxLabels(1, 2, 3, 4, 5, 6)
	images := idxImages(3, 4, 4, pattern)
	sl, atL := storedGzip(t, labels)
	si, atI := storedGzip(t, images)
	flip := func(b []byte, i int, x byte) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= x
		return c
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		images bool
	}{
		// Valid deflate data, wrong content: only the CRC tells.
		{"label count lowered (trailing data)", flip(sl, atL+7, 6^2), false},
		{"label magic", flip(sl, atL+3, 0x04), false},
		{"label count raised (short data)", flip(sl, atL+7, 6^9), false},
		{"image count lowered (trailing data)", flip(si, atI+7, 3^1), true},
		{"image magic", flip(si, atI+2, 0x01), true},
		{"image pixel", flip(si, atI+20, 0x10), true},
		// The trailer itself: CRC-32 and ISIZE.
		{"label CRC trailer", flip(sl, len(sl)-8, 0x01), false},
		{"label ISIZE trailer", flip(sl, len(sl)-4, 0x01), false},
		{"image CRC trailer", flip(si, len(si)-5, 0x80), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.images {
				_, err = ReadImages(bytes.NewReader(tc.in))
			} else {
				_, err = ReadLabels(bytes.NewReader(tc.in))
			}
			if !errors.Is(err, ErrGzip) || errors.Is(err, ErrTrailing) || errors.Is(err, ErrFormat) {
				t.Fatalf("error %v, want ErrGzip (and not ErrTrailing or ErrFormat)", err)
			}
			if !strings.HasPrefix(err.Error(), "data: ") || !strings.Contains(err.Error(), "checksum") {
				t.Errorf("error %q, want it to start with \"data: \" and name the checksum", err)
			}
		})
	}
	// A valid gzip stream of an IDX file with a trailing byte is still
	// ErrTrailing.
	if _, err := ReadLabels(bytes.NewReader(gz(t, append(append([]byte(nil), labels...), 7)))); !errors.Is(err, ErrTrailing) || errors.Is(err, ErrGzip) {
		t.Errorf("valid gzip with trailing data: %v, want ErrTrailing", err)
	}
}

// TestEveryByteFlipOfGzipLabels flips bits in every byte of a real
// compressed IDX file (the embedded sample's test labels) from byte 10
// on, past the fixed gzip header, which no checksum covers: each result must fail with ErrGzip or, where deflate happens to decode
// the flip to the same bytes, read the same labels. Before the fix,
// 142 of the 768 flips were reported as trailing data or a bad magic
// number.
func TestEveryByteFlipOfGzipLabels(t *testing.T) {
	b, err := os.ReadFile("sample/t10k-labels-idx1-ubyte.gz")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadLabels(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for i := 10; i < len(b); i++ {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			c := append([]byte(nil), b...)
			c[i] ^= x
			got, err := ReadLabels(bytes.NewReader(c))
			if err == nil && equalInts(got, want) {
				continue
			}
			if !errors.Is(err, ErrGzip) {
				t.Errorf("byte %d ^ %#02x: error %v, want ErrGzip", i, x, err)
			}
		}
	}
}
