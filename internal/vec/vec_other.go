//go:build !amd64 || purego

package vec

// The portable build has no vector kernels: the loops in vec.go do all
// the values.

func narrowVec(dst []float32, src []float64) int { return 0 }

func widenVec(dst []float64, src []float32) int { return 0 }

func rows32Vec(d []float64, a float64, x []float32, b float64, y []float32, add bool) int {
	return 0
}

func maxAbsVec(x []float64) (int, float64, float64) { return 0, 0, 0 }
