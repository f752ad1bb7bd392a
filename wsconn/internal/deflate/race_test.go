//go:build race

package deflate

// raceEnabled: under the race detector inflating and compressing run ten
// times slower, so the properties take fewer cases by default.
const raceEnabled = true
