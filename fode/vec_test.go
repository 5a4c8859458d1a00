package fode

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestParallelPassesMatchSerial checks the split passes against their
// one-core forms on vectors long enough to be split, with the non-finite
// value in the first and in a later piece.
func TestParallelPassesMatchSerial(t *testing.T) {
	n := 3*splitMin + 5
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	x[n-7] = 40 // the largest magnitude, in the last piece
	if i, m := maxAbsFinite(x); i != -1 || m != 40 {
		t.Errorf("maxAbsFinite = %d, %v; want -1, 40", i, m)
	}
	y32 := convert(make([]float32, n), x)
	for i, v := range y32 {
		if v != float32(x[i]) {
			t.Fatalf("convert: element %d = %v, want %v", i, v, float32(x[i]))
		}
	}
	for _, bad := range []int{3, splitMin + 70, n - 1} {
		z := append([]float64(nil), x...)
		z[bad] = math.Inf(-1)
		z[n-1] = math.NaN()
		if i := firstNonFinite(z); i != bad {
			t.Errorf("firstNonFinite = %d, want %d", i, bad)
		}
		if i, _ := maxAbsFinite(z); i != bad {
			t.Errorf("maxAbsFinite index = %d, want %d", i, bad)
		}
	}
}

// TestDirectSumsSplit checks the direct history sums over a stream wide
// enough to be split between cores, in float64 and float32 storage,
// against the sums written out.
func TestDirectSumsSplit(t *testing.T) {
	width, rows := splitMin+100, 6
	rng := rand.New(rand.NewPCG(3, 4))
	v := make([]float64, rows*width)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	v32 := convert(make([]float32, len(v)), v)
	kernels := [][]float64{{0, 0.5, 0, -1.5, 2, 0.25, 1}, {0, 1, 2, 3, 4, 5, 6}}
	for _, h := range []History{Direct.NewHistory(kernels, v, width), &directHistory{kernels: kernels, rowStore: rowStore{values32: v32, width: width}, reach: kernelReach(kernels)}} {
		for m := range rows + 1 {
			dst := [][]float64{make([]float64, width), make([]float64, width)}
			for k := range dst {
				for i := range dst[k] {
					dst[k][i] = math.NaN() // Sum must overwrite
				}
			}
			h.Sum(dst, m)
			for k, w := range kernels {
				for _, c := range []int{0, 1, splitMin - 1, splitMin, width - 1} {
					want := 0.0
					for j := range m {
						vj := v[j*width+c]
						if h.(*directHistory).values32 != nil {
							vj = float64(v32[j*width+c])
						}
						want += w[m-j] * vj
					}
					if got := dst[k][c]; math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
						t.Fatalf("m = %d, kernel %d, column %d: %v, want %v", m, k, c, got, want)
					}
				}
			}
		}
	}
}
