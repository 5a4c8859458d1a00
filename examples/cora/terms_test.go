package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestMultiTerm trains briefly with a fixed two-term equation, with its
// orders and coefficients learned, and with a short memory: the JSON
// reports them, and learned orders and coefficients stay in their bounds.
func TestMultiTerm(t *testing.T) {
	data := coraFixture(t)
	for _, extra := range [][]string{
		{"-method", "gl", "-orders", "0.5,0.9", "-coeffs", "0.5,0.5"},
		{"-method", "l1", "-orders", "0.6,1", "-learn-orders", "-lr", "0.2"},
		{"-method", "gl-implicit", "-orders", "0.7,0.4", "-learn-orders", "-field", "attention", "-attn-from", "state"},
		{"-memory", "2"},
	} {
		t.Run(strings.Join(extra, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"-data", data, "-runs", "1", "-epochs", "4", "-patience", "0", "-T", "2", "-steps", "4", "-hidden", "8", "-json", "-quiet"}, extra...)
			if err := run(args, &out, &errb); err != nil {
				t.Fatalf("%v\n%s", err, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var r result
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(strings.Join(extra, " "), "-memory 2") != (r.Memory == 2) {
				t.Errorf("memory %d in the JSON", r.Memory)
			}
			if len(r.Orders) == 0 && strings.Contains(strings.Join(extra, " "), "-orders") {
				t.Error("no orders in the JSON")
			}
			learn := strings.Contains(strings.Join(extra, " "), "-learn-orders")
			if learn != (len(r.LearnedOrders) == 1 && len(r.LearnedCoeffs) == 1) {
				t.Fatalf("learned orders %v and coefficients %v in the JSON", r.LearnedOrders, r.LearnedCoeffs)
			}
			if !learn {
				return
			}
			moved := false
			for i, a := range r.LearnedOrders[0] {
				if !(a >= minAlpha && a <= 1) || !(r.LearnedCoeffs[0][i] >= minCoeff) {
					t.Errorf("learned order %v, coefficient %v out of bounds", a, r.LearnedCoeffs[0][i])
				}
				moved = moved || a != r.Orders[i]
			}
			if !moved {
				t.Errorf("the orders did not move from %v", r.Orders)
			}
		})
	}
}

func TestMultiTermBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-orders", "0.5,0.9"}, "multi-term"},
		{[]string{"-method", "gl", "-orders", "0.5,x"}, "-orders: value 2"},
		{[]string{"-method", "gl", "-orders", "0.5,1.5"}, "order"},
		{[]string{"-method", "gl", "-orders", "0.5,0.9", "-coeffs", "1"}, "coeff"},
		{[]string{"-method", "gl", "-orders", "0.5", "-coeffs", "-1"}, "coeff"},
		{[]string{"-coeffs", "1,2"}, "-coeffs needs -orders"},
		{[]string{"-learn-orders"}, "-learn-orders needs -orders"},
		{[]string{"-method", "gl", "-orders", "0.5", "-learn-alpha"}, "-learn-orders"},
		{[]string{"-method", "gl", "-orders", "0.5", "-learn-orders", "-field", "attention"}, "-attn-from state"},
		{[]string{"-memory", "-1"}, "-memory -1"},
		{[]string{"-method", "gl", "-orders", strings.Repeat("0.5,", 64) + "0.5"}, "at most 64"},
	} {
		var errb bytes.Buffer
		_, err := parse(c.args, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}
