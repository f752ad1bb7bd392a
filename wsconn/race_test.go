//go:build race

package wsconn_test

// raceEnabled: the race detector changes what allocates, so allocation
// counts are checked without it.
const raceEnabled = true
