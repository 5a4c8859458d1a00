//go:build !amd64 || purego

package gemm

// best32 and best64 are the portable Go implementations: the same
// blocking as the assembly kernels, so that F32, F64 and Shifted stay
// serial and allocation-free on every platform. (The openblas build sends
// F32 and F64 to OpenBLAS and uses them for Shifted only.)
var (
	best32 = genericImpl
	best64 = genericImpl64
)

func impls32() []*impl32 { return []*impl32{genericImpl} }

func impls64() []*impl64 { return []*impl64{genericImpl64} }
