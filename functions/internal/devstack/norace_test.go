//go:build !race

package devstack

const raceEnabled = false
