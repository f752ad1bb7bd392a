package deflatebench

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Corpora by name: "small" (SmallCount JSON messages) and "doc" (DocCount
// catalogues of ~256 KiB).
var corpora = sync.OnceValue(func() map[string][][]byte {
	return map[string][][]byte{"small": Small(), "doc": Docs()}
})

func meanLen(c [][]byte) int64 {
	n := 0
	for _, m := range c {
		n += len(m)
	}
	return int64(n / len(c))
}

// connect dials addr and runs l's client handshake over a counting conn.
func connect(l Lib, m Mode, addr, url string) (*CountConn, Client, error) {
	nc, err := DialCounting(addr)
	if err != nil {
		return nil, nil, err
	}
	cl, err := l.Dial(nc, url, m)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("%s %v: dial: %w", l.Name, m, err)
	}
	return nc, cl, nil
}

// RecordTape echoes one pass of corpus through l's server and client and
// records, at the client, the 101 head and the server's frames. Every echo
// is checked byte for byte.
func RecordTape(l Lib, m Mode, corpus [][]byte) (Tape, error) {
	srv, err := NewEchoServer(l.Handler(m))
	if err != nil {
		return Tape{}, err
	}
	defer srv.Close()
	nc, err := DialCounting(srv.Addr())
	if err != nil {
		return Tape{}, err
	}
	nc.Record(true)
	cl, err := l.Dial(nc, srv.URL, m)
	if err != nil {
		nc.Close()
		return Tape{}, fmt.Errorf("%s %v: dial: %w", l.Name, m, err)
	}
	defer cl.Close()
	resp, _ := nc.Record(false)
	if !bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
		return Tape{}, fmt.Errorf("%s %v: client read past the 101 head before any message", l.Name, m)
	}
	t := Tape{Response: resp, Messages: len(corpus)}
	nc.Record(true)
	in0, out0 := nc.In.Load(), nc.Out.Load()
	for i, msg := range corpus {
		t.Raw += int64(len(msg))
		if err := cl.Write(msg); err != nil {
			return Tape{}, fmt.Errorf("%s %v: write %d: %w", l.Name, m, i, err)
		}
		p, err := cl.Read()
		if err != nil {
			return Tape{}, fmt.Errorf("%s %v: read %d: %w", l.Name, m, i, err)
		}
		if !bytes.Equal(p, msg) {
			return Tape{}, fmt.Errorf("%s %v: message %d came back altered (%d bytes, sent %d)", l.Name, m, i, len(p), len(msg))
		}
	}
	t.Stream, t.UpStream = nc.Record(false)
	t.Up, t.Down = nc.Out.Load()-out0, nc.In.Load()-in0
	return t, nil
}

var (
	tapesMu sync.Mutex
	tapes   = map[string]Tape{}
)

func tapeFor(tb testing.TB, l Lib, m Mode, corpus string) Tape {
	tb.Helper()
	tapesMu.Lock()
	defer tapesMu.Unlock()
	key := l.Name + "/" + m.String() + "/" + corpus
	if t, ok := tapes[key]; ok {
		return t
	}
	t, err := RecordTape(l, m, corpora()[corpus])
	if err != nil {
		tb.Fatal(err)
	}
	tapes[key] = t
	return t
}

// TestCompressionNegotiatedAndEchoed runs in plain `go test`: every
// library and mode must agree on permessage-deflate with the asked
// takeover, set RSV1 on its first message both ways, send fewer bytes than
// the payload, and echo every message intact.
func TestCompressionNegotiatedAndEchoed(t *testing.T) {
	small := corpora()["small"][:200]
	doc := corpora()["doc"][:1]
	for _, l := range Libs {
		for _, m := range l.Modes {
			t.Run(l.Name+"-"+m.String(), func(t *testing.T) {
				for _, c := range []struct {
					name   string
					corpus [][]byte
				}{{"small", small}, {"doc", doc}} {
					tp, err := RecordTape(l, m, c.corpus)
					if err != nil {
						t.Fatal(err)
					}
					ext := ExtensionsOf(tp.Response)
					if !strings.Contains(ext, "permessage-deflate") {
						t.Fatalf("%s: not negotiated: Sec-WebSocket-Extensions %q", c.name, ext)
					}
					noCtx := strings.Contains(ext, "server_no_context_takeover") && strings.Contains(ext, "client_no_context_takeover")
					anyNoCtx := strings.Contains(ext, "no_context_takeover")
					if m == NoTakeover && !noCtx || m == Takeover && anyNoCtx {
						t.Fatalf("%s: asked for %v, agreed %q", c.name, m, ext)
					}
					if len(tp.Stream) == 0 || tp.Stream[0]&0x40 == 0 {
						t.Fatalf("%s: the server's first message is not compressed (RSV1 clear)", c.name)
					}
					if len(tp.UpStream) == 0 || tp.UpStream[0]&0x40 == 0 {
						t.Fatalf("%s: the client's first message is not compressed (RSV1 clear)", c.name)
					}
					// Without takeover, small messages do not shrink below
					// payload + frame headers; the documents must, both ways,
					// and the small ones must with takeover.
					if (c.name == "doc" || m == Takeover) && (tp.Down >= tp.Raw || tp.Up >= tp.Raw) {
						t.Fatalf("%s: %d bytes of payload took %d bytes up and %d down: not compressed", c.name, tp.Raw, tp.Up, tp.Down)
					}
				}
			})
		}
	}
}

// --- benchmarks: one function per kind, called by the Benchmark* functions
// and by the table runner ---

// benchEcho: the client sends each message and waits for its echo. Both
// ends run in this process: time, CPU and allocations are the pair's.
func benchEcho(b *testing.B, l Lib, m Mode, corpus string) {
	msgs := corpora()[corpus]
	srv, err := NewEchoServer(l.Handler(m))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	nc, cl, err := connect(l, m, srv.Addr(), srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	b.SetBytes(meanLen(msgs))
	b.ReportAllocs()
	in0, out0 := nc.In.Load(), nc.Out.Load()
	b.ResetTimer()
	cpu0 := CPU()
	for i := range b.N {
		msg := msgs[i%len(msgs)]
		if err := cl.Write(msg); err != nil {
			b.Fatal(err)
		}
		p, err := cl.Read()
		if err != nil {
			b.Fatal(err)
		}
		if len(p) != len(msg) {
			b.Fatalf("echo of %d bytes came back as %d", len(msg), len(p))
		}
	}
	cpu := CPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
	b.ReportMetric(float64(nc.In.Load()-in0+nc.Out.Load()-out0)/float64(b.N), "wireB/msg")
}

// benchCompress: the client sends messages to a server that answered the
// handshake as l's own server does and then drops every byte: the client's
// compression, framing and masking, and the write.
func benchCompress(b *testing.B, l Lib, m Mode, corpus string) {
	msgs := corpora()[corpus]
	tp := tapeFor(b, l, m, corpus)
	rs, err := NewReplayServer(tp.Response, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	nc, cl, err := connect(l, m, rs.Addr(), rs.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	b.SetBytes(meanLen(msgs))
	b.ReportAllocs()
	out0 := nc.Out.Load()
	b.ResetTimer()
	cpu0 := CPU()
	for i := range b.N {
		if err := cl.Write(msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
	}
	cpu := CPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
	b.ReportMetric(float64(nc.Out.Load()-out0)/float64(b.N), "wireB/msg")
}

// benchInflate: the client reads the frames l's own server sent for one
// pass of the corpus (recorded, replayed on a fresh connection per pass;
// the handshakes are outside the timer): inflating, unmasked-frame
// parsing, UTF-8 checks where the library does them.
func benchInflate(b *testing.B, l Lib, m Mode, corpus string) {
	msgs := corpora()[corpus]
	tp := tapeFor(b, l, m, corpus)
	rs, err := NewReplayServer(tp.Response, tp.Stream)
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	b.SetBytes(meanLen(msgs))
	b.ReportAllocs()
	var cpu time.Duration
	b.ResetTimer()
	b.StopTimer()
	for done := 0; done < b.N; {
		_, cl, err := connect(l, m, rs.Addr(), rs.URL())
		if err != nil {
			b.Fatal(err)
		}
		k := min(len(msgs), b.N-done)
		b.StartTimer()
		cpu0 := CPU()
		for j := range k {
			p, err := cl.Read()
			if err != nil {
				b.Fatal(err)
			}
			if len(p) != len(msgs[j]) {
				b.Fatalf("message %d inflated to %d bytes, want %d", j, len(p), len(msgs[j]))
			}
		}
		cpu += CPU() - cpu0
		b.StopTimer()
		cl.Close()
		done += k
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
	b.ReportMetric(float64(tp.Down)/float64(tp.Messages), "wireB/msg")
}

// Idle measures n connection pairs (l's server and l's client, both in this
// process) that each echoed k small messages (and then one ~256 KiB
// document if doc is set, which fills every window) and then went quiet:
// heap after GC and goroutines, per pair.
func Idle(l Lib, m Mode, n, k int, doc bool) (heapPerPair, goroutinesPerPair float64, err error) {
	msgs := corpora()["small"]
	if doc {
		msgs = slices.Concat(msgs[:k], corpora()["doc"][:1])
		k++
	}
	srv, err := NewEchoServer(l.Handler(m))
	if err != nil {
		return 0, 0, err
	}
	defer srv.Close()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	g0 := runtime.NumGoroutine()
	clients := make([]Client, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range n {
		nc, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			return 0, 0, err
		}
		cl, err := l.Dial(nc, srv.URL, m)
		if err != nil {
			nc.Close()
			return 0, 0, err
		}
		clients = append(clients, cl)
		for j := range k {
			msg := msgs[(i*k+j)%len(msgs)]
			if doc {
				msg = msgs[j]
			}
			if err := cl.Write(msg); err != nil {
				return 0, 0, err
			}
			if p, err := cl.Read(); err != nil || len(p) != len(msg) {
				return 0, 0, fmt.Errorf("echo %d/%d: %d bytes, %v", i, j, len(p), err)
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // let servers finish their writes
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	g1 := runtime.NumGoroutine()
	if p := os.Getenv("DEFLATE_IDLE_HEAPPROFILE"); p != "" {
		// Where the idle pairs' heap is, while they are still open:
		// go tool pprof -sample_index=inuse_space -top FILE
		f, err := os.Create(p)
		if err != nil {
			return 0, 0, err
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	runtime.KeepAlive(clients)
	return float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / float64(n), float64(g1-g0) / float64(n), nil
}

func forEach(b *testing.B, f func(*testing.B, Lib, Mode, string)) {
	for _, corpus := range []string{"small", "doc"} {
		for _, l := range Libs {
			for _, m := range l.Modes {
				b.Run(corpus+"/"+l.Name+"-"+m.String(), func(b *testing.B) { f(b, l, m, corpus) })
			}
		}
	}
}

func BenchmarkEcho(b *testing.B)     { forEach(b, benchEcho) }
func BenchmarkCompress(b *testing.B) { forEach(b, benchCompress) }
func BenchmarkInflate(b *testing.B)  { forEach(b, benchInflate) }

// BenchmarkIdle: go test -run '^$' -bench Idle -benchtime 1x (DEFLATE_IDLE_N
// pairs, default 1000; a fifth of that after a document).
func BenchmarkIdle(b *testing.B) {
	for _, doc := range []bool{false, true} {
		for _, l := range Libs {
			for _, m := range l.Modes {
				name := "small/" + l.Name + "-" + m.String()
				n := idleN()
				if doc {
					name, n = "doc/"+l.Name+"-"+m.String(), max(1, n/5)
				}
				b.Run(name, func(b *testing.B) {
					for range b.N {
						heap, g, err := Idle(l, m, n, idleK, doc)
						if err != nil {
							b.Fatal(err)
						}
						b.ReportMetric(heap, "heapB/pair")
						b.ReportMetric(g, "goroutines/pair")
					}
				})
			}
		}
	}
}
