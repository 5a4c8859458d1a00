package scratch

import "testing"

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
