//go:build race

package server

// raceEnabled: the race detector changes what allocates, so allocation
// counts are checked without it.
const raceEnabled = true
