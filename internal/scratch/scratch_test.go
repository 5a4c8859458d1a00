package scratch

import (
	"runtime/debug"
	"testing"
)

func TestBufferReuse(t *testing.T) {
	var b Buffer[float32]
	s := b.Get(100)
	if len(s) != 100 {
		t.Fatalf("Get(100) has length %d", len(s))
	}
	if o := b.Get(100); &o[0] == &s[0] {
		t.Fatal("a Get while the slice is out returned the same slice")
	}
	b.Put(s)
	if r := b.Get(50); len(r) != 50 || &r[0] != &s[0] {
		t.Error("Get(50) after Put did not reuse the kept slice")
	} else {
		b.Put(r)
	}
	if r := b.Get(200); &r[0] == &s[0] {
		t.Error("Get(200) reused a slice of capacity 100")
	} else {
		b.Put(r) // the larger one is kept
		if k := b.Get(150); &k[0] != &r[0] {
			t.Error("Put kept the smaller slice")
		}
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer[float64]
	done := make(chan bool)
	for g := range 4 {
		go func() {
			for i := range 200 {
				s := b.Get(64 + g)
				for j := range s {
					s[j] = float64(i) // a shared slice would race here
				}
				b.Put(s)
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
}

// TestSizeClasses: a class holds n, wastes less than a quarter of it
// (from 9 values on) and maps its own size to itself, so Put files a
// slice under the class Get took it from.
func TestSizeClasses(t *testing.T) {
	seen := map[int]int{}
	for n := 1; n < 1<<40; n += 1 + n/97 {
		idx, size := SizeClass(n)
		if size < n || (n > 8 && 4*(size-n) >= size) {
			t.Fatalf("n = %d: class size %d", n, size)
		}
		if i2, s2 := SizeClass(size); i2 != idx || s2 != size {
			t.Fatalf("n = %d: class (%d, %d), its size maps to (%d, %d)", n, idx, size, i2, s2)
		}
		if s, ok := seen[idx]; ok && s != size {
			t.Fatalf("class %d holds sizes %d and %d", idx, s, size)
		}
		seen[idx] = size
	}
}

// TestPoolSizes: slices of different sizes come back from their own
// classes, so a small slice handed back does not serve (and get dropped
// by) a large request, and a large one is not spent on a small request.
func TestPoolSizes(t *testing.T) {
	var p Pool[float32]
	small, large := p.Get(100), p.Get(5000)
	if len(*small) != 100 || cap(*small) != 112 || len(*large) != 5000 || cap(*large) != 5120 {
		t.Fatalf("lengths/capacities %d/%d and %d/%d", len(*small), cap(*small), len(*large), cap(*large))
	}
	(*large)[0] = 7
	p.Put(small)
	p.Put(large)
	// A sync.Pool may drop what it holds at any time (a collection), so
	// only check what comes back when something does.
	if b := p.Get(4900); cap(*b) != 5120 {
		t.Errorf("Get(4900): capacity %d, want the 5120 class", cap(*b))
	}
	if b := p.Get(100); cap(*b) != 112 {
		t.Errorf("Get(100): capacity %d, want the 112 class", cap(*b))
	}
	if b := p.Get(0); len(*b) != 0 {
		t.Errorf("Get(0): length %d", len(*b))
	}
	odd := make([]float32, 100)
	p.Put(&odd) // not a class size: ignored
	if b := p.Get(97); cap(*b) != 112 {
		t.Errorf("Get(97) after a foreign Put: capacity %d, want 112", cap(*b))
	}
}

// TestPoolReuse: in steady state a Get after a Put of its class
// allocates nothing.
func TestPoolReuse(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a collection empties the pool
	var p Pool[float64]
	p.Put(p.Get(3000))
	allocs := testing.AllocsPerRun(100, func() {
		b := p.Get(3000)
		p.Put(b)
		c := p.Get(20)
		p.Put(c)
	})
	if allocs > 0 {
		t.Errorf("%v allocations per Get/Put pair in steady state", allocs)
	}
}
