package wsconn

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wsfsm/wsfsm/wsframe"
)

func masked(op wsframe.Opcode, fin bool, p string) []byte {
	return wsframe.AppendFrame(nil, wsframe.Header{Fin: fin, Opcode: op, Masked: true, Mask: [4]byte{9, 8, 7, 6}}, []byte(p))
}

// events feeds in to a server session and renders the events and what it
// queued to send.
func events(s *Session, in []byte) (string, error) {
	var b strings.Builder
	for {
		ev, n, err := s.Next(in)
		in = in[n:]
		if err != nil {
			return b.String(), err
		}
		switch ev.Kind {
		case EventNone:
			return b.String(), nil
		case EventData:
			fmt.Fprintf(&b, "data %s %q start=%v end=%v\n", ev.Opcode, ev.Data, ev.Start, ev.End)
		case EventPing:
			fmt.Fprintf(&b, "ping %q\n", ev.Data)
		case EventPong:
			fmt.Fprintf(&b, "pong %q\n", ev.Data)
		case EventClose:
			fmt.Fprintf(&b, "close %d %q\n", ev.Code, ev.Reason)
		}
	}
}

func pending(s *Session) string {
	p := wsframe.NewParser(wsframe.Config{Role: wsframe.RoleClient})
	var b strings.Builder
	buf := append([]byte(nil), s.Pending()...)
	for {
		ev, n, err := p.Next(buf)
		if err != nil {
			return "bad: " + err.Error()
		}
		buf = buf[n:]
		if ev.Kind == wsframe.TokenNone {
			return b.String()
		}
		if ev.Kind == wsframe.TokenHeader {
			fmt.Fprintf(&b, "%s:", ev.Header.Opcode)
		} else if ev.End {
			fmt.Fprintf(&b, "%x;", ev.Payload)
		}
	}
}

func TestSessionMessagesAndControl(t *testing.T) {
	s := NewSession(SessionConfig{Role: wsframe.RoleServer})
	in := bytes.Join([][]byte{
		masked(wsframe.OpText, false, "Hel"),
		masked(wsframe.OpPing, true, "p"),
		masked(wsframe.OpContinuation, true, "lo"),
		masked(wsframe.OpPong, true, "q"),
		masked(wsframe.OpClose, true, "\x03\xe8bye"),
		masked(wsframe.OpText, true, "ignored"),
	}, nil)
	got, err := events(s, in)
	want := "data text \"Hel\" start=true end=false\nping \"p\"\ndata text \"lo\" start=false end=true\npong \"q\"\nclose 1000 \"bye\"\n"
	if err != nil || got != want {
		t.Fatalf("got\n%s%v\nwant\n%s", got, err, want)
	}
	if p := pending(s); p != "pong:70;close:03e8;" {
		t.Errorf("pending %q", p)
	}
	if !s.CloseSent() || !s.CloseReceived() {
		t.Error("close state")
	}
	if _, err := s.AppendFrame(nil, wsframe.OpText, true, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("data after close: %v", err)
	}
}

// A Close this end sent first is not answered again; a ping after it is not
// answered either.
func TestSessionCloseWeStarted(t *testing.T) {
	s := NewSession(SessionConfig{Role: wsframe.RoleServer})
	out, err := s.AppendClose(nil, wsframe.CloseGoingAway, "bye")
	if err != nil || !bytes.Equal(out, []byte("\x88\x05\x03\xe9bye")) {
		t.Fatalf("% x %v", out, err)
	}
	if _, err := s.AppendClose(nil, wsframe.CloseNormal, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("second close: %v", err)
	}
	got, _ := events(s, append(masked(wsframe.OpPing, true, "x"), masked(wsframe.OpClose, true, "\x03\xe9")...))
	if got != "ping \"x\"\nclose 1001 \"\"\n" || len(s.Pending()) != 0 {
		t.Errorf("got %q, pending %x", got, s.Pending())
	}
}

func TestSessionFailures(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  SessionConfig
		in   []byte
		rule wsframe.Rule
	}{
		{"continuation first", SessionConfig{}, masked(wsframe.OpContinuation, true, "x"), wsframe.ErrUnexpectedContinuation},
		{"text inside text", SessionConfig{}, append(masked(wsframe.OpText, false, "a"), masked(wsframe.OpText, true, "b")...), wsframe.ErrMessageInProgress},
		{"bad UTF-8 across fragments", SessionConfig{}, append(masked(wsframe.OpText, false, "\xE2\x82"), masked(wsframe.OpContinuation, true, "x")...), wsframe.ErrInvalidUTF8},
		{"truncated UTF-8 at the end", SessionConfig{}, masked(wsframe.OpText, true, "\xE2\x82"), wsframe.ErrInvalidUTF8},
		{"message over the limit", SessionConfig{MaxMessageSize: 5}, append(masked(wsframe.OpBinary, false, "abc"), masked(wsframe.OpContinuation, true, "def")...), wsframe.ErrMessageTooBig},
		{"too many fragments", SessionConfig{MaxFragments: 2}, bytes.Repeat(masked(wsframe.OpContinuation, false, ""), 1), wsframe.ErrUnexpectedContinuation},
		{"too many fragments", SessionConfig{MaxFragments: 2}, append(masked(wsframe.OpBinary, false, ""), bytes.Repeat(masked(wsframe.OpContinuation, false, ""), 2)...), wsframe.ErrTooManyFragments},
		{"bad close code", SessionConfig{}, masked(wsframe.OpClose, true, "\x03\xed"), wsframe.ErrCloseCode},
		{"1-byte close", SessionConfig{}, masked(wsframe.OpClose, true, "\x03"), wsframe.ErrCloseLength},
		{"bad close reason", SessionConfig{}, masked(wsframe.OpClose, true, "\x03\xe8\xff"), wsframe.ErrCloseReasonUTF8},
		{"frame rule", SessionConfig{}, []byte("\x81\x00"), wsframe.ErrUnmaskedFrame},
	} {
		s := NewSession(SessionConfig{Role: wsframe.RoleServer, MaxMessageSize: c.cfg.MaxMessageSize, MaxFragments: c.cfg.MaxFragments})
		_, err := events(s, c.in)
		if !errors.Is(err, c.rule) {
			t.Errorf("%s: %v, want %v", c.name, err, c.rule)
			continue
		}
		want := fmt.Sprintf("close:%04x;", uint16(c.rule.Code()))
		if p := pending(s); p != want {
			t.Errorf("%s: pending %q, want %q", c.name, p, want)
		}
		if _, n, err2 := s.Next([]byte("\x81")); err2 != err || n != 0 {
			t.Errorf("%s: not sticky", c.name)
		}
	}
}

// UTF-8 fails at the offending byte, before the rest of the frame arrives.
func TestSessionUTF8FailsFast(t *testing.T) {
	s := NewSession(SessionConfig{Role: wsframe.RoleServer})
	frame := masked(wsframe.OpText, true, "abc\xFFdefghijklmnop")
	_, err := events(s, frame[:10]) // header (6) + "abc" + 0xFF
	var fe *wsframe.Error
	if !errors.As(err, &fe) || fe.Rule != wsframe.ErrInvalidUTF8 || fe.Offset != 9 {
		t.Fatalf("%v", err)
	}
}

func TestSessionSendRules(t *testing.T) {
	s := NewSession(SessionConfig{Role: wsframe.RoleClient})
	if _, err := s.AppendFrame(nil, wsframe.OpContinuation, true, nil); !errors.Is(err, ErrSequence) {
		t.Errorf("continuation first: %v", err)
	}
	if _, err := s.AppendFrame(nil, wsframe.OpText, false, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendFrame(nil, wsframe.OpBinary, true, nil); !errors.Is(err, ErrSequence) {
		t.Errorf("new message inside one: %v", err)
	}
	if _, err := s.AppendFrame(nil, wsframe.OpPing, true, make([]byte, 126)); !errors.Is(err, ErrControlPayloadTooLong) {
		t.Errorf("long ping: %v", err)
	}
	if _, err := s.AppendFrame(nil, wsframe.OpPing, true, []byte("between fragments")); err != nil {
		t.Errorf("ping between fragments: %v", err)
	}
	out, err := s.AppendFrame(nil, wsframe.OpContinuation, true, []byte("end"))
	if err != nil {
		t.Fatal(err)
	}
	// A client masks, with a fresh key each frame.
	h1 := wsframe.NewParser(wsframe.Config{Role: wsframe.RoleServer})
	ev, _, err := h1.Next(out)
	if err != nil || !ev.Header.Masked {
		t.Fatalf("client frame not masked: %v", err)
	}
	keys := map[[4]byte]bool{}
	for i := 0; i < 100; i++ {
		f, _ := s.AppendFrame(nil, wsframe.OpPing, true, nil)
		keys[[4]byte(f[2:6])] = true
	}
	if len(keys) < 95 {
		t.Errorf("only %d distinct keys in 100 frames", len(keys))
	}
}

func TestSessionAllocations(t *testing.T) {
	s := NewSession(SessionConfig{Role: wsframe.RoleServer})
	msg := masked(wsframe.OpBinary, true, strings.Repeat("x", 128))
	buf := make([]byte, len(msg))
	allocs := testing.AllocsPerRun(1000, func() {
		copy(buf, msg)
		events2(s, buf)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message", allocs)
	}
}

func events2(s *Session, in []byte) {
	for {
		ev, n, _ := s.Next(in)
		in = in[n:]
		if ev.Kind == EventNone {
			return
		}
	}
}

// RFC 6455 §5.5.3: Pings that arrive while Pongs wait to go out need only
// the latest answered. The replies queued never hold more than
// maxQueuedPongs Pongs, the last of them answering the latest Ping, and a
// Close reply still follows them.
func TestPongsQueuedAreBounded(t *testing.T) {
	s := NewSession(SessionConfig{Role: wsframe.RoleServer})
	var in []byte
	for i := range 1000 {
		in = append(in, masked(wsframe.OpPing, true, fmt.Sprintf("%04d", i))...)
	}
	in = append(in, masked(wsframe.OpClose, true, "\x03\xe8")...)
	if _, err := events(s, in); err != nil {
		t.Fatal(err)
	}
	got := pending(s)
	if n := strings.Count(got, "pong:"); n != maxQueuedPongs {
		t.Errorf("%d Pongs queued for 1000 Pings, want %d", n, maxQueuedPongs)
	}
	if want := fmt.Sprintf("pong:%x;close:03e8;", "0999"); !strings.HasSuffix(got, want) {
		t.Errorf("queue ends %q, want the latest Pong then the Close reply", got[max(0, len(got)-60):])
	}
	if want := fmt.Sprintf("pong:%x;", "0000"); !strings.HasPrefix(got, want) {
		t.Errorf("queue starts %q, want the first Pong (sent as soon as it could be)", got[:min(len(got), 40)])
	}
	s.ClearPending()
	if len(s.Pending()) != 0 {
		t.Error("ClearPending left bytes")
	}
}

// BenchmarkTinyFragments is the CPU a fragment costs: a message of 1-byte
// fragments through the session (headers, sequencing, delivery).
func BenchmarkTinyFragments(b *testing.B) {
	const frags = 4096
	in := masked(wsframe.OpBinary, false, "x")
	for range frags - 2 {
		in = append(in, masked(wsframe.OpContinuation, false, "x")...)
	}
	in = append(in, masked(wsframe.OpContinuation, true, "x")...)
	b.SetBytes(frags)
	b.ReportAllocs()
	buf := make([]byte, len(in))
	for b.Loop() {
		s := NewSession(SessionConfig{Role: wsframe.RoleServer})
		copy(buf, in) // the session unmasks in place
		for rest := buf; len(rest) > 0; {
			ev, n, err := s.Next(rest)
			if err != nil || (n == 0 && ev.Kind == EventNone) {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frags), "ns/fragment")
}
