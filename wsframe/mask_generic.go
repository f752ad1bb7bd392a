//go:build !amd64 || purego

package wsframe

// useAVX2 is false where there is no assembly (other architectures, or the
// purego build tag).
var useAVX2 = false

// maskVector leaves all of b to the word-wise loop.
func maskVector(b []byte, k uint64) []byte { return b }
