package finite

import (
	"math"
	"testing"
)

// TestFirst checks First against a plain scan for NaN, ±Inf and finite
// extremes at every position of lengths around the block size.
func TestFirst(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 255, 256, 257, 600} {
		x := make([]float64, n)
		for i := range x {
			x[i] = math.MaxFloat64 * float64(i%3-1)
		}
		if got := First(x); got != -1 {
			t.Fatalf("n=%d, all finite: %d", n, got)
		}
		for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			for p := 0; p < n; p += max(1, n/7) {
				y := append([]float64(nil), x...)
				y[p] = bad
				if p+1 < n {
					y[n-1] = bad
				}
				if got := First(y); got != p {
					t.Fatalf("n=%d, %v at %d: First = %d", n, bad, p, got)
				}
			}
		}
	}
}
