package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned
// byte) and the number of dimensions.
const (
	// ImagesMagic is the magic number of an IDX3 unsigned-byte image file
	// (N × rows × cols).
	ImagesMagic = 0x00000803
	// LabelsMagic is the magic number of an IDX1 unsigned-byte label file
	// (N labels).
	LabelsMagic = 0x00000801
)

// MaxIDXBytes is the largest payload (pixel or label bytes) that
// ReadImages and ReadLabels accept. A header claiming more is rejected
// before anything is allocated. MNIST's training images are 47,040,000
// bytes, well below the limit of 2^28 (256 MiB).
const MaxIDXBytes = 1 << 28

// Errors reported by this package. Failures to parse, validate, find or
// download data wrap one of these (test with errors.Is), together with
// the file and the numbers involved; I/O and network errors are wrapped
// as they come.
var (
	// ErrFormat reports a malformed IDX header: a wrong magic number or
	// zero image dimensions.
	ErrFormat = errors.New("malformed IDX data")
	// ErrTooLarge reports a header that claims more than MaxIDXBytes.
	ErrTooLarge = errors.New("IDX data too large")
	// ErrTruncated reports a file that ends before the number of bytes
	// its header declares.
	ErrTruncated = errors.New("truncated IDX data")
	// ErrTrailing reports bytes after the end of the declared data.
	ErrTrailing = errors.New("trailing data after IDX payload")
	// ErrGzip reports a corrupt gzip stream (bad header, bad deflate data
	// or a CRC/size mismatch). When a corrupt stream decompresses to
	// wrong IDX data (trailing bytes, a bad magic number), the stream is
	// read on to its CRC and the gzip error is reported, not the symptom.
	ErrGzip = errors.New("corrupt gzip stream")
	// ErrLabelRange reports a label outside 0..NumClasses-1.
	ErrLabelRange = errors.New("label out of range")
	// ErrCountMismatch reports image and label files of one split that
	// hold different numbers of items, or splits with different image
	// sizes.
	ErrCountMismatch = errors.New("image/label mismatch")
	// ErrNotFound reports that no usable copy of a dataset was found.
	ErrNotFound = errors.New("dataset files not found")
	// ErrChecksum reports a downloaded file whose SHA-256 differs from
	// the known value.
	ErrChecksum = errors.New("checksum mismatch")
)

// Images is a set of N grey-scale images of Rows × Cols pixels.
type Images struct {
	N, Rows, Cols int
	// Pixels holds N*Rows*Cols values, image after image, each image
	// row-major. Read from an IDX file they are the bytes divided by
	// 255, so lie in [0, 1]; Normalize changes them in place.
	Pixels []float64
}

// Dim returns the number of pixels of one image, Rows*Cols.
func (im *Images) Dim() int { return im.Rows * im.Cols }

// Image returns the pixels of image i (0 ≤ i < N). The slice aliases
// im.Pixels.
func (im *Images) Image(i int) []float64 {
	d := im.Dim()
	return im.Pixels[i*d : (i+1)*d : (i+1)*d]
}

// Subset returns a copy of images i..j-1 (0 ≤ i ≤ j ≤ N).
func (im *Images) Subset(i, j int) *Images {
	if i < 0 || j < i || j > im.N {
		panic(fmt.Sprintf("data: Images.Subset(%d, %d) out of range [0, %d]", i, j, im.N))
	}
	d := im.Dim()
	return &Images{N: j - i, Rows: im.Rows, Cols: im.Cols,
		Pixels: append([]float64(nil), im.Pixels[i*d:j*d]...)}
}

// MeanStd returns the mean and the (population) standard deviation of all
// pixels, the numbers usually computed on a training split and handed to
// Normalize for every split. Both are 0 for an empty set.
func (im *Images) MeanStd() (mean, std float64) {
	if len(im.Pixels) == 0 {
		return 0, 0
	}
	var s float64
	for _, v := range im.Pixels {
		s += v
	}
	mean = s / float64(len(im.Pixels))
	var q float64
	for _, v := range im.Pixels {
		d := v - mean
		q += d * d
	}
	return mean, math.Sqrt(q / float64(len(im.Pixels)))
}

// Normalize replaces every pixel p by (p - mean) / std, in place. std
// must be positive and finite, mean finite.
func (im *Images) Normalize(mean, std float64) error {
	if !(std > 0) || math.IsInf(std, 0) || math.IsNaN(mean) || math.IsInf(mean, 0) {
		return fmt.Errorf("data: Normalize: need finite mean and positive finite std, got mean=%v std=%v", mean, std)
	}
	inv := 1 / std
	for i, v := range im.Pixels {
		im.Pixels[i] = (v - mean) * inv
	}
	return nil
}

// CheckLabels returns an error wrapping ErrLabelRange if any label lies
// outside 0..numClasses-1; it names the first such label and its index.
func CheckLabels(labels []int, numClasses int) error {
	for i, l := range labels {
		if l < 0 || l >= numClasses {
			return fmt.Errorf("%w: label %d at index %d (want 0..%d)", ErrLabelRange, l, i, numClasses-1)
		}
	}
	return nil
}

// ReadImages reads one IDX3 unsigned-byte image file (magic 0x00000803)
// from r. A gzip-compressed stream is recognised by its magic bytes and
// decompressed on the fly. r must hold exactly one file: it is read to
// its end, and bytes after the declared data are an error (for gzip this
// also checks the CRC). Pixels are scaled to [0, 1].
func ReadImages(r io.Reader) (*Images, error) {
	im, err := readImages(r)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return im, nil
}

// ReadLabels reads one IDX1 unsigned-byte label file (magic 0x00000801)
// from r, gzip-compressed or not, like ReadImages. Labels are returned as
// read (0..255); CheckLabels validates a class range.
func ReadLabels(r io.Reader) ([]int, error) {
	l, err := readLabels(r)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return l, nil
}

// OpenImages reads the IDX3 image file at path, raw or gzip-compressed
// (decided by the file's magic bytes, not its name). Errors name the
// file.
func OpenImages(path string) (*Images, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	im, err := readImages(f)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return im, nil
}

// OpenLabels reads the IDX1 label file at path, raw or gzip-compressed.
// Errors name the file.
func OpenLabels(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	l, err := readLabels(f)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return l, nil
}

// gzipError marks an error that came out of the gzip layer.
type gzipError struct{ err error }

func (e gzipError) Error() string { return e.err.Error() }
func (e gzipError) Unwrap() error { return e.err }

// gzipTagReader tags every error but io.EOF from the gzip reader.
type gzipTagReader struct{ zr *gzip.Reader }

func (g gzipTagReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError{err}
	}
	return n, err
}

// decompressed returns a reader of r's content, gunzipped if r starts
// with the gzip magic bytes 1f 8b.
func decompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && len(magic) < 2 {
		// Too short for gzip; let the IDX reader report the truncation.
		return br, nil
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGzip, err)
	}
	return gzipTagReader{zr}, nil
}

// gzipDrainLimit bounds how many decompressed bytes gzipVerdict reads
// past a parse error in search of a gzip error: MaxIDXBytes, the most a
// valid file can hold, so the CRC of any acceptable file is reached.
const gzipDrainLimit = MaxIDXBytes

// gzipVerdict is called with a parse error err met while reading r, the
// reader decompressed returned. A corrupt gzip stream often decompresses
// to wrong data (more bytes than declared, a bad magic number) before the
// gzip layer can tell, at the CRC at the end of the stream; so when r is
// gzip and err did not come from the gzip layer, gzipVerdict reads on (at
// most gzipDrainLimit bytes, discarded) and, if the gzip layer then
// reports an error, returns that error wrapping ErrGzip, with err as
// context. Otherwise (raw data, a valid gzip stream, or the limit
// reached) it returns err unchanged.
func gzipVerdict(r io.Reader, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := r.(gzipTagReader); !ok {
		return err
	}
	var ge gzipError
	if errors.As(err, &ge) || errors.Is(err, ErrGzip) {
		return err
	}
	_, derr := io.Copy(io.Discard, io.LimitReader(r, gzipDrainLimit))
	if errors.As(derr, &ge) {
		return fmt.Errorf("%w: %v (the decompressed data, read before the gzip layer found this, looked wrong: %v)", ErrGzip, ge.err, err)
	}
	return err
}

// readErr turns an error met while reading what of a file into this
// package's errors: gzip trouble, a short file, or an I/O error.
func readErr(err error, what string, want, got int64) error {
	var ge gzipError
	if errors.As(err, &ge) {
		if errors.Is(ge.err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %s: compressed stream ends early after %d of %d bytes (%w)", ErrTruncated, what, got, want, ErrGzip)
		}
		return fmt.Errorf("%w: %s: after %d of %d bytes: %v", ErrGzip, what, got, want, ge.err)
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %s: expected %d bytes, found %d", ErrTruncated, what, want, got)
	}
	return fmt.Errorf("%s: after %d of %d bytes: %w", what, got, want, err)
}

// readChunkMin and readChunkMax bound the pieces readChunks reads: the
// first holds readChunkMin bytes, each next one twice the last, up to
// readChunkMax.
const (
	readChunkMin = 64 << 10
	readChunkMax = 4 << 20
)

// readChunks reads exactly n bytes as a list of pieces, allocating each
// only when the data before it have arrived: a header that lies about
// the size costs at most one piece (as large as the data before it, at
// least 64 KiB) beyond the data really present, and nothing is copied
// as the data grow. The pieces concatenated are the n bytes.
func readChunks(r io.Reader, n int64, what string) ([][]byte, error) {
	var chunks [][]byte
	var got int64
	for size := int64(readChunkMin); got < n; size = min(2*size, readChunkMax) {
		c := make([]byte, min(size, n-got))
		k, err := io.ReadFull(r, c)
		got += int64(k)
		if err != nil {
			return nil, readErr(err, what, n, got)
		}
		chunks = append(chunks, c)
	}
	return chunks, nil
}

// expectEOF reads past the end of the payload: it must find the end of
// the stream (which, for gzip, verifies the CRC and the length).
func expectEOF(r io.Reader) error {
	var b [1]byte
	for range 100 {
		n, err := r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w", ErrTrailing)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var ge gzipError
			if errors.As(err, &ge) {
				return fmt.Errorf("%w: at end of data: %v", ErrGzip, ge.err)
			}
			return err
		}
	}
	return io.ErrNoProgress
}

// byteScale maps a pixel byte to [0, 1].
var byteScale = func() (t [256]float64) {
	for i := range t {
		t[i] = float64(i) / 255
	}
	return
}()

// readHeader fills hdr, checking the magic number as soon as it is in:
// a file of the other kind gets a hint rather than a size complaint.
func readHeader(r io.Reader, hdr []byte, magic, other uint32, kind, desc, hint string) error {
	if n, err := io.ReadFull(r, hdr[:4]); err != nil {
		return readErr(err, kind+" header", int64(len(hdr)), int64(n))
	}
	if m := binary.BigEndian.Uint32(hdr); m != magic {
		h := ""
		if m == other {
			h = "; " + hint
		}
		return fmt.Errorf("%w: bad magic number 0x%08x, want 0x%08x (%s)%s", ErrFormat, m, magic, desc, h)
	}
	if n, err := io.ReadFull(r, hdr[4:]); err != nil {
		return readErr(err, kind+" header", int64(len(hdr)), int64(4+n))
	}
	return nil
}

// readImages reads a whole IDX3 image file.
func readImages(r io.Reader) (*Images, error) {
	im, _, err := readImagesLimit(r, 0)
	return im, err
}

// limitItems returns how many of the declared items to read and how to
// describe them in errors: all of them when limit is 0 or not below
// declared, else the first limit.
func limitItems(declared uint64, limit int, noun, suffix string) (uint64, string) {
	if limit > 0 && uint64(limit) < declared {
		return uint64(limit), fmt.Sprintf("%s data (first %d of %d %s%s)", noun, limit, declared, noun+"s", suffix)
	}
	return declared, fmt.Sprintf("%s data (%d %s%s)", noun, declared, noun+"s", suffix)
}

// readImagesLimit reads an IDX3 image file, raw or gzipped, but decodes
// only its first limit images (all when limit is 0); it also returns the
// number of images the header declares. The header is validated in full
// (magic number, image size, declared size up to MaxIDXBytes) whatever
// the limit. When fewer images than declared are read, reading stops
// right after them: what follows (further images, trailing bytes, the
// gzip CRC) is not looked at. Otherwise the stream must end where the
// data do, as for ReadImages.
//
// For gzip input, a parse error is checked against the gzip layer (see
// gzipVerdict): a corrupt stream is reported as ErrGzip, not as the
// wrong data it decompressed to.
func readImagesLimit(r io.Reader, limit int) (*Images, int, error) {
	if limit < 0 {
		return nil, 0, fmt.Errorf("negative image limit %d", limit)
	}
	dr, err := decompressed(r)
	if err != nil {
		return nil, 0, err
	}
	im, declared, err := parseImages(dr, limit)
	if err != nil {
		return nil, 0, gzipVerdict(dr, err)
	}
	return im, declared, nil
}

// parseImages is readImagesLimit on the decompressed stream.
func parseImages(r io.Reader, limit int) (*Images, int, error) {
	var hdr [16]byte
	if err := readHeader(r, hdr[:], ImagesMagic, LabelsMagic, "image", "IDX3 unsigned-byte images", "this is a label file"); err != nil {
		return nil, 0, err
	}
	declared := uint64(binary.BigEndian.Uint32(hdr[4:]))
	rows := uint64(binary.BigEndian.Uint32(hdr[8:]))
	cols := uint64(binary.BigEndian.Uint32(hdr[12:]))
	if rows == 0 || cols == 0 {
		return nil, 0, fmt.Errorf("%w: image size %dx%d", ErrFormat, rows, cols)
	}
	// Each factor is < 2^32, so the first product fits in 64 bits; check
	// before multiplying again. The bound applies to the declared size,
	// so a limit never makes an oversized header acceptable.
	size := declared * rows
	if size > MaxIDXBytes || size*cols > MaxIDXBytes {
		return nil, 0, fmt.Errorf("%w: header declares %d images of %dx%d pixels, more than %d bytes", ErrTooLarge, declared, rows, cols, MaxIDXBytes)
	}
	n, what := limitItems(declared, limit, "image", fmt.Sprintf(" of %dx%d", rows, cols))
	size = n * rows * cols // ≤ MaxIDXBytes, checked above
	chunks, err := readChunks(r, int64(size), what)
	if err != nil {
		return nil, 0, err
	}
	if n == declared {
		if err := expectEOF(r); err != nil {
			return nil, 0, fmt.Errorf("after %s: %w", what, err)
		}
	}
	// The data are all there: only now is the float64 slice, eight
	// times their size, allocated, once and at its final size.
	px := make([]float64, size)
	dst := px
	for _, c := range chunks {
		d := dst[:len(c)]
		for i, b := range c {
			d[i] = byteScale[b]
		}
		dst = dst[len(c):]
	}
	return &Images{N: int(n), Rows: int(rows), Cols: int(cols), Pixels: px}, int(declared), nil
}

// readLabels reads a whole IDX1 label file.
func readLabels(r io.Reader) ([]int, error) {
	l, _, err := readLabelsLimit(r, 0)
	return l, err
}

// readLabelsLimit reads an IDX1 label file like readImagesLimit: only
// its first limit labels (all when limit is 0), returning also the
// number the header declares.
func readLabelsLimit(r io.Reader, limit int) ([]int, int, error) {
	if limit < 0 {
		return nil, 0, fmt.Errorf("negative label limit %d", limit)
	}
	dr, err := decompressed(r)
	if err != nil {
		return nil, 0, err
	}
	labels, declared, err := parseLabels(dr, limit)
	if err != nil {
		return nil, 0, gzipVerdict(dr, err)
	}
	return labels, declared, nil
}

// parseLabels is readLabelsLimit on the decompressed stream.
func parseLabels(r io.Reader, limit int) ([]int, int, error) {
	var hdr [8]byte
	if err := readHeader(r, hdr[:], LabelsMagic, ImagesMagic, "label", "IDX1 unsigned-byte labels", "this is an image file"); err != nil {
		return nil, 0, err
	}
	declared := uint64(binary.BigEndian.Uint32(hdr[4:]))
	if declared > MaxIDXBytes {
		return nil, 0, fmt.Errorf("%w: header declares %d labels, more than %d", ErrTooLarge, declared, MaxIDXBytes)
	}
	n, what := limitItems(declared, limit, "label", "")
	chunks, err := readChunks(r, int64(n), what)
	if err != nil {
		return nil, 0, err
	}
	if n == declared {
		if err := expectEOF(r); err != nil {
			return nil, 0, fmt.Errorf("after %s: %w", what, err)
		}
	}
	labels := make([]int, n)
	dst := labels
	for _, c := range chunks {
		d := dst[:len(c)]
		for i, b := range c {
			d[i] = int(b)
		}
		dst = dst[len(c):]
	}
	return labels, int(declared), nil
}
