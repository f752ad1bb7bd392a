package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"io"
	"testing"
)

// FuzzInflate: any bytes as the payload of one or two compressed messages,
// in any split, under any limit: never a panic, never more than limit
// bytes out, only ErrCorrupt or ErrTooBig as errors, and the same bytes as
// compress/flate's reader whenever that one succeeds within the limit.
//
//	go test ./wsconn/internal/deflate -run '^$' -fuzz FuzzInflate -fuzztime 5m
func FuzzInflate(f *testing.F) {
	for _, s := range []string{
		"\xf2\x48\xcd\xc9\xc9\x07\x00",                         // RFC 7692 §7.2.3.1
		"\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00",         // §7.2.3.3
		"\xf3\x48\xcd\xc9\xc9\x07\x00\x00",                     // §7.2.3.4
		"\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00", // §7.2.3.5
		"\x00", "", "\x07\x00", "\x00\x05\x00\x00\x00\x48",
	} {
		f.Add([]byte(s), uint16(100), uint8(0), uint16(0), false)
	}
	f.Add(zeroBomb(f, 2<<20)[:2000], uint16(1000), uint8(7), uint16(900), true)
	f.Add(withDict(f, "hello world, ", "hello world, hello world"), uint16(50), uint8(1), uint16(0), true)
	c, _ := NewCompressor(Config{})
	z, _ := c.Compress(nil, bytes.Join(smallJSON(20), nil))
	z2, _ := c.Compress(nil, smallJSON(21)[20])
	f.Add(append(z, z2...), uint16(4000), uint8(3), uint16(len(z)), true)

	f.Fuzz(func(t *testing.T, data []byte, limit uint16, piece uint8, cut uint16, takeover bool) {
		cfg := Config{NoContextTakeover: !takeover}
		d, err := NewDecompressor(cfg, int64(limit))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Abort()
		// One message, or two when cut falls inside the data.
		msgs := [][]byte{data}
		if k := int(cut); k > 0 && k < len(data) {
			msgs = [][]byte{data[:k], data[k:]}
		}
		var ref []byte // the reference's stream so far, for takeover
		for i, m := range msgs {
			got, err := inflateSplit(d, m, []int{int(piece) + 1})
			if len(got) > int(limit) {
				t.Fatalf("message %d: %d bytes out past a limit of %d", i, len(got), limit)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooBig) {
				t.Fatalf("message %d: unexpected error %v", i, err)
			}
			if code, ok := CodeOf(err); err != nil && (!ok || code != 1007 && code != 1009) {
				t.Fatalf("message %d: close code %d for %v", i, code, err)
			}
			// compress/flate on the same bytes: this message alone with
			// the earlier messages' output as its dictionary.
			var dict []byte
			if takeover {
				dict = ref
			}
			r := stdflate.NewReaderDict(bytes.NewReader(append(append(append([]byte{}, m...), tail[:]...), finalBlock[:]...)), dict)
			want, rerr := io.ReadAll(io.LimitReader(r, int64(limit)+1))
			if rerr == nil && len(want) <= int(limit) {
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("message %d: compress/flate gives %d bytes, we %d bytes and %v", i, len(want), len(got), err)
				}
			}
			if err == nil && rerr != nil {
				t.Fatalf("message %d: compress/flate fails (%v), we gave %d bytes", i, rerr, len(got))
			}
			if err != nil {
				return // the connection is dead
			}
			ref = append(ref, got...)
		}
	})
}
