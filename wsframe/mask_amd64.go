//go:build !purego

package wsframe

//go:noescape
func maskAVX2(b *byte, n int, key uint64)

func cpuid(leaf, sub uint32) (a, b, c, d uint32)
func xgetbv() (eax uint32)

// useAVX2 is set when the CPU has AVX2 and the OS saves the YMM registers.
var useAVX2 = func() bool {
	_, _, c, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if c&osxsave == 0 || c&avx == 0 || xgetbv()&6 != 6 {
		return false
	}
	_, b, _, _ := cpuid(7, 0)
	return b&(1<<5) != 0
}()

// maskVector masks the longest prefix of b it can with vector instructions
// and returns the rest. k is the key word already rotated to b's offset.
//
//go:noinline
func maskVector(b []byte, k uint64) []byte {
	if !useAVX2 || len(b) < 128 {
		return b
	}
	n := len(b) &^ 127
	maskAVX2(&b[0], n, k)
	return b[n:]
}
