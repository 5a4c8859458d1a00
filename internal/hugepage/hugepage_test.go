package hugepage

import "testing"

func TestMake(t *testing.T) {
	for _, n := range []int{0, 1, 1000, minBytes/8 + 12345} {
		s := Make[float64](n)
		if len(s) != n {
			t.Fatalf("Make(%d) has length %d", n, len(s))
		}
		for i, v := range s {
			if v != 0 {
				t.Fatalf("Make(%d)[%d] = %v, want 0", n, i, v)
			}
		}
		for i := range s {
			s[i] = float64(i) // the whole slice is writable
		}
	}
}
