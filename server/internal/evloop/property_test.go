package evloop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/wsfsm/wsfsm/handshake"
	"github.com/wsfsm/wsfsm/internal/seeded"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// fakeEnv is a scripted socket and loop for one connection: reads return
// a random part of what the peer sent, writes take a random part of what
// they are given (none: would block), and the driver picks at random which
// of the pending readiness events, posts and handler runs comes next.
type fakeEnv struct {
	rng      *rand.Rand
	in       []byte // sent by the peer, not read yet; then the peer's EOF
	out      []byte // written by the connection
	wrShut   bool   // half-closed by the connection
	shut     bool   // shut down both ways
	readOn   bool
	writeOn  bool
	posted   []*Conn
	sched    []Runner
	released bool
	timers   Timers
	ctrl     [wsframe.MaxControlPayload]byte
}

func (f *fakeEnv) Read(c *Conn, p []byte) (int, error) {
	if f.shut || len(f.in) == 0 {
		return 0, io.EOF // the peer sent everything, then closed its side
	}
	n := 1 + f.rng.IntN(min(len(p), len(f.in)))
	copy(p, f.in[:n])
	f.in = f.in[n:]
	return n, nil
}

func (f *fakeEnv) Writev(c *Conn, bufs [][]byte) (int, error) {
	if f.wrShut || f.shut {
		return 0, syscall.EPIPE
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if total == 0 {
		return 0, nil
	}
	k := f.rng.IntN(total + 1)
	if k == 0 {
		return 0, ErrWouldBlock
	}
	left := k
	for _, b := range bufs {
		m := min(left, len(b))
		f.out = append(f.out, b[:m]...)
		left -= m
	}
	return k, nil
}

func (f *fakeEnv) Write2(c *Conn, a, b []byte) (int, error) { return f.Writev(c, [][]byte{a, b}) }
func (f *fakeEnv) Iov() [][]byte                            { return make([][]byte, 0, 16) }

// Yield runs some of the handler calls waiting, as a worker might while
// the loop yields.
func (f *fakeEnv) Yield() {
	for k := f.rng.IntN(3); k > 0 && len(f.sched) > 0; k-- {
		r := f.sched[0]
		f.sched = f.sched[1:]
		if r.RunQueued() {
			f.sched = append(f.sched, r)
		}
	}
}

func (f *fakeEnv) Shutdown(c *Conn, write bool) {
	if write {
		f.wrShut = true
	} else {
		f.shut = true
	}
}
func (f *fakeEnv) Interest(c *Conn, read, write bool)        { f.readOn, f.writeOn = read, write }
func (f *fakeEnv) Post(c *Conn)                              { f.posted = append(f.posted, c) }
func (f *fakeEnv) Release(c *Conn)                           { f.released = true }
func (f *fakeEnv) Timers() *Timers                           { return &f.timers }
func (f *fakeEnv) Scratch() *[wsframe.MaxControlPayload]byte { return &f.ctrl }
func (f *fakeEnv) Now() int64                                { return 1 }
func (f *fakeEnv) LocalAddr(c *Conn) net.Addr                { return &net.TCPAddr{} }
func (f *fakeEnv) RemoteAddr(c *Conn) net.Addr               { return &net.TCPAddr{} }
func (f *fakeEnv) Schedule(r Runner)                         { f.sched = append(f.sched, r) }

// seen is what a handler saw: the messages, then why the connection ended.
type seen struct {
	msgs []string
	end  string
}

func echoHandler(s *seen) Handler {
	return handlerFuncs{
		message: func(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
			s.msgs = append(s.msgs, fmt.Sprintf("%s %q", op, data))
			c.WriteMessage(op, data)
		},
		close: func(c *wsconn.Conn, err error) { s.end = err.Error() },
	}
}

type handlerFuncs struct {
	message func(c *wsconn.Conn, op wsframe.Opcode, data []byte)
	close   func(c *wsconn.Conn, err error)
}

func (h handlerFuncs) OnOpen(c *wsconn.Conn) {}
func (h handlerFuncs) OnMessage(c *wsconn.Conn, op wsframe.Opcode, data []byte) {
	h.message(c, op, data)
}
func (h handlerFuncs) OnClose(c *wsconn.Conn, err error) { h.close(c, err) }

const testHead = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// runLoop drives a loop connection that receives testHead and frames, then
// the peer's EOF, with the scheduling drawn from seed; it returns what the
// handler saw and the bytes sent after the 101.
func runLoop(t *testing.T, frames []byte, seed uint64, pool bool) (seen, []byte, error) {
	var s seen
	f := &fakeEnv{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), in: append([]byte(testHead), frames...), readOn: true}
	opts := &wsconn.Options{}
	var respLen int
	sh := &Shared{
		Handler: echoHandler(&s),
		Accept: func(req *handshake.Request) ([]byte, string, *wsconn.Options, error) {
			ag, err := handshake.Check(req, nil)
			if err != nil {
				return nil, "", nil, err
			}
			resp, err := ag.AppendResponse(nil, nil)
			respLen = len(resp)
			return resp, ag.Protocol, opts, err
		},
		HandshakeTimeout: time.Hour, CloseTimeout: time.Hour, WriteTimeout: time.Hour,
		QueueLimit: 1 << 30,
		Logf:       func(string, ...any) {},
		Done:       func(*Conn) {},
	}
	if pool {
		sh.Pool = f
	}
	c := NewConn(f, sh, 3)
	buf := make([]byte, 4096)
	for step := 0; ; step++ {
		if step > 1_000_000 {
			return s, nil, fmt.Errorf("no end after %d steps", step)
		}
		if f.released && len(f.sched) == 0 && len(f.posted) == 0 {
			break
		}
		var can []int
		if f.readOn && !f.released {
			can = append(can, 0)
		}
		if f.writeOn && !f.released {
			can = append(can, 1)
		}
		if len(f.posted) > 0 {
			can = append(can, 2)
		}
		if len(f.sched) > 0 {
			can = append(can, 3)
		}
		if len(can) == 0 {
			return s, nil, fmt.Errorf("stuck: nothing to do and the connection not released")
		}
		switch can[f.rng.IntN(len(can))] {
		case 0:
			c.Readable(buf)
		case 1:
			c.Writable()
		case 2:
			p := f.posted[0]
			f.posted = f.posted[1:]
			p.Posted()
		case 3:
			r := f.sched[0]
			f.sched = f.sched[1:]
			if r.RunQueued() {
				f.sched = append(f.sched, r)
			}
		}
	}
	if f.timers.Len() != 0 {
		return s, nil, fmt.Errorf("%d timers left after the end", f.timers.Len())
	}
	if len(f.out) < respLen || !bytes.HasPrefix(f.out, []byte("HTTP/1.1 101 ")) {
		return s, nil, fmt.Errorf("no 101: %q", f.out)
	}
	return s, f.out[respLen:], nil
}

// runGoroutines is the reference: the same frames through the goroutine
// runtime (wsconn.Conn.Run with the same handler) over loopback TCP, the
// client half-closing after the last byte.
func runGoroutines(t *testing.T, ln net.Listener, frames []byte) (seen, []byte, error) {
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return seen{}, nil, err
	}
	defer client.Close()
	nc, err := ln.Accept()
	if err != nil {
		return seen{}, nil, err
	}
	client.SetDeadline(time.Now().Add(10 * time.Second))
	c := wsconn.NewConn(nc, wsframe.RoleServer, "", nil, wsconn.Options{CloseTimeout: 5 * time.Second})
	go func() {
		client.Write(frames)
		client.(*net.TCPConn).CloseWrite()
	}()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	var s seen
	h := echoHandler(&s)
	err = c.Run(func(op wsframe.Opcode, data []byte) { h.OnMessage(c, op, data) })
	s.end = err.Error()
	return s, <-got, nil
}

// clientFrame is one frame of a generated script.
type clientFrame struct {
	op      wsframe.Opcode
	fin     bool
	payload []byte
	key     uint32
}

func (f clientFrame) append(dst []byte) []byte {
	h := wsframe.Header{Fin: f.fin, Opcode: f.op, Masked: true, Length: int64(len(f.payload))}
	binary.LittleEndian.PutUint32(h.Mask[:], f.key)
	return wsframe.AppendFrame(dst, h, f.payload)
}

// genScript draws what a client sends: messages (text or binary, whole or
// in fragments, pings and pongs between them), then a Close, a frame that
// breaks a rule, or nothing (the peer just goes).
func genScript() gopter.Gen {
	item := gopter.CombineGens(
		gen.IntRange(0, 5), // kind
		gen.AlphaString(),  // text
		gen.SliceOf(gen.UInt8()),
		gen.IntRange(1, 3), // fragments
		gen.UInt32(),       // key
	).Map(func(v []any) []clientFrame {
		kind, text, bin, parts, key := v[0].(int), v[1].(string), v[2].([]byte), v[3].(int), v[4].(uint32)
		switch kind {
		case 0: // a ping
			return []clientFrame{{op: wsframe.OpPing, fin: true, payload: []byte(text[:min(len(text), 30)]), key: key}}
		case 1: // a pong
			return []clientFrame{{op: wsframe.OpPong, fin: true, payload: bin[:min(len(bin), 30)], key: key}}
		}
		op, p := wsframe.OpText, []byte(text)
		if kind%2 == 1 {
			op, p = wsframe.OpBinary, bin
		}
		var out []clientFrame
		for i := 0; i < parts; i++ {
			a, b := len(p)*i/parts, len(p)*(i+1)/parts
			fop := op
			if i > 0 {
				fop = wsframe.OpContinuation
			}
			out = append(out, clientFrame{op: fop, fin: i == parts-1, payload: p[a:b], key: key + uint32(i)})
		}
		return out
	})
	return gopter.CombineGens(gen.SliceOf(item), gen.IntRange(0, 2), gen.UInt16Range(1000, 1003)).Map(func(v []any) []byte {
		var b []byte
		pings := 0
		for _, fs := range v[0].([][]clientFrame) {
			for _, f := range fs {
				if f.op == wsframe.OpPing {
					// Past 16 unanswered Pongs the goroutine runtime keeps
					// the latest only (RFC 6455 §5.5.3): keep under it.
					if pings++; pings > 8 {
						continue
					}
				}
				b = f.append(b)
			}
		}
		switch v[1].(int) {
		case 0:
			// The peer just goes. A message last: the goroutine runtime
			// drops a Pong it is still sending when reading ends (its
			// replies go out from another goroutine), the loop sends it;
			// the echo of a last message flushes the Pongs before it.
			b = clientFrame{op: wsframe.OpText, fin: true, payload: []byte("last"), key: 5}.append(b)
		case 1:
			b = clientFrame{op: wsframe.OpClose, fin: true, payload: binary.BigEndian.AppendUint16(nil, v[2].(uint16)), key: 7}.append(b)
		case 2:
			b = clientFrame{op: 0x3, fin: true, payload: []byte("reserved"), key: 9}.append(b) // 1002
		}
		return b
	})
}

// Any interleaving of readiness events, partial reads, partial writes,
// posts and handler runs (on the loop or on the pool) gives the handler
// the same messages and the peer the same bytes as the goroutine runtime,
// and ends the same way, leaving no timer behind.
func TestLoopMatchesGoroutineRuntime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	params := seeded.Parameters(t, "./server/internal/evloop", 200)
	params.MaxSize = 12
	props := gopter.NewProperties(params)
	props.Property("loop == goroutines", prop.ForAll(
		func(frames []byte, seed uint64, pool bool) string {
			want, wantOut, err := runGoroutines(t, ln, frames)
			if err != nil {
				return "reference: " + err.Error()
			}
			got, gotOut, err := runLoop(t, frames, seed, pool)
			if err != nil {
				return "loop: " + err.Error()
			}
			switch {
			case !slices.Equal(got.msgs, want.msgs):
				return fmt.Sprintf("messages\n%q\nwant\n%q", got.msgs, want.msgs)
			case !bytes.Equal(gotOut, wantOut):
				return fmt.Sprintf("bytes sent\n%x\nwant\n%x", gotOut, wantOut)
			case got.end != want.end:
				return fmt.Sprintf("ended with %q, want %q", got.end, want.end)
			}
			return ""
		},
		genScript(), gen.UInt64(), gen.Bool(),
	))
	props.TestingRun(t)
}
