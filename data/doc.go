// Package data loads the MNIST and Fashion-MNIST image-classification
// datasets, and reads NumPy .npz archives (NPZ), the file format of the
// graph data sets that package graph loads.
//
// The low level reads IDX files, the format both datasets are
// distributed in, raw or gzip-compressed: ReadImages and ReadLabels take
// an io.Reader, OpenImages and OpenLabels a path. Headers are validated
// (magic number, sizes up to MaxIDXBytes, the data really present) and
// every failure wraps one of the package's Err values with the file name
// and the numbers involved.
//
// The high level, Load, finds the four files of a dataset in a directory
// the caller names, in $GOFDE_DATA, in Debian's dataset-fashion-mnist
// package, or in the per-user cache; it can download them from the
// public mirrors with SHA-256 verification (LoadOptions.Download), and
// for Fashion-MNIST fall back to a small class-balanced sample embedded
// in the package (LoadOptions.AllowSample), which works with no files
// and no network at all. Dataset.Source tells which was used.
// LoadOptions.TrainLimit and TestLimit read only the first examples of
// each split, which is much cheaper than decoding all 60,000 training
// images when only a few thousand are used.
//
// Offline, MNIST is often available as its test set only; Load with
// LoadOptions.TestOnly reads just that, and SplitTest(ds, 8000) turns the
// 10,000 test images into 8,000 for training and 2,000 for testing.
//
// NPZ reads the arrays of an .npz archive by key as integers, floats or
// a row-major matrix, whatever their stored dtype and byte order, and
// treats the file as hostile: shapes are checked against the archive
// entries before anything is allocated.
package data
