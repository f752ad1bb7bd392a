//go:build race

package interop

// raceEnabled: the race detector makes deflate ten times slower; the
// largest compressed messages are sent without it only.
const raceEnabled = true
