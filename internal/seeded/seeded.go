// Package seeded gives the module's gopter properties their parameters: a
// seed from PROPTEST_SEED (else the clock) that every run logs and a
// failure repeats with the command that replays it, and a case count that
// PROPTEST_N overrides. Reproduce a failure with the printed seed, never by
// replacing the parameters' Rng (that makes the printed seed wrong).
package seeded

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/leanovate/gopter"
)

// Parameters returns gopter parameters for the test t of the package at
// dir (as go test names it, e.g. "./wsconn"), with n successful cases
// unless PROPTEST_N says otherwise.
func Parameters(t testing.TB, dir string, n int) *gopter.TestParameters {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("PROPTEST_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("PROPTEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	if s := os.Getenv("PROPTEST_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("PROPTEST_N=%q: want a positive number", s)
		}
		n = v
	}
	p := gopter.DefaultTestParametersWithSeed(seed)
	p.MinSuccessfulTests = n
	t.Logf("seed %d, %d cases per property", seed, n)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay: PROPTEST_SEED=%d go test %s -run '^%s$'", seed, dir, t.Name())
		}
	})
	return p
}
