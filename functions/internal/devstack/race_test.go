//go:build race

package devstack

// raceEnabled builds the dev stack with -race too, so it reuses the test's
// compiled packages and is itself checked.
const raceEnabled = true
