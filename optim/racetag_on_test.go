//go:build race

package optim_test

// raceEnabled reports a -race build, where allocation counts mean nothing.
const raceEnabled = true
