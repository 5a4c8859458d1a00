//go:build !amd64 || purego || openblas

package gemm

// best32 is the fastest native float32 implementation for this platform;
// best64 is nil: F64 uses gonum's Dgemm.
var (
	best32 = genericImpl
	best64 *impl64
)

func impls32() []*impl32 { return []*impl32{genericImpl} }

func impls64() []*impl64 { return []*impl64{genericImpl64} }
