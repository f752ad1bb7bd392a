// Package decode compares frame decoding: wsframe's generated parser and
// gobwas/ws's ReadHeader + Cipher (the only peer with a public frame-level
// reader; gorilla, coder, gws and nbio decode frames only inside their
// connections).
//
// Both decoders get their bytes the same way, as from a socket: through the
// same reader (socket), which copies at most 4 KiB or 64 KiB per Read from
// a stream of masked client frames in memory that was written. Each reads
// through a 4 KiB buffer of its own, and each delivers every frame's
// payload unmasked and contiguous: wsframe as wsconn reads (a frame whole
// in the read buffer is handed out where it lies, a larger one is gathered
// in a payload buffer, and a payload of at least the buffer's size is read
// straight into it); gobwas as its README and wsutil do (ReadHeader on a
// bufio.Reader, io.ReadFull into the payload buffer, Cipher). One op is
// one frame.
//
// BenchmarkInPlace is wsframe alone parsing the stream where it lies, with
// no copy at all: no peer can be put beside it. BenchmarkMemory is the
// physical limit: a memmove of 1 MiB of written memory, and each library's
// masking of 1 MiB in place.
package decode

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/gobwas/ws"
	"github.com/wsfsm/wsfsm/bench/internal/procstat"
	"github.com/wsfsm/wsfsm/wsframe"
)

var sizes = []int{16, 125, 1 << 10, 64 << 10, 1 << 20}

// reads are the most a socket read returns: a TCP segment's worth, and
// what loopback hands out when data has piled up.
var reads = []int{4 << 10, 64 << 10}

// bufSize is each decoder's read buffer (wsconn's default, and a size
// gobwas users pass to bufio).
const bufSize = 4 << 10

func name(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// stream returns about 1 MiB (at least one frame) of masked client frames
// with size-byte payloads.
func stream(size int) []byte {
	count := max(1, (1<<20)/(size+14))
	p := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), size/26+1)[:size]
	var out []byte
	for i := 0; i < count; i++ {
		out = wsframe.AppendFrame(out, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, byte(i)}}, p)
	}
	return out
}

// socket is an endless stream of frames (data over and over) read as from
// a socket: each Read copies at most max bytes, and never past the end of
// data, so that a read ends where the stream starts over. data is never
// written, so every pass reads the same masked frames.
type socket struct {
	data []byte
	off  int
	max  int
}

func (s *socket) Read(p []byte) (int, error) {
	if s.off == len(s.data) {
		s.off = 0
	}
	n := copy(p[:min(len(p), s.max)], s.data[s.off:])
	s.off += n
	return n, nil
}

// wsfsmReader decodes frames from r the way wsconn.Conn does.
type wsfsmReader struct {
	p       *wsframe.Parser
	r       io.Reader
	rbuf    []byte
	buf     []byte // read, not parsed yet
	payload []byte // a frame gathered from several reads
}

// frame returns the next frame's payload, unmasked, valid until the next
// call.
func (d *wsfsmReader) frame() ([]byte, error) {
	d.payload = d.payload[:0]
	for {
		if len(d.buf) == 0 {
			if rem := d.p.Remaining(); rem >= int64(len(d.rbuf)) {
				// A large payload: read it where it goes, unmask it there.
				start := len(d.payload)
				if cap(d.payload)-start < int(rem) {
					d.payload = append(d.payload[:cap(d.payload)], make([]byte, start+int(rem)-cap(d.payload))...)[:start]
				}
				n, err := d.r.Read(d.payload[start : start+int(rem)])
				if err != nil {
					return nil, err
				}
				ev, _, err := d.p.Next(d.payload[start : start+n])
				if err != nil {
					return nil, err
				}
				d.payload = d.payload[:start+n]
				if ev.Kind == wsframe.TokenPayload && ev.End {
					return d.payload, nil
				}
				continue
			}
			n, err := d.r.Read(d.rbuf)
			if err != nil {
				return nil, err
			}
			d.buf = d.rbuf[:n]
		}
		ev, n, err := d.p.Next(d.buf)
		if err != nil {
			return nil, err
		}
		d.buf = d.buf[n:]
		if ev.Kind != wsframe.TokenPayload {
			continue
		}
		if ev.End && len(d.payload) == 0 {
			return ev.Payload, nil // whole in the read buffer
		}
		d.payload = append(d.payload, ev.Payload...)
		if ev.End {
			return d.payload, nil
		}
	}
}

// gobwasReader decodes frames from r as gobwas/ws's README and wsutil do.
type gobwasReader struct {
	r       *bufio.Reader
	payload []byte
}

func (d *gobwasReader) frame() ([]byte, error) {
	h, err := ws.ReadHeader(d.r)
	if err != nil {
		return nil, err
	}
	if int64(cap(d.payload)) < h.Length {
		d.payload = make([]byte, h.Length)
	}
	p := d.payload[:h.Length]
	if _, err := io.ReadFull(d.r, p); err != nil {
		return nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return p, nil
}

// The readers deliver the frames' payloads, unmasked, whole.
func TestReaders(t *testing.T) {
	for _, size := range sizes {
		data := stream(size)
		want := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), size/26+1)[:size]
		for _, most := range append(reads, 1, 100) {
			readers := map[string]interface{ frame() ([]byte, error) }{
				"wsfsm":  newWsfsm(&socket{data: data, max: most}),
				"gobwas": &gobwasReader{r: bufio.NewReaderSize(&socket{data: data, max: most}, bufSize)},
			}
			for lib, r := range readers {
				for i := 0; i < 3*max(1, (1<<20)/(size+14))/2; i++ { // one and a half passes
					p, err := r.frame()
					if err != nil {
						t.Fatalf("%s %s reads of %d, frame %d: %v", lib, name(size), most, i, err)
					}
					if !bytes.Equal(p, want) {
						t.Fatalf("%s %s reads of %d, frame %d: wrong payload", lib, name(size), most, i)
					}
				}
			}
		}
	}
}

func newWsfsm(r io.Reader) *wsfsmReader {
	return &wsfsmReader{
		p:    wsframe.NewParser(wsframe.Config{Role: wsframe.RoleServer, MaxPayload: 1 << 30}),
		r:    r,
		rbuf: make([]byte, bufSize),
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, size := range sizes {
		data := stream(size)
		for _, max := range reads {
			mode := "read" + name(max)
			b.Run("wsfsm/"+name(size)+"/"+mode, func(b *testing.B) {
				decode(b, size, newWsfsm(&socket{data: data, max: max}))
			})
			b.Run("gobwas/"+name(size)+"/"+mode, func(b *testing.B) {
				decode(b, size, &gobwasReader{r: bufio.NewReaderSize(&socket{data: data, max: max}, bufSize)})
			})
		}
	}
}

func decode(b *testing.B, size int, r interface{ frame() ([]byte, error) }) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	defer procstat.Watch(b)()
	for b.Loop() {
		p, err := r.frame()
		if err != nil {
			b.Fatal(err)
		}
		if len(p) != size {
			b.Fatal("short frame")
		}
	}
}

// BenchmarkInPlace: wsframe parsing the stream where it lies in memory, the
// whole of it at once, nothing copied (payloads are unmasked in place, so
// every other pass sees them unmasked; the parser does not look at them).
func BenchmarkInPlace(b *testing.B) {
	for _, size := range sizes {
		data := stream(size)
		b.Run("wsfsm/"+name(size)+"/inplace", func(b *testing.B) {
			cfg := wsframe.Config{Role: wsframe.RoleServer, MaxPayload: 1 << 30}
			p := wsframe.NewParser(cfg)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			defer procstat.Watch(b)()
			var buf []byte
			for b.Loop() {
				got := 0
				for {
					if len(buf) == 0 {
						buf = data
						p.Reset(cfg)
					}
					ev, n, err := p.Next(buf)
					if err != nil {
						b.Fatal(err)
					}
					buf = buf[n:]
					if ev.Kind == wsframe.TokenPayload {
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
	}
}

// BenchmarkMemory: the physical limit. A memmove of 1 MiB from memory that
// was written (a never-written source maps the kernel's zero page, which
// stays in cache and overstates bandwidth about twice), and each library's
// masking of 1 MiB in place.
func BenchmarkMemory(b *testing.B) {
	const n = 1 << 20
	written := func() []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + 1)
		}
		return p
	}
	b.Run("memmove/1MiB/memory", func(b *testing.B) {
		src, dst := written(), written()
		b.SetBytes(n)
		defer procstat.Watch(b)()
		for b.Loop() {
			copy(dst, src)
		}
	})
	b.Run("wsfsm/1MiB/memory", func(b *testing.B) {
		p := written()
		b.SetBytes(n)
		defer procstat.Watch(b)()
		for b.Loop() {
			wsframe.Mask([4]byte{1, 2, 3, 4}, 1, p)
		}
	})
	b.Run("gobwas/1MiB/memory", func(b *testing.B) {
		p := written()
		b.SetBytes(n)
		defer procstat.Watch(b)()
		for b.Loop() {
			ws.Cipher(p, [4]byte{1, 2, 3, 4}, 1)
		}
	})
}
