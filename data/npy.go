package data

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// A small, defensive reader of the .npy arrays inside an .npz archive.
// Every size it reads from the file is checked against the archive entry's
// declared length before anything is allocated, and the data is read
// through a bounded, growing buffer, so a hostile file costs at most
// about twice the memory of the data it really holds.

// maxNPYHeader bounds the length of an .npy header (numpy writes a few
// hundred bytes).
const maxNPYHeader = 1 << 16

// npyArray is one decoded .npy array: its dtype (kind 'f', 'i', 'u' or
// 'b' and the item size in bytes), shape and raw data.
type npyArray struct {
	kind    byte
	size    int
	big     bool // big-endian
	fortran bool
	shape   []int
	count   int
	data    []byte
}

func decodeNPY(f *zip.File) (*npyArray, error) {
	total := f.UncompressedSize64
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var pre [10]byte
	if _, err := io.ReadFull(rc, pre[:8]); err != nil {
		return nil, fmt.Errorf("reading the .npy preamble: %w", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, errors.New("not an .npy array (bad magic)")
	}
	var hl, used uint64
	switch pre[6] {
	case 1:
		if _, err := io.ReadFull(rc, pre[8:10]); err != nil {
			return nil, fmt.Errorf("reading the .npy header length: %w", err)
		}
		hl, used = uint64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(rc, b[:]); err != nil {
			return nil, fmt.Errorf("reading the .npy header length: %w", err)
		}
		hl, used = uint64(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return nil, fmt.Errorf("unsupported .npy version %d.%d", pre[6], pre[7])
	}
	if hl > maxNPYHeader || used+hl > total {
		return nil, fmt.Errorf(".npy header of %d bytes does not fit the entry of %d bytes", hl, total)
	}
	hdr := make([]byte, hl)
	if _, err := io.ReadFull(rc, hdr); err != nil {
		return nil, fmt.Errorf("reading the .npy header: %w", err)
	}
	a, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, fmt.Errorf(".npy header %q: %w", truncate(string(hdr), 80), err)
	}
	// count·size must be exactly the rest of the entry.
	a.count = 1
	for _, d := range a.shape {
		if d != 0 && a.count > math.MaxInt/8/d {
			return nil, fmt.Errorf("shape %v is too large", a.shape)
		}
		a.count *= d
	}
	nb := uint64(a.count) * uint64(a.size)
	if nb != total-used-hl {
		return nil, fmt.Errorf("shape %v of %d-byte items needs %d bytes, the entry holds %d", a.shape, a.size, nb, total-used-hl)
	}
	// Read through a growing buffer: the declared size may be a lie.
	buf := make([]byte, 0, min(nb, 1<<20))
	lr := io.LimitReader(rc, int64(nb))
	for uint64(len(buf)) < nb {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the data: %w", err)
		}
	}
	if uint64(len(buf)) != nb {
		return nil, fmt.Errorf("data truncated: %d of %d bytes", len(buf), nb)
	}
	a.data = buf
	return a, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseNPYHeader parses the Python dict literal of an .npy header,
// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }, followed by
// spaces and a newline.
func parseNPYHeader(h string) (*npyArray, error) {
	p := &pyParser{s: h}
	if !p.eat('{') {
		return nil, errors.New("want a dict")
	}
	a := &npyArray{}
	var haveDescr, haveShape bool
	for !p.eat('}') {
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if !p.eat(':') {
			return nil, errors.New("want ':' after a key")
		}
		switch key {
		case "descr":
			d, err := p.str()
			if err != nil {
				return nil, err
			}
			if err := a.setDescr(d); err != nil {
				return nil, err
			}
			haveDescr = true
		case "fortran_order":
			switch {
			case p.word("True"):
				a.fortran = true
			case p.word("False"):
			default:
				return nil, errors.New("fortran_order must be True or False")
			}
		case "shape":
			if a.shape, err = p.tuple(); err != nil {
				return nil, err
			}
			haveShape = true
		default:
			return nil, fmt.Errorf("unknown key %q", key)
		}
		if !p.eat(',') {
			if !p.eat('}') {
				return nil, errors.New("want ',' or '}'")
			}
			break
		}
	}
	p.skip()
	if p.i != len(p.s) {
		return nil, errors.New("trailing characters after the dict")
	}
	if !haveDescr || !haveShape {
		return nil, errors.New("descr or shape missing")
	}
	if len(a.shape) > 2 {
		return nil, fmt.Errorf("shape %v has more than two dimensions", a.shape)
	}
	return a, nil
}

// setDescr parses a dtype string such as "<f8", "|u1" or ">i4".
func (a *npyArray) setDescr(d string) error {
	if len(d) < 3 {
		return fmt.Errorf("unsupported dtype %q", d)
	}
	switch d[0] {
	case '<', '|', '=':
	case '>':
		a.big = true
	default:
		return fmt.Errorf("unsupported dtype %q", d)
	}
	a.kind = d[1]
	size, err := strconv.Atoi(d[2:])
	if err != nil {
		return fmt.Errorf("unsupported dtype %q", d)
	}
	a.size = size
	ok := false
	switch a.kind {
	case 'f':
		ok = size == 4 || size == 8
	case 'i', 'u':
		ok = size == 1 || size == 2 || size == 4 || size == 8
	case 'b':
		ok = size == 1
	}
	if !ok {
		return fmt.Errorf("unsupported dtype %q (want a float, integer or bool type)", d)
	}
	return nil
}

// pyParser scans the few Python literals of an .npy header.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) skip() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) word(w string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

func (p *pyParser) str() (string, error) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("want a string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *pyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("shape must be a tuple")
	}
	var out []int
	for !p.eat(')') {
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i || j-p.i > 18 {
			return nil, errors.New("shape entries must be non-negative integers")
		}
		v, _ := strconv.Atoi(p.s[p.i:j])
		p.i = j
		out = append(out, v)
		if len(out) > 2 {
			return nil, errors.New("shape has more than two dimensions")
		}
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, errors.New("want ',' or ')' in the shape")
			}
			break
		}
	}
	return out, nil
}

// ints decodes an integer or bool array as []int; unsigned values above
// math.MaxInt are errors.
func (a *npyArray) ints() ([]int, error) {
	if a.kind == 'f' {
		return nil, fmt.Errorf("dtype f%d; want an integer type", a.size)
	}
	out := make([]int, a.count)
	for i := range out {
		u := a.raw(i)
		switch a.kind {
		case 'i':
			// Sign-extend from the item size.
			sh := 64 - 8*uint(a.size)
			out[i] = int(int64(u<<sh) >> sh)
		case 'u':
			if u > math.MaxInt {
				return nil, fmt.Errorf("entry %d = %d is too large", i, u)
			}
			out[i] = int(u)
		case 'b':
			if u != 0 {
				out[i] = 1
			}
		}
	}
	return out, nil
}

// floats decodes a numeric array as []float64.
func (a *npyArray) floats() ([]float64, error) {
	if a.kind != 'f' {
		iv, err := a.ints()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(iv))
		for i, v := range iv {
			out[i] = float64(v)
		}
		return out, nil
	}
	out := make([]float64, a.count)
	for i := range out {
		u := a.raw(i)
		if a.size == 4 {
			out[i] = float64(math.Float32frombits(uint32(u)))
		} else {
			out[i] = math.Float64frombits(u)
		}
	}
	return out, nil
}

// raw returns the bits of item i, zero-extended.
func (a *npyArray) raw(i int) uint64 {
	b := a.data[i*a.size : (i+1)*a.size]
	var u uint64
	for k := range b {
		if a.big {
			u = u<<8 | uint64(b[k])
		} else {
			u |= uint64(b[k]) << (8 * uint(k))
		}
	}
	return u
}
