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

// parseAll feeds the whole stream and returns the payload bytes seen.
func parseAll(p *Parser, stream []byte) int {
	total := 0
	for {
		ev, n, err := p.Next(stream)
		if err != nil {
			panic(err)
		}
		stream = stream[n:]
		if ev.Kind == EventNone {
			return total
		}
		total += len(ev.Payload)
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
// feeds the stream in one call, "4KiB" in 4 KiB chunks as reads from a
// socket would deliver it.
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
				p := NewParser(Config{Role: RoleServer, MaxPayload: 1 << 30})
				b.SetBytes(int64(size))
				b.ReportAllocs()
				frames := 0
				for b.Loop() {
					if frames == 0 {
						p.Reset(Config{Role: RoleServer, MaxPayload: 1 << 30})
						if chunk == 0 {
							parseAll(p, stream)
						} else {
							for off := 0; off < len(stream); off += chunk {
								parseAll(p, stream[off:min(off+chunk, len(stream))])
							}
						}
					}
					frames = (frames + 1) % count
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
func BenchmarkCopy1MiB(b *testing.B) {
	src, dst := make([]byte, 1<<20), make([]byte, 1<<20)
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
				if _, ok := v.Feed(c.text); !ok {
					b.Fatal("invalid")
				}
			}
		})
	}
}
