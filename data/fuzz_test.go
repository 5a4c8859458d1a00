package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"math"
	"testing"
)

func FuzzReadImages(f *testing.F) {
	good := idxImages(3, 4, 2, pattern)
	f.Add(good)
	f.Add(gz(f, good))
	f.Add(good[:20])
	f.Add(gz(f, good)[:30])
	f.Add(idxImages(0, 1, 1, pattern))
	f.Add(idxImages(1, 28, 28, pattern))
	f.Add(idxLabels(1, 2, 3))
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		im, err := ReadImages(bytes.NewReader(in))
		if err != nil {
			if im != nil {
				t.Fatal("non-nil result with an error")
			}
			return
		}
		if im.N < 0 || im.Rows <= 0 || im.Cols <= 0 {
			t.Fatalf("bad dims %d %dx%d", im.N, im.Rows, im.Cols)
		}
		if len(im.Pixels) != im.N*im.Rows*im.Cols || len(im.Pixels) > MaxIDXBytes {
			t.Fatalf("%d pixels for %d images of %dx%d", len(im.Pixels), im.N, im.Rows, im.Cols)
		}
		for _, p := range im.Pixels {
			if !(p >= 0 && p <= 1) {
				t.Fatalf("pixel %v outside [0,1]", p)
			}
		}
		// Re-encoding gives back the raw IDX bytes, which must be the
		// input itself or what the gzip input decompressed to; and that
		// re-encoding parses to the same images.
		re := encodeImages(im)
		if len(in) >= 2 && in[0] == 0x1f && in[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("accepted gzip input that gzip rejects: %v", err)
			}
			dec, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(dec, re) {
				t.Fatalf("gzip input does not round-trip (%v)", err)
			}
		} else if !bytes.Equal(re, in) {
			t.Fatal("raw input does not round-trip")
		}
		im2, err := ReadImages(bytes.NewReader(re))
		if err != nil || im2.N != im.N || im2.Rows != im.Rows || im2.Cols != im.Cols {
			t.Fatalf("re-encoded images do not parse back: %v", err)
		}
		for i := range im.Pixels {
			if im.Pixels[i] != im2.Pixels[i] {
				t.Fatal("pixels differ after a round trip")
			}
		}
	})
}

func FuzzReadLabels(f *testing.F) {
	good := idxLabels(0, 1, 2, 9, 255)
	f.Add(good)
	f.Add(gz(f, good))
	f.Add(good[:9])
	f.Add(idxLabels())
	f.Add(idxImages(1, 1, 1, pattern))
	f.Add([]byte{0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := ReadLabels(bytes.NewReader(in))
		if err != nil {
			if l != nil {
				t.Fatal("non-nil result with an error")
			}
			return
		}
		if len(l) > MaxIDXBytes {
			t.Fatalf("%d labels", len(l))
		}
		raw := make([]byte, len(l))
		for i, v := range l {
			if v < 0 || v > 255 {
				t.Fatalf("label %d", v)
			}
			raw[i] = byte(v)
		}
		re := idxLabels(raw...)
		if len(in) >= 2 && in[0] != 0x1f && !bytes.Equal(re, in) {
			t.Fatal("raw input does not round-trip")
		}
		if err := CheckLabels(l, 256); err != nil {
			t.Fatal(err)
		}
	})
}

// encodeImages writes im back as raw IDX3; pixels must be multiples of
// 1/255.
func encodeImages(im *Images) []byte {
	var b bytes.Buffer
	for _, v := range []uint32{ImagesMagic, uint32(im.N), uint32(im.Rows), uint32(im.Cols)} {
		binary.Write(&b, binary.BigEndian, v)
	}
	for _, p := range im.Pixels {
		b.WriteByte(byte(math.Round(p * 255)))
	}
	return b.Bytes()
}

// FuzzReadLimit checks the limited readers against the full ones: a
// limited read of input the full reader accepts gives the full result's
// first items and the declared count; a limited read that fails means
// the full read fails too (the limited one checks a prefix of what the
// full one does); and a successful limited read never holds more than
// the limit.
func FuzzReadLimit(f *testing.F) {
	good := idxImages(3, 4, 2, pattern)
	labels := idxLabels(0, 1, 2, 9, 255)
	for _, in := range [][]byte{good, gz(f, good), good[:20], good[:16+8+3], gz(f, good)[:30],
		append(append([]byte(nil), good...), 7), labels, gz(f, labels), labels[:10],
		{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0, 0, 8, 3, 0, 0x10, 0, 0, 0, 0, 0, 32, 0, 0, 0, 32, 1, 2, 3},
		{0, 0, 8, 1, 0x10, 0, 0, 0, 1, 2, 3}} {
		for _, lim := range []uint16{0, 1, 2, 3, 4, 1000} {
			f.Add(in, lim)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, limit uint16) {
		lim := int(limit)
		full, fullErr := readImages(bytes.NewReader(in))
		im, declared, err := readImagesLimit(bytes.NewReader(in), lim)
		switch {
		case err != nil:
			if im != nil {
				t.Fatal("non-nil images with an error")
			}
			if fullErr == nil {
				t.Fatalf("limit %d fails (%v) where the full read succeeds", lim, err)
			}
		case lim > 0 && im.N > lim, len(im.Pixels) != im.N*im.Rows*im.Cols, im.N > declared:
			t.Fatalf("limit %d: %d images of %dx%d (%d pixels), %d declared", lim, im.N, im.Rows, im.Cols, len(im.Pixels), declared)
		case fullErr == nil:
			want := full
			if lim > 0 && lim < full.N {
				want = full.Subset(0, lim)
			}
			if declared != full.N || im.N != want.N || im.Rows != want.Rows || im.Cols != want.Cols || !equalFloats(im.Pixels, want.Pixels) {
				t.Fatalf("limit %d: %d of %d images, want %d of %d", lim, im.N, declared, want.N, full.N)
			}
		case lim == 0 || im.N == declared:
			t.Fatalf("limit %d read all %d images but the full read fails: %v", lim, declared, fullErr)
		}

		fullL, fullErr := readLabels(bytes.NewReader(in))
		l, declared, err := readLabelsLimit(bytes.NewReader(in), lim)
		switch {
		case err != nil:
			if l != nil {
				t.Fatal("non-nil labels with an error")
			}
			if fullErr == nil {
				t.Fatalf("limit %d fails (%v) where the full read succeeds", lim, err)
			}
		case lim > 0 && len(l) > lim, len(l) > declared:
			t.Fatalf("limit %d: %d labels, %d declared", lim, len(l), declared)
		case fullErr == nil:
			want := fullL
			if lim > 0 && lim < len(fullL) {
				want = fullL[:lim]
			}
			if declared != len(fullL) || !equalInts(l, want) {
				t.Fatalf("limit %d: %d of %d labels, want %d of %d", lim, len(l), declared, len(want), len(fullL))
			}
		case lim == 0 || len(l) == declared:
			t.Fatalf("limit %d read all %d labels but the full read fails: %v", lim, declared, fullErr)
		}
	})
}
