// Package decode compares frame decoding: wsframe's generated parser and
// gobwas/ws's ReadHeader + Cipher (the only peer with a public frame-level
// reader; gorilla, coder, gws and nbio decode frames only inside their
// connections). One op is one frame; the stream holds about 1 MiB of masked
// client frames of one size and is decoded whole or in 4 KiB chunks.
package decode

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/gobwas/ws"
	"github.com/wsfsm/wsfsm/wsframe"
)

var sizes = []int{16, 125, 1 << 10, 64 << 10, 1 << 20}

func name(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func stream(size int) ([]byte, int) {
	count := max(1, (1<<20)/(size+14))
	p := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), size/26+1)[:size]
	var out []byte
	for i := 0; i < count; i++ {
		out = wsframe.AppendFrame(out, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, byte(i)}}, p)
	}
	return out, count
}

// chunkReader hands out at most n bytes per Read, as a socket would.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

func modes() []int { return []int{0, 4096} }

func modeName(chunk int) string {
	if chunk == 0 {
		return "whole"
	}
	return "4KiB"
}

func BenchmarkDecode(b *testing.B) {
	for _, size := range sizes {
		data, count := stream(size)
		for _, chunk := range modes() {
			b.Run("wsfsm/"+name(size)+"/"+modeName(chunk), func(b *testing.B) {
				cfg := wsframe.Config{Role: wsframe.RoleServer, MaxPayload: 1 << 30}
				p := wsframe.NewParser(cfg)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var off int
				var buf []byte // the rest of the current read
				for b.Loop() {
					// One frame per op, read as gobwas reads it below: the
					// stream handed out whole or in chunks, from the start
					// again once used up.
					got := 0
					for {
						if len(buf) == 0 {
							if off == len(data) {
								off = 0
								p.Reset(cfg)
							}
							end := len(data)
							if chunk > 0 {
								end = min(off+chunk, end)
							}
							buf, off = data[off:end], end
						}
						ev, n, err := p.Next(buf)
						if err != nil {
							b.Fatal(err)
						}
						buf = buf[n:]
						if ev.Kind == wsframe.EventPayload {
							got += len(ev.Payload)
							if ev.End {
								break
							}
						}
					}
					if got != size {
						b.Fatal("short frame")
					}
				}
			})
			b.Run("gobwas/"+name(size)+"/"+modeName(chunk), func(b *testing.B) {
				payload := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var r io.Reader
				frames := 0
				for b.Loop() {
					if frames == 0 {
						if chunk == 0 {
							r = bytes.NewReader(data)
						} else {
							r = &chunkReader{b: data, n: chunk}
						}
					}
					h, err := ws.ReadHeader(r)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(r, payload[:h.Length]); err != nil {
						b.Fatal(err)
					}
					ws.Cipher(payload[:h.Length], h.Mask, 0)
					frames = (frames + 1) % count
				}
			})
		}
	}
}
