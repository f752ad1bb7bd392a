package proptest

import "testing"

// FuzzParser: on any input, any split, either role and configuration, the
// generated parser agrees with the reference decoder and does not panic.
func FuzzParser(f *testing.F) {
	for _, s := range edgeStreams {
		f.Add(unhex(s), true, uint8(0), uint16(0), uint8(3))
		f.Add(unhex(s), false, uint8(4), uint16(100), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, server bool, rsv uint8, limit uint16, chunk uint8) {
		c := RefConfig{Server: server, AllowedRSV: rsv & 7, MaxPayload: defaultLimit}
		if limit > 0 {
			c.MaxPayload = uint64(limit)
		}
		want := RefDecode(in, c)
		if d := diff(Parse(c, in, nil), want); d != "" {
			t.Fatalf("whole input: %s", d)
		}
		if d := diff(Parse(c, in, []int{int(chunk%64) + 1}), want); d != "" {
			t.Fatalf("chunks of %d: %s", chunk%64+1, d)
		}
	})
}

// FuzzUTF8: the validator agrees with unicode/utf8 and the first-byte
// oracle, whole and split.
func FuzzUTF8(f *testing.F) {
	f.Add([]byte("héllo wörld €"), uint8(1))
	f.Add([]byte("\xF0\x9F\x94\x8C plug"), uint8(2))
	for _, d := range Defects {
		f.Add(append([]byte("ab"), d...), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		if d := checkUTF8(in, nil); d != "" {
			t.Fatal(d)
		}
		if d := checkUTF8(in, []int{int(chunk%16) + 1}); d != "" {
			t.Fatalf("chunks of %d: %s", chunk%16+1, d)
		}
	})
}
