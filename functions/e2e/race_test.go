//go:build race

package e2e

// raceEnabled builds the stack the examples run against with -race too, so
// it reuses the test's compiled packages.
const raceEnabled = true
