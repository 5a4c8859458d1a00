package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// npyFile is an .npy file: preamble, header padded to 64 bytes, data.
func npyFile(descr string, fortran bool, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tail := ""
	if len(shape) == 1 {
		tail = ","
	}
	f := "False"
	if fortran {
		f = "True"
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': (%s%s), }", descr, f, strings.Join(dims, ", "), tail)
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	b.Write(data)
	return b.Bytes()
}

func bin(order binary.ByteOrder, v any) []byte {
	var b bytes.Buffer
	binary.Write(&b, order, v)
	return b.Bytes()
}

func zipArrays(t testing.TB, arrays [][2]any) *NPZ {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, a := range arrays {
		f, err := w.Create(a[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		f.Write(a[1].([]byte))
	}
	w.Close()
	z, err := NewNPZ(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestNPZ reads every supported dtype and byte order, a Fortran-ordered
// matrix, keys with and without ".npy", and reports missing keys and
// float arrays read as integers.
func TestNPZ(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	z := zipArrays(t, [][2]any{
		{"i8.npy", npyFile("<i8", false, []int{3}, bin(le, []int64{-1, 0, 1 << 40}))},
		{"i2.npy", npyFile(">i2", false, []int{2}, bin(be, []int16{-3, 7}))},
		{"u1.npy", npyFile("|u1", false, []int{2}, []byte{0, 255})},
		{"b1.npy", npyFile("|b1", false, []int{3}, []byte{0, 1, 2})},
		{"f4.npy", npyFile("<f4", false, []int{2}, bin(le, []float32{0.5, -2}))},
		{"f8", npyFile(">f8", false, []int{2}, bin(be, []float64{math.Pi, 1e300}))},
		{"m.npy", npyFile("<f8", false, []int{2, 3}, bin(le, []float64{1, 2, 3, 4, 5, 6}))},
		{"mf.npy", npyFile("<f8", true, []int{2, 3}, bin(le, []float64{1, 4, 2, 5, 3, 6}))},
	})
	defer z.Close()
	for key, want := range map[string][]int{"i8": {-1, 0, 1 << 40}, "i2": {-3, 7}, "u1": {0, 255}, "b1": {0, 1, 1}} {
		if got, err := z.Ints(key); err != nil || !slices.Equal(got, want) {
			t.Errorf("Ints(%q) = %v, %v; want %v", key, got, err, want)
		}
	}
	for key, want := range map[string][]float64{"f4": {0.5, -2}, "f8": {math.Pi, 1e300}, "i2": {-3, 7}} {
		if got, err := z.Floats(key); err != nil || !slices.Equal(got, want) {
			t.Errorf("Floats(%q) = %v, %v; want %v", key, got, err, want)
		}
	}
	for _, key := range []string{"m", "mf"} {
		v, r, c, err := z.Matrix(key)
		if err != nil || r != 2 || c != 3 || !slices.Equal(v, []float64{1, 2, 3, 4, 5, 6}) {
			t.Errorf("Matrix(%q) = %v %d×%d, %v", key, v, r, c, err)
		}
	}
	if !z.Has("f8") || !z.Has("m") || z.Has("nope") {
		t.Error("Has does not match the archive")
	}
	if _, err := z.Ints("nope"); err == nil || !strings.Contains(err.Error(), `missing array "nope"`) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := z.Ints("f4"); err == nil || !strings.Contains(err.Error(), "integer") {
		t.Errorf("float array as integers: %v", err)
	}
	if _, _, _, err := z.Matrix("i8"); err == nil || !strings.Contains(err.Error(), "want a matrix") {
		t.Errorf("vector as a matrix: %v", err)
	}
}

// FuzzNPZ: any bytes as an .npz archive: no panic, and every array read
// holds exactly its entry's items (never more than the entry's bytes).
func FuzzNPZ(f *testing.F) {
	le := binary.LittleEndian
	for _, a := range [][]byte{
		npyFile("<i8", false, []int{3}, bin(le, []int64{1, 2, 3})),
		npyFile("<f4", true, []int{2, 2}, bin(le, []float32{1, 2, 3, 4})),
		npyFile("|b1", false, []int{1}, []byte{1}),
		npyFile("<i8", false, []int{1 << 40}, nil),
		[]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f{"),
	} {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		e, _ := w.Create("x.npy")
		e.Write(a)
		w.Close()
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		z, err := NewNPZ(bytes.NewReader(in), int64(len(in)))
		if err != nil {
			return
		}
		for _, e := range z.zr.File {
			if v, err := z.Floats(e.Name); err == nil && uint64(len(v)) > e.UncompressedSize64 {
				t.Fatalf("%s: %d values from an entry of %d bytes", e.Name, len(v), e.UncompressedSize64)
			}
			if v, err := z.Ints(e.Name); err == nil && uint64(len(v)) > e.UncompressedSize64 {
				t.Fatalf("%s: %d values from an entry of %d bytes", e.Name, len(v), e.UncompressedSize64)
			}
			if v, r, c, err := z.Matrix(e.Name); err == nil && len(v) != r*c {
				t.Fatalf("%s: %d values for %d×%d", e.Name, len(v), r, c)
			}
		}
	})
}
