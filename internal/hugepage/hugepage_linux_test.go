package hugepage

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkFirstTouch: touching every 4 KB page of 256 MB of fresh memory
// from the kernel (mapped anew each time, as a growing heap gets it), in
// small pages and advised for huge pages as Make advises its buffers; the
// difference is the kernel's cost of a first touch in small pages.
func BenchmarkFirstTouch(b *testing.B) {
	const n = 256 << 20
	for _, huge := range []bool{false, true} {
		name := "small"
		if huge {
			name = "huge"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(n)
			for range b.N {
				s, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
				if err != nil {
					b.Fatal(err)
				}
				if huge {
					advise(unsafe.Pointer(&s[0]), n)
				}
				for i := 0; i < n; i += 4096 {
					s[i] = 1
				}
				if err := unix.Munmap(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
