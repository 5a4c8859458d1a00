// Command mksample writes the Fashion-MNIST sample that package data
// embeds: from the full dataset (by default Debian's dataset-fashion-mnist
// in /usr/share/datasets/fashion-mnist) it keeps the first -train images
// of each class of the training split and the first -test of each class
// of the test split, in their original order, and writes them as gzipped
// IDX files plus a README into -out (default data/sample).
//
// Run it from the repository root:
//
//	go run ./testdata/mksample
//
// The output is deterministic: the same input gives the same bytes (gzip
// with no name and a zero time stamp).
//
// It is self-contained on purpose (it does not import package data, which
// embeds its output and so does not build before the output exists).
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
)

const numClasses = 10

func main() {
	src := flag.String("src", "/usr/share/datasets/fashion-mnist", "directory with the four Fashion-MNIST files (.gz or raw)")
	out := flag.String("out", filepath.Join("data", "sample"), "output directory")
	perTrain := flag.Int("train", 200, "training images per class")
	perTest := flag.Int("test", 50, "test images per class")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("mksample: ")

	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	var total int64
	counts := map[string]int{}
	for _, split := range []struct {
		prefix string
		per    int
	}{{"train", *perTrain}, {"t10k", *perTest}} {
		imgs, rows, cols, err := readIDX(filepath.Join(*src, split.prefix+"-images-idx3-ubyte"), 0x803)
		if err != nil {
			log.Fatal(err)
		}
		labels, _, _, err := readIDX(filepath.Join(*src, split.prefix+"-labels-idx1-ubyte"), 0x801)
		if err != nil {
			log.Fatal(err)
		}
		dim := rows * cols
		if len(imgs) != len(labels)*dim {
			log.Fatalf("%s: %d labels but %d image bytes", split.prefix, len(labels), len(imgs))
		}
		var keepImgs, keepLabels []byte
		seen := make([]int, numClasses)
		for i, l := range labels {
			if int(l) >= numClasses {
				log.Fatalf("%s: label %d at %d out of range", split.prefix, l, i)
			}
			if seen[l] < split.per {
				seen[l]++
				keepLabels = append(keepLabels, l)
				keepImgs = append(keepImgs, imgs[i*dim:(i+1)*dim]...)
			}
		}
		for c, n := range seen {
			if n < split.per {
				log.Fatalf("%s: only %d images of class %d", split.prefix, n, c)
			}
		}
		n := len(keepLabels)
		counts[split.prefix] = n
		for _, f := range []struct {
			name string
			hdr  []uint32
			body []byte
		}{
			{split.prefix + "-images-idx3-ubyte.gz", []uint32{0x803, uint32(n), uint32(rows), uint32(cols)}, keepImgs},
			{split.prefix + "-labels-idx1-ubyte.gz", []uint32{0x801, uint32(n)}, keepLabels},
		} {
			size, err := writeIDX(filepath.Join(*out, f.name), f.hdr, f.body)
			if err != nil {
				log.Fatal(err)
			}
			total += size
			fmt.Printf("%s: %d items, %d bytes\n", filepath.Join(*out, f.name), n, size)
		}
	}
	if err := os.WriteFile(filepath.Join(*out, "README.md"), []byte(fmt.Sprintf(readme, counts["train"], *perTrain, counts["t10k"], *perTest)), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("total %d bytes of data\n", total)
	if total > 2<<20 {
		log.Fatalf("sample is %d bytes, more than 2 MiB", total)
	}
}

// readIDX reads base+".gz" or base and checks the magic number; for
// images it returns the pixel bytes and the image size, for labels the
// label bytes.
func readIDX(base string, magic uint32) (body []byte, rows, cols int, err error) {
	raw, err := os.ReadFile(base + ".gz")
	if os.IsNotExist(err) {
		raw, err = os.ReadFile(base)
	}
	if err != nil {
		return nil, 0, 0, err
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %w", base, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %w", base, err)
		}
	}
	hdrLen := 8
	if magic == 0x803 {
		hdrLen = 16
	}
	if len(raw) < hdrLen || binary.BigEndian.Uint32(raw) != magic {
		return nil, 0, 0, fmt.Errorf("%s: not an IDX file with magic 0x%08x", base, magic)
	}
	n := int(binary.BigEndian.Uint32(raw[4:]))
	rows, cols = 1, 1
	if magic == 0x803 {
		rows, cols = int(binary.BigEndian.Uint32(raw[8:])), int(binary.BigEndian.Uint32(raw[12:]))
	}
	if len(raw)-hdrLen != n*rows*cols {
		return nil, 0, 0, fmt.Errorf("%s: header declares %d bytes of data, file has %d", base, n*rows*cols, len(raw)-hdrLen)
	}
	return raw[hdrLen:], rows, cols, nil
}

// writeIDX writes a gzipped IDX file: big-endian header words, then body.
func writeIDX(path string, hdr []uint32, body []byte) (int64, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	for _, h := range hdr {
		if err := binary.Write(zw, binary.BigEndian, h); err != nil {
			return 0, err
		}
	}
	if _, err := zw.Write(body); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), os.WriteFile(path, buf.Bytes(), 0o644)
}

const readme = `# Fashion-MNIST sample

A class-balanced subset of Fashion-MNIST that package data embeds, so
that examples and tests run with no data files and no network
(` + "`data.Load(\"fashion\", data.LoadOptions{AllowSample: true})`" + `).

| file | content |
|---|---|
| train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz | %d training images: the first %d of each class of the official training split, in their original order |
| t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz | %d test images: the first %d of each class of the official test split, in their original order |

The images are unchanged 28x28 grey-scale bytes; the files are in the
original IDX format, gzip-compressed.

Generated by ` + "`go run ./testdata/mksample`" + ` (from the repository root)
from the files of Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist), which hold the original
Fashion-MNIST release data (the release .gz files with only their gzip
header normalised by Debian's tooling).

## Source and licence

Fashion-MNIST: Han Xiao, Kashif Rasul and Roland Vollgraf, "Fashion-MNIST:
a Novel Image Dataset for Benchmarking Machine Learning Algorithms",
arXiv:1708.07747, 2017. https://github.com/zalandoresearch/fashion-mnist

The MIT License (MIT)

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`
