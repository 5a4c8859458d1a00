//go:build !race

package fode_test

const raceEnabled = false
