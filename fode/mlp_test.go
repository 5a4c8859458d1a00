package fode_test

import (
	"math"
	"math/rand/v2"
	"sync"
)

// scratch pools the hidden-layer buffers of mlp, so that the field, like a
// real one, allocates nothing per call.
var scratch sync.Pool

func getScratch(n int) *[]float64 {
	if p, ok := scratch.Get().(*[]float64); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]float64, n)
	return &b
}

// mlp is a small dense tanh network f(x) = W2 tanh(W1 x + b1) + b2 used as
// a generic nonlinear field in the tests. θ = (W1, b1, W2, b2), row-major.
type mlp struct{ d, k int }

func (m mlp) Dim() int       { return m.d }
func (m mlp) NumParams() int { return 2*m.d*m.k + m.k + m.d }
func (m mlp) Rowwise() bool  { return true }

func (m mlp) split(theta []float64) (w1, b1, w2, b2 []float64) {
	d, k := m.d, m.k
	return theta[:k*d], theta[k*d : k*d+k], theta[k*d+k : 2*k*d+k], theta[2*k*d+k:]
}

func (m mlp) Eval(dst []float64, _ float64, x, theta []float64) error {
	w1, b1, w2, b2 := m.split(theta)
	buf := getScratch(m.k)
	defer scratch.Put(buf)
	h := *buf
	for r := 0; r < len(x)/m.d; r++ {
		xr, out := x[r*m.d:(r+1)*m.d], dst[r*m.d:(r+1)*m.d]
		for i := range h {
			s := b1[i]
			for j, v := range xr {
				s += w1[i*m.d+j] * v
			}
			h[i] = math.Tanh(s)
		}
		for i := range out {
			s := b2[i]
			for j, v := range h {
				s += w2[i*m.k+j] * v
			}
			out[i] = s
		}
	}
	return nil
}

func (m mlp) VJP(xbar, thetabar []float64, _ float64, x, theta, v []float64) error {
	w1, b1, w2, _ := m.split(theta)
	var gw1, gb1, gw2, gb2 []float64
	if thetabar != nil {
		gw1, gb1, gw2, gb2 = m.split(thetabar)
	}
	buf := getScratch(2 * m.k)
	defer scratch.Put(buf)
	h, g := (*buf)[:m.k], (*buf)[m.k:]
	for r := 0; r < len(x)/m.d; r++ {
		xr, vr := x[r*m.d:(r+1)*m.d], v[r*m.d:(r+1)*m.d]
		for i := range h {
			s := b1[i]
			for j, xv := range xr {
				s += w1[i*m.d+j] * xv
			}
			h[i] = math.Tanh(s)
		}
		for j := range g {
			var s float64
			for i, vi := range vr {
				s += w2[i*m.k+j] * vi
			}
			g[j] = s * (1 - h[j]*h[j])
		}
		if thetabar != nil {
			for i, vi := range vr {
				gb2[i] += vi
				for j, hj := range h {
					gw2[i*m.k+j] += vi * hj
				}
			}
			for i, gi := range g {
				gb1[i] += gi
				for j, xv := range xr {
					gw1[i*m.d+j] += gi * xv
				}
			}
		}
		if xbar != nil {
			xb := xbar[r*m.d : (r+1)*m.d]
			for j := range xb {
				var s float64
				for i, gi := range g {
					s += w1[i*m.d+j] * gi
				}
				xb[j] = s
			}
		}
	}
	return nil
}

// randomVec returns n normal values times scale from a seeded source.
func randomVec(seed uint64, n int, scale float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * r.NormFloat64()
	}
	return v
}

// JVP makes mlp a fode.JVPField, for the forward-mode reference gradient.
func (m mlp) JVP(dst []float64, _ float64, x, theta, xdot, thetadot []float64) error {
	w1, b1, w2, _ := m.split(theta)
	var dw1, db1, dw2, db2 []float64
	if thetadot != nil {
		dw1, db1, dw2, db2 = m.split(thetadot)
	}
	h := make([]float64, m.k)
	hd := make([]float64, m.k)
	for r := 0; r < len(x)/m.d; r++ {
		xr, xd, out := x[r*m.d:(r+1)*m.d], xdot[r*m.d:(r+1)*m.d], dst[r*m.d:(r+1)*m.d]
		for i := range h {
			s, sd := b1[i], 0.0
			if thetadot != nil {
				sd = db1[i]
			}
			for j, v := range xr {
				s += w1[i*m.d+j] * v
				sd += w1[i*m.d+j] * xd[j]
				if thetadot != nil {
					sd += dw1[i*m.d+j] * v
				}
			}
			h[i] = math.Tanh(s)
			hd[i] = (1 - h[i]*h[i]) * sd
		}
		for i := range out {
			var s float64
			if thetadot != nil {
				s = db2[i]
			}
			for j := range h {
				s += w2[i*m.k+j] * hd[j]
				if thetadot != nil {
					s += dw2[i*m.k+j] * h[j]
				}
			}
			out[i] = s
		}
	}
	return nil
}
