package spmm

import (
	"math/rand/v2"
	"testing"
)

// TestGatherRowBadIndex: the vector kernel leaves a row whose column
// index is outside x to the checked Go loop instead of reading past x.
func TestGatherRowBadIndex(t *testing.T) {
	x := make([]float32, 3*16)
	out := make([]float32, 16)
	if got := gatherRow32(out, x, 16, []int{0, 3}, []float32{1, 1}, false); got != 0 {
		t.Errorf("index 3 of 3 rows: the kernel did %d columns", got)
	}
	if got := gatherRow32(out, x, 16, []int{0, -1}, []float32{1, 1}, false); got != 0 {
		t.Errorf("index -1: the kernel did %d columns", got)
	}
	if hasAVX2 {
		if got := gatherRow32(out, x, 16, []int{2, 0}, []float32{1, 1}, false); got != 16 {
			t.Errorf("valid indices: the kernel did %d of 16 columns", got)
		}
	}
}

// TestRowBlocks: the blocks cover the rows in order, and no block holds
// much more than its share of the work.
func TestRowBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, rows := range []int{1, 2, 5, 1000} {
		ptr := make([]int, rows+1)
		for i := 0; i < rows; i++ {
			ptr[i+1] = ptr[i] + rng.IntN(20)
		}
		for _, blocks := range []int{1, 2, 4, 64, 1000} {
			var b [maxBlocks + 1]int
			nb := rowBlocks(b[:], ptr, blocks)
			if nb < 1 || nb > min(blocks, rows, maxBlocks) || b[0] != 0 || b[nb] != rows {
				t.Fatalf("%d rows, %d blocks: %d blocks %v", rows, blocks, nb, b[:nb+1])
			}
			total := ptr[rows] + rows
			for k := 0; k < nb; k++ {
				if b[k] > b[k+1] {
					t.Fatalf("%d rows, %d blocks: bounds %v decrease", rows, blocks, b[:nb+1])
				}
				if w := ptr[b[k+1]] + b[k+1] - ptr[b[k]] - b[k]; rows >= 100 && w > total/nb+2*21 {
					t.Errorf("%d rows, %d blocks: block %d holds %d of %d", rows, blocks, k, w, total)
				}
			}
		}
	}
}
