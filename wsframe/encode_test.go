package wsframe

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestAppendHeaderShortestEncoding(t *testing.T) {
	for _, c := range []struct {
		length int64
		masked bool
		want   string
	}{
		{0, false, "82 00"},
		{125, false, "82 7D"},
		{126, false, "82 7E 00 7E"},
		{65535, false, "82 7E FF FF"},
		{65536, false, "82 7F 00 00 00 00 00 01 00 00"},
		{1 << 40, true, "82 FF 00 00 01 00 00 00 00 00 0A 0B 0C 0D"},
	} {
		h := Header{Fin: true, Opcode: OpBinary, Length: c.length, Masked: c.masked, Mask: [4]byte{10, 11, 12, 13}}
		got := AppendHeader(nil, h)
		if !bytes.Equal(got, unhex(c.want)) {
			t.Errorf("length %d: % X, want %s", c.length, got, c.want)
		}
		if HeaderSize(h) != len(got) {
			t.Errorf("length %d: HeaderSize %d, wrote %d", c.length, HeaderSize(h), len(got))
		}
	}
	if got := AppendHeader(nil, Header{Rsv: RSV1 | RSV3, Opcode: OpText}); !bytes.Equal(got, unhex("51 00")) {
		t.Errorf("RSV bits: % X", got)
	}
}

func TestAppendFrameRFCMaskedHello(t *testing.T) {
	got := AppendFrame(nil, Header{Fin: true, Opcode: OpText, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}}, []byte("Hello"))
	if want := unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58"); !bytes.Equal(got, want) {
		t.Errorf("% X, want % X", got, want)
	}
}

func maskNaive(key [4]byte, offset int, b []byte) {
	for i := range b {
		b[i] ^= key[(offset+i)%4]
	}
}

// Both paths, vector and word-wise, against the definition.
func TestMaskMatchesDefinitionAtAnyOffsetAndLength(t *testing.T) {
	vector := useAVX2
	defer func() { useAVX2 = vector }()
	for _, useAVX2 = range []bool{vector, false} {
		testMask(t)
	}
}

func testMask(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		n := r.IntN(600)
		off := r.IntN(1000)
		key := [4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
		buf := make([]byte, n)
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		want := append([]byte(nil), buf...)
		maskNaive(key, off, want)
		next := Mask(key, off, buf)
		if !bytes.Equal(buf, want) {
			t.Fatalf("n=%d off=%d vector=%v: mask differs", n, off, useAVX2)
		}
		if next != (off+n)%4 {
			t.Fatalf("n=%d off=%d: next offset %d", n, off, next)
		}
	}
}
