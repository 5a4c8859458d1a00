package fode

import (
	"fmt"
	"math"

	"github.com/gofde/gofde/internal/scratch"
)

// Memory returns an upper estimate of the bytes Solve allocates with these
// options for a batch of n = rows·dim state values: the grid states
// ((Steps+1)·n·8 bytes, or 4 with StoreFloat32), the stored field values
// and predictor iterates of the methods that keep them, the weight
// kernels, the buffers of the history engine and the output states, each
// pooled buffer rounded up to its size class (see Solution.Release). It
// counts a field that is not a StateFreeField; Solve's own check, which
// knows the field, counts a state-free one for the ring of states it
// keeps. Dopri5, whose step count is not known in advance, is counted for
// its first step; it checks its memory as it goes. The sum saturates at
// math.MaxInt64 instead of overflowing. The error reports invalid
// options, a non-positive n and an estimate above the budget
// (Options.MaxMemory, default DefaultMaxMemory).
//
// Memory does not count Grad, which allocates, beside the solution it
// reads, the cotangent stream of the reverse sweep (Steps·n values per
// combination of the scheme, float32 with StoreFloat32), the history
// engine's buffers over it and a few rows of n values: for the fixed-step
// methods at most about as much again as the solve.
func (o Options) Memory(n int) (int64, error) {
	o = o.withDefaults()
	steps, _, err := o.stepping()
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("fode: state of %d values must not be empty", n)
	}
	return o.checkMemory(steps, n, false)
}

// checkMemory estimates the bytes of a solve with the given step count and
// state size and refuses it above the budget.
func (o *Options) checkMemory(steps, n int, stateFree bool) (int64, error) {
	b := o.solveBytes(steps, n, stateFree)
	if int64(b) > o.MaxMemory {
		return int64(b), fmt.Errorf("fode: %d steps of %d state values with method %v would need %s, above the limit of %s (Options.MaxMemory): reduce Steps or the batch", steps, n, o.Method, fmtBytes(b), fmtBytes(satInt(o.MaxMemory)))
	}
	return int64(b), nil
}

// isStateFree reports whether f is a StateFreeField whose VJP ignores the
// state.
func isStateFree(f Field) bool {
	sf, ok := f.(StateFreeField)
	return ok && sf.StateFreeVJP()
}

// satInt is a non-negative int64 whose arithmetic saturates at
// math.MaxInt64 instead of overflowing.
type satInt int64

func (a satInt) mul(b int64) satInt {
	if a == 0 || b == 0 {
		return 0
	}
	if int64(a) > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * satInt(b)
}

func (a satInt) add(b satInt) satInt {
	if int64(a) > math.MaxInt64-int64(b) {
		return math.MaxInt64
	}
	return a + b
}

// pooled returns the bytes of a pooled buffer (getFloats, getFloats32) of
// the given number of values of size bytes each: its size class, or the
// values themselves for a big buffer.
func pooled(values satInt, size int64) satInt {
	if values >= satInt(minPooled) && values < satInt(bigPooled) {
		_, c := scratch.SizeClass(int(values))
		values = satInt(c)
	}
	return values.mul(size)
}

// memShape is what the memory estimates need to know about a scheme
// without building it.
type memShape struct {
	kernels   int64 // history kernels (terms)
	forms     int64 // combinations per step
	first     int64 // first step after the starting block
	stores    bool  // keeps every field value
	implicit  bool
	corrector int64 // PECE's μ, 0 for the others
	ring      bool  // a state-free field keeps only a ring of states
	scheme    satInt
}

func (o *Options) memShape(steps int, stateFree bool) memShape {
	N1 := satInt(steps).add(1)
	var s memShape
	s.first, s.forms, s.kernels = 1, 1, 1
	switch o.Method {
	case Rectangle:
		s.stores = true
		s.scheme = N1.mul(2 * 8)
	case PECE:
		s.stores, s.kernels, s.forms = true, 2, 2
		s.corrector = int64(1 + o.PECE.Correctors)
		s.scheme = N1.mul(6 * 8)
	case Trapezoid:
		s.stores, s.implicit = true, true
		s.scheme = N1.mul(4 * 8)
	case GL, GLImplicit, L1:
		s.implicit = o.Method != GL
		// Per term the weights and their partial sums, then the
		// combined kernel and weights of y_0.
		terms := int64(max(len(o.Orders), 1))
		s.scheme = N1.mul(8 * (2*terms + 4))
	case FLMM:
		s.stores, s.implicit = true, true
		K := int64(1)
		if o.Alpha >= FLMMMinAlpha {
			K = int64(math.Ceil(0.95/o.Alpha)) + 2
		}
		s.first = K
		// ω, the scaled kernel, and the starting weights, their powers,
		// right-hand sides and solution: s = K+2 values per grid point.
		s.scheme = N1.mul(8 * (4 + 4*K)).add(satInt(K * K * 8 * 4))
	}
	s.ring = stateFree && s.stores && s.corrector == 0 && o.Method != GL && o.Method != GLImplicit && o.Method != L1
	return s
}

// usesFFT reports whether the history engine of a solve of the given
// length may be the FFT.
func (o *Options) usesFFT(steps, n int) bool {
	reach := steps
	if M := o.ShortMemory; M > 0 && M < steps {
		reach = M
	}
	switch o.History {
	case Direct:
		return false
	case Auto:
		return reach >= autoCrossover(n)
	}
	return true
}

// fftBytes bounds the buffers of one FFT history over steps+1 rows of
// width n with the given kernels, accumulating in float32 or float64.
func fftBytes(steps, n int, kernels int64, acc32 bool) satInt {
	N1 := satInt(steps).add(1)
	size := int64(8)
	if acc32 {
		size = 4
	}
	per := pooled(satInt(accRows(int(min(N1, 1<<40)-1))).mul(int64(n)), size)
	// The matrix-product squares' Toeplitz blocks (float64 and, for a
	// float32 accumulator, float32), L = 32..256.
	per = per.add(satInt(32*32 + 64*64 + 128*128 + 256*256).mul(12))
	// The kernel spectra, about 2(N+1) complex values over all levels.
	per = per.add(N1.mul(32))
	// The gathered columns, their spectra and outputs, a group of
	// fftGroup at the top level's length (at most 4(N+1)).
	shared := N1.mul(4 * (fftGroup*(8+8+8) + 16))
	return per.mul(kernels).add(shared).add(1 << 12)
}

// solveBytes estimates the bytes Solve allocates (see Memory).
func (o *Options) solveBytes(steps, n int, stateFree bool) satInt {
	N1 := satInt(steps).add(1) // grid points
	nn := int64(n)
	row := satInt(nn).mul(8)
	times := int64(len(o.Times))
	// Grid times, outputs, their interpolation plan, two scratch rows and
	// the bookkeeping of the solve.
	b := N1.mul(8).add(row.mul(times)).add(satInt(times).mul(16)).add(row.mul(2)).add(1 << 14)
	switch o.Method {
	case Euler, RK4:
		b = b.add(pooled(N1.mul(nn), 8)).add(row.mul(5)) // Runge-Kutta stages
		return b
	case Dopri5:
		// The states grow with the accepted steps; dopri5 checks them as
		// it goes. Count the first step and the stages.
		return row.mul(16).add(row.mul(times)).add(1 << 14)
	}
	s := o.memShape(steps, stateFree)
	state := N1.mul(nn)
	kind := explicitStep
	switch {
	case s.implicit:
		kind = implicitStep
	case s.corrector > 0:
		kind = correctorStep
	}
	ring := satInt(ringSize(kind, int(s.first))).mul(nn)
	kept := row.mul(2 * times).add(satInt(times).mul(128))
	store32 := o.StoreFloat32
	switch {
	case s.ring:
		b = b.add(pooled(ring, 8)).add(kept)
	case store32:
		b = b.add(pooled(ring, 8)).add(pooled(state, 4)).add(kept)
	default:
		b = b.add(pooled(state, 8))
	}
	if s.stores {
		if store32 {
			// The field values in float32, the starting ones in float64,
			// and the newest before its rounding.
			b = b.add(pooled(satInt(s.first).mul(nn), 8)).add(pooled(state, 4)).add(row)
		} else {
			b = b.add(pooled(state, 8))
		}
	}
	b = b.add(pooled(state, 8).mul(s.corrector)) // PECE's iterates
	if s.implicit {
		b = b.add(row.mul(4 + 2*andersonDepth)) // Anderson buffers
	}
	if s.first > 1 {
		// The starting block's iteration over its steps.
		b = b.add(row.mul((s.first - 1) * (4 + 2*andersonDepth)))
	}
	b = b.add(row.mul(s.forms + s.kernels)).add(s.scheme) // sums, weights
	if o.usesFFT(steps, n) {
		b = b.add(fftBytes(steps, n, s.kernels, store32))
	}
	return b
}

// gradBytes estimates the bytes the adjoint of Grad allocates for a
// solution of these options (without dL/dα), beside the solution.
func (o *Options) gradBytes(steps, n int, stateFree bool) satInt {
	N1 := satInt(steps).add(1)
	nn := int64(n)
	row := satInt(nn).mul(8)
	times := int64(len(o.Times))
	b := row.mul(2*times + 8).add(1 << 14)
	if !o.Method.Fractional() {
		return b.add(row.mul(16)).add(N1.mul(8))
	}
	s := o.memShape(steps, stateFree)
	size := int64(8)
	if o.StoreFloat32 {
		size = 4
	}
	b = b.add(pooled(N1.mul(nn), size).mul(s.forms)) // the cotangent streams
	b = b.add(row.mul(2 + s.forms + 3*s.first))      // sums, working rows, starting rows
	if s.implicit {
		b = b.add(row.mul(4 + 2*andersonDepth))
	}
	if s.first > 1 {
		b = b.add(row.mul((s.first - 1) * (5 + 2*andersonDepth)))
	}
	if o.usesFFT(steps, n) {
		b = b.add(fftBytes(steps, n, s.kernels, o.StoreFloat32))
	}
	return b
}

// fmtBytes formats a byte count with a binary unit.
func fmtBytes(b satInt) string {
	switch {
	case b >= math.MaxInt64:
		return "more than 8 EiB"
	case b >= 1<<30:
		return fmt.Sprintf("%.3g GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.3g MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", int64(b))
}
