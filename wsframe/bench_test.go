package wsframe

import (
	"fmt"
	"testing"
)

// buildStream returns count frames with size-byte payloads, masked as a
// client sends them when masked is set.
func buildStream(size, count int, masked bool) []byte {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	var out []byte
	for i := 0; i < count; i++ {
		out = AppendFrame(out, Header{Fin: true, Opcode: OpBinary, Masked: masked, Mask: [4]byte{1, 2, 3, byte(i)}}, payload)
	}
	return out
}

// frameReader parses a stream one frame at a time, handing the parser
// chunk bytes at a time as reads from a socket would; at the end of the
// stream it starts over (the payloads are then masked again, which the
// parser does not look at).
type frameReader struct {
	p      *Parser
	cfg    Config
	stream []byte
	chunk  int    // bytes per read; the whole stream when 0
	off    int    // stream bytes handed out
	buf    []byte // the rest of the current read
}

// frame parses the next frame and returns its payload size.
func (r *frameReader) frame() int {
	total := 0
	for {
		if len(r.buf) == 0 {
			if r.off == len(r.stream) {
				r.off = 0
				r.p.Reset(r.cfg)
			}
			end := len(r.stream)
			if r.chunk > 0 {
				end = min(r.off+r.chunk, end)
			}
			r.buf, r.off = r.stream[r.off:end], end
		}
		ev, n, err := r.p.Next(r.buf)
		if err != nil {
			panic(err)
		}
		r.buf = r.buf[n:]
		if ev.Kind == TokenPayload {
			total += len(ev.Payload)
			if ev.End {
				return total
			}
		}
	}
}

var sizes = []int{16, 125, 1 << 10, 64 << 10, 1 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkParse parses masked client frames; one op is one frame. "whole"
// hands the parser the stream of about 1 MiB of frames in one buffer,
// "4KiB" in 4 KiB chunks as reads from a socket would deliver it.
func BenchmarkParse(b *testing.B) {
	for _, size := range sizes {
		count := max(1, (1<<20)/(size+14))
		stream := buildStream(size, count, true)
		for _, chunk := range []int{0, 4096} {
			name := "whole"
			if chunk > 0 {
				name = "4KiB"
			}
			b.Run(sizeName(size)+"/"+name, func(b *testing.B) {
				cfg := Config{Role: RoleServer, MaxPayload: 1 << 30}
				r := &frameReader{p: NewParser(cfg), cfg: cfg, stream: stream, chunk: chunk}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if r.frame() != size {
						b.Fatal("short frame")
					}
				}
			})
		}
	}
}

func BenchmarkMask1MiB(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		Mask([4]byte{1, 2, 3, 4}, 1, buf)
	}
}

// BenchmarkCopy1MiB is the memory-bandwidth reference for BenchmarkMask1MiB.
// The source is written first: a never-written one maps the kernel's zero
// page, which stays in cache and overstates bandwidth about twice.
func BenchmarkCopy1MiB(b *testing.B) {
	src, dst := make([]byte, 1<<20), make([]byte, 1<<20)
	for i := range src {
		src[i] = byte(i*7 + 1)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, src)
	}
}

func BenchmarkUTF8(b *testing.B) {
	ascii := make([]byte, 64<<10)
	for i := range ascii {
		ascii[i] = byte('a' + i%26)
	}
	var mixed []byte
	for len(mixed) < 64<<10 {
		mixed = append(mixed, "WebSocket – Вебсокет – ウェブソケット – 🔌 plug, "...)
	}
	for _, c := range []struct {
		name string
		text []byte
	}{{"ascii", ascii}, {"mixed", mixed}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.text)))
			b.ReportAllocs()
			for b.Loop() {
				var v UTF8Validator
				if _, ok := v.Check(c.text); !ok {
					b.Fatal("invalid")
				}
			}
		})
	}
}
