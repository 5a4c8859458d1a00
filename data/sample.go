package data

import "embed"

// sampleFS holds a class-balanced subset of Fashion-MNIST (the first 200
// training and the first 50 test images of each class, in their original
// order), written by `go run ./testdata/mksample` from the Debian
// package's files. See sample/README.md for source and licence.
//
//go:embed sample/*.gz sample/README.md
var sampleFS embed.FS
