package ops

import (
	"errors"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gofde/gofde/fode"
	"github.com/gofde/gofde/fode/problems"
)

// TestCause: a machine error around a non-finite FDE input comes back as
// the op's own error, and errors.Is still finds fode.ErrNotFinite.
func TestCause(t *testing.T) {
	lin, _ := problems.NewLinear(3)
	l := buildLoss(t, tensor.Float64, false, true, Config{Field: lin, Solve: fode.Options{Method: fode.Rectangle, Alpha: 0.5, T: 1, Steps: 4}})
	x := l.x0.Value().Data().([]float64)
	x[0] = math.NaN()
	vm := G.NewTapeMachine(l.g)
	defer vm.Close()
	err := vm.RunAll()
	if err == nil {
		t.Fatal("NaN initial state: no error")
	}
	c := Cause(err)
	if !strings.HasPrefix(c.Error(), "ops: FDE") || !errors.Is(c, fode.ErrNotFinite) {
		t.Errorf("Cause = %q (from %q)", c, err)
	}
	other := errors.New("elsewhere")
	if Cause(other) != other {
		t.Error("Cause changed an error of other origin")
	}
}
