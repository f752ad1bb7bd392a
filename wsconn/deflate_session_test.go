package wsconn

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/internal/seeded"
	"github.com/wsfsm/wsfsm/wsframe"
)

// deflateSessions returns a client and a server session that agreed on p.
func deflateSessions(p handshake.DeflateParams, limit int64, threshold int) (client, server *Session) {
	client = NewSession(SessionConfig{Role: wsframe.RoleClient, MaxMessageSize: limit, Deflate: &p, CompressThreshold: threshold})
	server = NewSession(SessionConfig{Role: wsframe.RoleServer, MaxMessageSize: limit, Deflate: &p, CompressThreshold: threshold})
	return client, server
}

// sendMessage appends m as from's next message, compressed when from
// decides so; it reports whether it was.
func sendMessage(t testing.TB, from *Session, dst []byte, op wsframe.Opcode, m []byte) ([]byte, bool) {
	z, ok, err := from.Compress(m)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		dst, err = from.AppendCompressed(dst, op, z)
	} else {
		dst, err = from.AppendFrame(dst, op, true, m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dst, ok
}

type gotMessage struct {
	op   wsframe.Opcode
	data []byte
}

// receive feeds wire to s in pieces of the given sizes (cycled) and returns
// the messages, with the error that stopped it.
func receive(s *Session, wire []byte, sizes []int) ([]gotMessage, error) {
	var out []gotMessage
	var cur []byte
	for i := 0; len(wire) > 0; i++ {
		n := len(wire)
		if len(sizes) > 0 {
			n = min(max(sizes[i%len(sizes)], 1), len(wire))
		}
		chunk := append([]byte(nil), wire[:n]...) // the session unmasks in place
		wire = wire[n:]
		for {
			ev, k, err := s.Next(chunk)
			chunk = chunk[k:]
			if err != nil {
				return out, err
			}
			if ev.Kind == EventNone {
				break
			}
			if ev.Kind == EventData {
				cur = append(cur, ev.Data...)
				if ev.End {
					out = append(out, gotMessage{ev.Opcode, cur})
					cur = nil
				}
			}
		}
	}
	return out, nil
}

func deflateProps(t *testing.T) *gopter.Properties {
	p := seeded.Parameters(t, "./wsconn", 100)
	p.MaxSize = 20
	return gopter.NewProperties(p)
}

// Property: messages sent by one session (compressed above the threshold,
// plain below) come out of the other whole and equal, in both roles, under
// every agreement and any split of the stream.
func TestDeflateSessionRoundTrip(t *testing.T) {
	props := deflateProps(t)
	params := gopter.CombineGens(gen.Bool(), gen.Bool(), gen.OneConstOf(0, 8, 11, 15), gen.OneConstOf(0, 9, 12, 15)).
		Map(func(v []any) handshake.DeflateParams {
			return handshake.DeflateParams{ServerNoContextTakeover: v[0].(bool), ClientNoContextTakeover: v[1].(bool),
				ServerMaxWindowBits: v[2].(int), ClientMaxWindowBits: v[3].(int)}
		})
	text := gen.SliceOf(gen.OneConstOf(`{"type":"tick","bid":101.25}`, "héllo ", "wörld ", "\n", "x")).Map(func(s []string) []byte {
		var b []byte
		for k := 0; k < 1+len(s)%5; k++ {
			for _, w := range s {
				b = append(b, w...)
			}
		}
		return b
	})
	props.Property("receive(split(send(messages))) == messages, both roles", prop.ForAll(
		func(p handshake.DeflateParams, msgs [][]byte, sizes []int, threshold int) string {
			client, server := deflateSessions(p, 1<<20, threshold)
			for _, dir := range []struct {
				name     string
				from, to *Session
			}{{"client→server", client, server}, {"server→client", server, client}} {
				var wire []byte
				compressed := 0
				for i, m := range msgs {
					op := wsframe.OpText
					if i%2 == 1 {
						op = wsframe.OpBinary
					}
					var ok bool
					wire, ok = sendMessage(t, dir.from, wire, op, m)
					if ok {
						compressed++
					}
				}
				got, err := receive(dir.to, wire, sizes)
				if err != nil {
					return fmt.Sprintf("%s: %v", dir.name, err)
				}
				if len(got) != len(msgs) {
					return fmt.Sprintf("%s: %d messages of %d", dir.name, len(got), len(msgs))
				}
				for i := range msgs {
					if !bytes.Equal(got[i].data, msgs[i]) {
						return fmt.Sprintf("%s: message %d differs", dir.name, i)
					}
				}
			}
			return ""
		},
		params, gen.SliceOf(text), gen.SliceOf(gen.IntRange(1, 300)), gen.OneConstOf(-1, 0, 10, 1000),
	))
	props.TestingRun(t)
}

func compressedFrame(t testing.TB, op wsframe.Opcode, fin bool, payload []byte) []byte {
	return wsframe.AppendFrame(nil, wsframe.Header{Fin: fin, Rsv: wsframe.RSV1, Opcode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, payload)
}

func deflated(t testing.TB, m []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(m)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// closeCode is the code of the Close the session queued.
func closeCode(t testing.TB, s *Session) wsframe.CloseCode {
	p := wsframe.NewParser(wsframe.Config{Role: wsframe.RoleClient})
	buf := append([]byte(nil), s.Pending()...)
	var op wsframe.Opcode
	var payload []byte
	for {
		ev, n, err := p.Next(buf)
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[n:]
		if ev.Kind == wsframe.TokenNone {
			break
		}
		if ev.Kind == wsframe.TokenHeader {
			op = ev.Header.Opcode
		} else {
			payload = append(payload, ev.Payload...)
		}
	}
	if op != wsframe.OpClose || len(payload) < 2 {
		t.Fatalf("no Close queued: %x", s.Pending())
	}
	return wsframe.CloseCode(payload[0])<<8 | wsframe.CloseCode(payload[1])
}

// RFC 7692 §6.1 and RFC 6455 §5.2: where RSV1 may and may not appear; corrupt
// data, inflated text that is not UTF-8, and an inflated size past the
// limit each end the connection with their Close code.
func TestDeflateSessionRules(t *testing.T) {
	on := &handshake.DeflateParams{}
	hello := deflated(t, []byte("Hello"))
	for _, c := range []struct {
		name   string
		params *handshake.DeflateParams
		wire   []byte
		code   wsframe.CloseCode
		ok     string // the message delivered when code is 0
	}{
		{"compressed text", on, compressedFrame(t, wsframe.OpText, true, hello), 0, "Hello"},
		{"compressed in two fragments", on, append(compressedFrame(t, wsframe.OpText, false, hello[:3]),
			masked(wsframe.OpContinuation, true, string(hello[3:]))...), 0, "Hello"},
		{"plain message with the extension on", on, masked(wsframe.OpText, true, "Hello"), 0, "Hello"},
		{"RSV1 without the extension", nil, compressedFrame(t, wsframe.OpText, true, hello), 1002, ""},
		{"RSV1 on a continuation", on, append(masked(wsframe.OpText, false, "He"),
			compressedFrame(t, wsframe.OpContinuation, true, []byte("llo"))...), 1002, ""},
		{"RSV1 on a continuation of a compressed message", on, append(compressedFrame(t, wsframe.OpText, false, hello[:3]),
			compressedFrame(t, wsframe.OpContinuation, true, hello[3:])...), 1002, ""},
		{"RSV1 on a ping", on, compressedFrame(t, wsframe.OpPing, true, nil), 1002, ""},
		{"RSV1 on a close", on, compressedFrame(t, wsframe.OpClose, true, []byte{3, 232}), 1002, ""},
		{"corrupt deflate data", on, compressedFrame(t, wsframe.OpBinary, true, []byte{0x07, 0x00}), 1007, ""},
		{"inflated text not UTF-8", on, compressedFrame(t, wsframe.OpText, true, deflated(t, []byte("ok \xff"))), 1007, ""},
		{"inflated past the limit", on, compressedFrame(t, wsframe.OpBinary, true, deflated(t, make([]byte, 2000))), 1009, ""},
	} {
		for _, sizes := range [][]int{nil, {1}, {3, 7}} {
			s := NewSession(SessionConfig{Role: wsframe.RoleServer, MaxMessageSize: 1000, Deflate: c.params})
			got, err := receive(s, c.wire, sizes)
			if c.code == 0 {
				if err != nil || len(got) != 1 || string(got[0].data) != c.ok {
					t.Errorf("%s, pieces %v: %v %v", c.name, sizes, got, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s, pieces %v: accepted %v", c.name, sizes, got)
				continue
			}
			if code := closeCode(t, s); code != c.code {
				t.Errorf("%s, pieces %v: close %d, want %d (%v)", c.name, sizes, code, c.code, err)
			}
		}
	}
}

// A 1 GiB run of zeros compressed (about 1 MB; the wire limit lets it
// through) is refused with 1009 after at most the message limit of output,
// as one frame and as many fragments, with memory flat.
func TestDeflateSessionBomb(t *testing.T) {
	bomb := zeroBomb(1 << 10)
	const limit = 4 << 20
	if int64(len(bomb)) > compressedLimit(limit) {
		t.Fatalf("the bomb is %d bytes compressed, over the wire limit", len(bomb))
	}
	one := compressedFrame(t, wsframe.OpBinary, true, bomb)
	var frags []byte
	for off := 0; off < len(bomb); off += 64 << 10 {
		end := min(off+64<<10, len(bomb))
		if off == 0 {
			frags = append(frags, compressedFrame(t, wsframe.OpBinary, end == len(bomb), bomb[off:end])...)
		} else {
			frags = append(frags, masked(wsframe.OpContinuation, end == len(bomb), string(bomb[off:end]))...)
		}
	}
	for name, wire := range map[string][]byte{"one frame": one, "64 KiB fragments": frags} {
		s := NewSession(SessionConfig{Role: wsframe.RoleServer, MaxMessageSize: limit, Deflate: &handshake.DeflateParams{}})
		delivered := 0
		var err error
		in := wire
		for err == nil && len(in) > 0 {
			chunk := in[:min(len(in), 16<<10)]
			in = in[len(chunk):]
			for len(chunk) > 0 {
				var ev *Event
				var n int
				ev, n, err = s.Next(chunk)
				chunk = chunk[n:]
				if err != nil || ev.Kind == EventNone {
					break
				}
				delivered += len(ev.Data)
			}
		}
		if !errors.Is(err, wsframe.ErrMessageTooBig) || closeCode(t, s) != 1009 {
			t.Fatalf("%s: %v", name, err)
		}
		if delivered > limit {
			t.Errorf("%s: %d bytes delivered past a limit of %d", name, delivered, limit)
		}
		if consumed := len(wire) - len(in); consumed > len(wire)/2 {
			t.Errorf("%s: refused after %d of %d compressed bytes", name, consumed, len(wire))
		}
	}
}

// zeroBomb is mib MiB of zeros compressed: the first MiB compressed and
// flushed, then the second MiB's compressed bytes repeated (they only
// refer to zeros within the window, so they mean 1 MiB of zeros again
// wherever they follow zeros).
func zeroBomb(mib int) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	zeros := make([]byte, 1<<20)
	w.Write(zeros)
	w.Flush()
	first := len(b.Bytes())
	w.Write(zeros)
	w.Flush()
	bomb := append([]byte(nil), b.Bytes()...)
	for range mib - 2 {
		bomb = append(bomb, b.Bytes()[first:]...)
	}
	return bytes.TrimSuffix(bomb, []byte{0, 0, 0xff, 0xff})
}

// Inflated text is validated as a whole: a code point may straddle the
// pieces the inflater delivers.
func TestDeflateSessionUTF8AcrossPieces(t *testing.T) {
	msg := bytes.Repeat([]byte("héllo wörld ✓ "), 5000)
	if !utf8.Valid(msg) {
		t.Fatal("bad test")
	}
	s := NewSession(SessionConfig{Role: wsframe.RoleServer, Deflate: &handshake.DeflateParams{}})
	got, err := receive(s, compressedFrame(t, wsframe.OpText, true, deflated(t, msg)), []int{1, 1000})
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].data, msg) {
		t.Fatalf("%v", err)
	}
}

// BenchmarkIdleSessionMemory: the heap one server session holds between
// messages, at 2,000 sessions, after receiving and sending 8 messages of
// about 5 KiB (enough to fill 32 KiB windows), without the extension and
// with it, with and without context takeover.
//
//	go test -run '^$' -bench IdleSessionMemory -benchtime 1x ./wsconn
func BenchmarkIdleSessionMemory(b *testing.B) {
	var msgs [][]byte
	for i := range 8 {
		msgs = append(msgs, bytes.Repeat([]byte(fmt.Sprintf(`{"type":"tick","symbol":"S%d","bid":%d.25,"ts":17000%d},`, i, 100+i, i)), 90))
	}
	for _, c := range []struct {
		name string
		p    *handshake.DeflateParams
	}{
		{"off", nil},
		{"takeover", &handshake.DeflateParams{}},
		{"no_takeover", &handshake.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			const n = 2000
			var per float64
			for b.Loop() {
				gc := func() uint64 {
					var ms runtime.MemStats
					for range 3 {
						runtime.GC()
					}
					runtime.ReadMemStats(&ms)
					return ms.HeapAlloc
				}
				before := gc()
				servers := make([]*Session, n)
				for i := range servers {
					client := NewSession(SessionConfig{Role: wsframe.RoleClient, Deflate: c.p})
					server := NewSession(SessionConfig{Role: wsframe.RoleServer, Deflate: c.p})
					var wire, back []byte
					for _, m := range msgs {
						wire, _ = sendMessage(b, client, wire, wsframe.OpText, m)
						back, _ = sendMessage(b, server, back, wsframe.OpText, m)
					}
					if got, err := receive(server, wire, nil); err != nil || len(got) != len(msgs) {
						b.Fatal(err)
					}
					// A ping last, so that the session's event points at
					// its own control buffer, not at the test's input.
					if _, err := receive(server, masked(wsframe.OpPing, true, "p"), nil); err != nil {
						b.Fatal(err)
					}
					server.ClearPending()
					servers[i] = server
				}
				per = (float64(gc()) - float64(before)) / n
				runtime.KeepAlive(servers)
			}
			b.ReportMetric(per, "B/session")
		})
	}
}
