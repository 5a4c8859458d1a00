package data

import (
	"archive/zip"
	"fmt"
	"io"
	"strings"
)

// NPZ reads the arrays of a NumPy .npz archive (a zip file of .npy
// arrays), the format of the gnn-benchmark graph data sets. Arrays are
// addressed by key, with or without the ".npy" suffix; integer, unsigned,
// boolean and floating-point dtypes of any width and either byte order are
// accepted.
//
// The file is not trusted: every array's declared shape is checked
// against the length of its archive entry before memory is allocated, the
// data is read through a bounded, growing buffer (a hostile file costs at
// most about twice the memory of the data it really holds), headers are
// bounded, unsigned values beyond the int range are errors, and no input
// makes it panic.
type NPZ struct {
	zr     *zip.Reader
	closer io.Closer
}

// OpenNPZ opens the .npz file at path; Close releases it.
func OpenNPZ(path string) (*NPZ, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("data: opening %s: %w", path, err)
	}
	return &NPZ{zr: &zr.Reader, closer: zr}, nil
}

// NewNPZ reads an .npz archive of size bytes from r.
func NewNPZ(r io.ReaderAt, size int64) (*NPZ, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("data: reading the .npz archive: %w", err)
	}
	return &NPZ{zr: zr}, nil
}

// Close closes the file OpenNPZ opened (nothing for NewNPZ).
func (z *NPZ) Close() error {
	if z.closer == nil {
		return nil
	}
	return z.closer.Close()
}

// Has reports whether the archive holds the array key.
func (z *NPZ) Has(key string) bool {
	_, err := z.entry(key)
	return err == nil
}

// entry returns the archive file of key (with or without ".npy").
func (z *NPZ) entry(key string) (*zip.File, error) {
	names := make([]string, 0, len(z.zr.File))
	for _, f := range z.zr.File {
		if f.Name == key || f.Name == key+".npy" {
			return f, nil
		}
		names = append(names, f.Name)
	}
	return nil, fmt.Errorf("missing array %q (the file has %s)", key, strings.Join(names, ", "))
}

// array reads and checks the array stored under key.
func (z *NPZ) array(key string) (*npyArray, error) {
	f, err := z.entry(key)
	if err != nil {
		return nil, err
	}
	a, err := decodeNPY(f)
	if err != nil {
		return nil, fmt.Errorf("array %q: %w", key, err)
	}
	return a, nil
}

// Ints reads an integer or boolean array of any shape as a flat []int
// (booleans as 0 and 1).
func (z *NPZ) Ints(key string) ([]int, error) {
	a, err := z.array(key)
	if err != nil {
		return nil, err
	}
	v, err := a.ints()
	if err != nil {
		return nil, fmt.Errorf("array %q: %w", key, err)
	}
	return v, nil
}

// Floats reads a numeric array of any shape as a flat []float64, in the
// order it is stored.
func (z *NPZ) Floats(key string) ([]float64, error) {
	a, err := z.array(key)
	if err != nil {
		return nil, err
	}
	v, err := a.floats()
	if err != nil {
		return nil, fmt.Errorf("array %q: %w", key, err)
	}
	return v, nil
}

// Matrix reads a two-dimensional numeric array as its rows × cols values
// in row-major order (a Fortran-ordered array is transposed into it).
func (z *NPZ) Matrix(key string) (vals []float64, rows, cols int, err error) {
	a, err := z.array(key)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(a.shape) != 2 {
		return nil, 0, 0, fmt.Errorf("%s has shape %v, want a matrix", key, a.shape)
	}
	v, err := a.floats()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("array %q: %w", key, err)
	}
	rows, cols = a.shape[0], a.shape[1]
	if a.fortran {
		t := make([]float64, len(v))
		for i := range rows {
			for j := range cols {
				t[i*cols+j] = v[j*rows+i]
			}
		}
		v = t
	}
	return v, rows, cols, nil
}
