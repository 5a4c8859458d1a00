package layers

import (
	"math"

	"github.com/gofde/gofde/conv"
)

// tanhTo writes dst[i] = tanh(src[i]): math.Tanh in float64, tanh32 in
// float32 (four values at a time with AVX2 and FMA).
func tanhTo[T conv.Float](dst, src []T) {
	src = src[:len(dst)]
	switch d := any(dst).(type) {
	case []float32:
		s := any(src).([]float32)
		done := tanhVec(d, s)
		for i, v := range s[done:] {
			d[done+i] = tanh32(v)
		}
	case []float64:
		for i, v := range any(src).([]float64) {
			d[i] = math.Tanh(v)
		}
	}
}

// tanh32 is tanh to float32 precision without branches on the argument's
// size, where math.Tanh switches between a polynomial and exp (on the
// mixed-sign, mixed-size values of a hidden layer the mispredicted branch
// and exp make math.Tanh 15-25 ns a value; tanh32 takes about 3 ns). On
// |x| ≤ 9 it is the rational function x·P(x²)/Q(x²) with P and Q of
// degree 4, a weighted least-squares fit of the relative error (below
// 6e-8 on the whole interval, under float32's half ulp); beyond, tanh
// rounds to ±1 in float32.
func tanh32(v float32) float32 {
	x := float64(v)
	x = max(-9, min(9, x)) // NaN stays NaN
	z := x * x
	p := 0.9999999864000815 + z*(0.13392882794616293+z*(0.003509655357766424+z*(2.084000857344951e-05+z*1.367364482751654e-08)))
	q := 1 + z*(0.46726202296437136+z*(0.025930537548583606+z*(0.0003308615618812027+z*7.907321817150759e-07)))
	return float32(x * p / q)
}
