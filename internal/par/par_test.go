package par

import (
	"runtime"
	"testing"
)

// TestForCoversOnce checks that For hands every index to exactly one
// piece and numbers the pieces 0..p-1.
func TestForCoversOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 64, 1000, 65537} {
		for _, p := range []int{0, 1, 2, 3, 8, 2000} {
			seen := make([]int32, n)
			ks := make([]int32, max(p, 1))
			For(n, p, func(k, lo, hi int) {
				ks[k]++ // each piece owns its k
				for i := lo; i < hi; i++ {
					seen[i]++ // pieces are disjoint, so no two goroutines write one index
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("n = %d, p = %d: index %d visited %d times", n, p, i, c)
				}
			}
			for k, c := range ks {
				if c > 1 {
					t.Fatalf("n = %d, p = %d: piece %d ran %d times", n, p, k, c)
				}
			}
		}
	}
}

func TestPieces(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, c := range []struct{ n, least, want int }{
		{0, 10, 1}, {9, 10, 1}, {25, 10, min(procs, 2)}, {1 << 30, 10, procs}, {5, 0, min(procs, 5)},
	} {
		if got := Pieces(c.n, c.least); got != c.want {
			t.Errorf("Pieces(%d, %d) = %d, want %d", c.n, c.least, got, c.want)
		}
	}
}
