package wsframe

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// eventLog feeds input to a fresh parser in chunks of the given size and
// renders what came out: one line per header, the frame's payload joined
// from its pieces, and the error with its offset. Any split of the stream
// must give the same log (payload may come in more pieces; the log joins
// them).
func eventLog(t testing.TB, c Config, input []byte, chunk int) string {
	t.Helper()
	data := append([]byte(nil), input...) // Next unmasks in place
	p := NewParser(c)
	var log strings.Builder
	var payload []byte
	for start := 0; start < len(data) || start == 0; start += chunk {
		buf := data[start:min(start+chunk, len(data))]
		for {
			ev, n, err := p.Next(buf)
			if err != nil {
				fmt.Fprintf(&log, "error %v\n", err)
				return log.String()
			}
			if n < 0 || n > len(buf) {
				t.Fatalf("Next consumed %d of %d bytes", n, len(buf))
			}
			buf = buf[n:]
			switch ev.Kind {
			case TokenNone:
				if len(buf) != 0 {
					t.Fatalf("TokenNone with %d bytes left", len(buf))
				}
			case TokenHeader:
				fmt.Fprintf(&log, "header %v\n", *ev.Header)
				payload = payload[:0]
			case TokenPayload:
				payload = append(payload, ev.Payload...)
				if ev.End {
					fmt.Fprintf(&log, "payload %q\n", payload)
				}
			}
			if ev.Kind == TokenNone {
				break
			}
		}
		if len(data) == 0 {
			break
		}
	}
	if !p.AtFrameBoundary() {
		fmt.Fprintf(&log, "incomplete in %s\n", p.State())
	}
	return log.String()
}

// replayAll checks that every chunk size from 1 to len(input) (or a spread
// of sizes for long inputs) yields the log of feeding input whole.
func replayAll(t *testing.T, c Config, input []byte) string {
	t.Helper()
	whole := eventLog(t, c, input, len(input)+1)
	sizes := []int{}
	for s := 1; s <= len(input); s++ {
		if len(input) <= 600 || s <= 32 || s%997 == 0 || s == len(input)-1 {
			sizes = append(sizes, s)
		}
	}
	for _, s := range sizes {
		if got := eventLog(t, c, input, s); got != whole {
			t.Fatalf("chunks of %d give\n%s\nwhole input gives\n%s", s, got, whole)
		}
	}
	return whole
}

func unhex(s string) []byte {
	var b []byte
	for _, f := range strings.Fields(s) {
		var v byte
		fmt.Sscanf(f, "%x", &v)
		b = append(b, v)
	}
	return b
}

var server, client = Config{Role: RoleServer}, Config{Role: RoleClient}

// RFC 6455 §5.7, every example, fed at every chunk size.
func TestRFCExamples(t *testing.T) {
	big256 := append(unhex("82 7E 01 00"), bytes.Repeat([]byte{'x'}, 256)...)
	big64k := append(unhex("82 7F 00 00 00 00 00 01 00 00"), bytes.Repeat([]byte{'y'}, 65536)...)
	cases := []struct {
		name  string
		c     Config
		input []byte
		want  string
	}{
		{"unmasked Hello", client, unhex("81 05 48 65 6c 6c 6f"),
			"header text fin=true rsv=000 len=5\npayload \"Hello\"\n"},
		{"masked Hello", server, unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58"),
			"header text fin=true rsv=000 len=5 mask=37fa213d\npayload \"Hello\"\n"},
		{"fragmented Hel lo", client, unhex("01 03 48 65 6c 80 02 6c 6f"),
			"header text fin=false rsv=000 len=3\npayload \"Hel\"\nheader continuation fin=true rsv=000 len=2\npayload \"lo\"\n"},
		{"unmasked ping", client, unhex("89 05 48 65 6c 6c 6f"),
			"header ping fin=true rsv=000 len=5\npayload \"Hello\"\n"},
		{"masked pong", server, unhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"),
			"header pong fin=true rsv=000 len=5 mask=37fa213d\npayload \"Hello\"\n"},
		{"256 bytes binary", client, big256,
			"header binary fin=true rsv=000 len=256\npayload \"" + strings.Repeat("x", 256) + "\"\n"},
		{"64 KiB binary", client, big64k,
			"header binary fin=true rsv=000 len=65536\npayload \"" + strings.Repeat("y", 65536) + "\"\n"},
		{"empty close", client, unhex("88 00"), "header close fin=true rsv=000 len=0\npayload \"\"\n"},
		{"empty stream", client, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := replayAll(t, c.c, c.input); got != c.want {
				t.Errorf("got\n%.300s\nwant\n%.300s", got, c.want)
			}
		})
	}
}

func TestTruncatedStreamIsIncompleteNotError(t *testing.T) {
	in := unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
	for cut := 1; cut < len(in); cut++ {
		log := eventLog(t, server, in[:cut], 1)
		if !strings.Contains(log, "incomplete in ServerFrame.") || strings.Contains(log, "error") {
			t.Errorf("cut at %d: %q", cut, log)
		}
	}
}

// Every rule the machine and its actions enforce, with the close code and
// the offset of the byte that proves the violation, at every chunk size.
func TestRules(t *testing.T) {
	cases := []struct {
		name   string
		c      Config
		input  string
		rule   Rule
		code   CloseCode
		offset int64
	}{
		{"reserved opcode 0x3", server, "83 80", ErrReservedOpcode, 1002, 0},
		{"reserved opcode 0xB after a good frame", server, "81 80 00 00 00 00 8B 80", ErrReservedOpcode, 1002, 6},
		{"RSV1 without extension", server, "C1 80 00 00 00 00", ErrReservedBits, 1002, 0},
		{"RSV2 with only RSV1 allowed", Config{AllowedRSV: RSV1}, "A1 80 00 00 00 00", ErrReservedBits, 1002, 0},
		{"RSV3 on continuation", server, "90 80 00 00 00 00", ErrReservedBits, 1002, 0},
		{"RSV1 on ping even with RSV1 allowed", Config{AllowedRSV: RSV1}, "C9 80 00 00 00 00", ErrControlReservedBits, 1002, 0},
		{"fragmented ping", server, "09 80 00 00 00 00", ErrFragmentedControl, 1002, 0},
		{"fragmented close", client, "08 00", ErrFragmentedControl, 1002, 0},
		{"ping with 16-bit length", server, "89 FE 00 7E", ErrControlTooLong, 1002, 1},
		{"close with 64-bit length", client, "88 7F", ErrControlTooLong, 1002, 1},
		{"unmasked frame to server", server, "81 05 48 65 6c 6c 6f", ErrUnmaskedFrame, 1002, 1},
		{"unmasked control frame to server", server, "89 00", ErrUnmaskedFrame, 1002, 1},
		{"masked frame to client", client, "81 85 37 fa 21 3d", ErrMaskedFrame, 1002, 1},
		{"64-bit length with top bit", client, "82 7F 80 00 00 00 00 00 00 00", ErrLengthTopBit, 1002, 2},
		{"64-bit length all ones", server, "82 FF FF FF FF FF FF FF FF FF", ErrLengthTopBit, 1002, 2},
		{"7-bit length over limit", Config{MaxPayload: 10}, "82 8B", ErrFrameTooBig, 1009, 1},
		{"16-bit length over limit", Config{MaxPayload: 1000}, "82 FE 03 E9", ErrFrameTooBig, 1009, 3},
		{"64-bit length over default limit", client, "82 7F 00 00 00 00 01 00 00 01", ErrFrameTooBig, 1009, 9},
		// CVE-2020-27813 class: a length near 2^63 must not wrap the check.
		{"length 2^63-1 with default limit", client, "82 7F 7F FF FF FF FF FF FF FF", ErrFrameTooBig, 1009, 9},
		{"length 2^63-1 with limit 2^63-2", Config{Role: RoleClient, MaxPayload: math.MaxInt64 - 1}, "82 7F 7F FF FF FF FF FF FF FF", ErrFrameTooBig, 1009, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := unhex(c.input)
			want := fmt.Sprintf("at byte %d", c.offset)
			log := replayAll(t, c.c, in)
			if !strings.Contains(log, c.rule.Error()+" "+want) {
				t.Fatalf("log %q lacks %q %s", log, c.rule.Error(), want)
			}
			p := NewParser(c.c)
			var err error
			for buf := append([]byte(nil), in...); err == nil; {
				var n int
				var ev *Token
				ev, n, err = p.Next(buf)
				buf = buf[n:]
				if ev.Kind == TokenNone && err == nil {
					t.Fatal("no error")
				}
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Rule != c.rule || fe.Offset != c.offset || fe.Code() != c.code {
				t.Fatalf("err = %#v, want rule %v at %d", err, c.rule, c.offset)
			}
			if !errors.Is(err, c.rule) {
				t.Errorf("errors.Is(err, %v) is false", c.rule)
			}
			if code, ok := CodeOf(err); !ok || code != c.code {
				t.Errorf("CodeOf = %d, %v; want %d", code, ok, c.code)
			}
			// Sticky: the same error, nothing consumed, until Reset.
			if _, n, err2 := p.Next([]byte{0x81}); err2 != err || n != 0 {
				t.Errorf("after the error Next returned %v, %d", err2, n)
			}
		})
	}
}

// A frame whose length is at the limit is accepted; every RSV bit that is
// allowed passes; 2^63-1 passes a limit of 2^63-1 without wrapping.
func TestLimitsAndAllowedBitsAccept(t *testing.T) {
	ok := []struct {
		name  string
		c     Config
		input []byte
	}{
		{"at the limit", Config{Role: RoleClient, MaxPayload: 3}, unhex("82 03 61 62 63")},
		{"RSV1 allowed", Config{Role: RoleClient, AllowedRSV: RSV1}, unhex("C1 01 61")},
		{"all RSV allowed", Config{Role: RoleClient, AllowedRSV: RSV1 | RSV2 | RSV3}, unhex("F2 00")},
		{"non-minimal 16-bit length", client, unhex("82 7E 00 01 61")},
		{"non-minimal 64-bit length", client, unhex("82 7F 00 00 00 00 00 00 00 01 61")},
	}
	for _, c := range ok {
		if log := replayAll(t, c.c, c.input); strings.Contains(log, "error") || strings.Contains(log, "incomplete") {
			t.Errorf("%s: %s", c.name, log)
		}
	}
	p := NewParser(Config{Role: RoleClient, MaxPayload: math.MaxInt64})
	ev, _, err := p.Next(unhex("82 7F 7F FF FF FF FF FF FF FF"))
	if err != nil || ev.Kind != TokenHeader || ev.Header.Length != math.MaxInt64 {
		t.Fatalf("got %v %v", ev, err)
	}
}

func TestReservedOpcodesAll(t *testing.T) {
	for op := Opcode(0); op < 16; op++ {
		in := AppendFrame(nil, Header{Fin: true, Opcode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, nil)
		_, _, err := NewParser(server).Next(in)
		if got := errors.Is(err, ErrReservedOpcode); got != op.IsReserved() {
			t.Errorf("opcode %v: err %v", op, err)
		}
	}
}

// A stream fed a byte at a time reads as whole: headers, with the MASK bit
// as on the wire, and payload pieces that join up.
func TestNextByteByByte(t *testing.T) {
	var out strings.Builder
	p := NewParser(client)
	in := unhex("01 03 48 65 6c 89 00 80 02 6c 6f")
	for i := range in {
		chunk := in[i : i+1]
		for {
			tok, n, err := p.Next(chunk)
			if err != nil {
				t.Fatal(err)
			}
			chunk = chunk[n:]
			if tok.Kind == TokenNone {
				break
			}
			if tok.Kind == TokenHeader {
				fmt.Fprintf(&out, "[%v masked=%v]", *tok.Header, tok.Header.Masked)
				continue
			}
			out.Write(tok.Payload)
			if tok.End {
				out.WriteString("|")
			}
		}
	}
	want := "[text fin=false rsv=000 len=3 masked=false]Hel|[ping fin=true rsv=000 len=0 masked=false]|[continuation fin=true rsv=000 len=2 masked=false]lo|"
	if out.String() != want {
		t.Errorf("got %s, want %s", out.String(), want)
	}
	sp := NewParser(server)
	tok, _, err := sp.Next(unhex("81 80 01 02 03 04"))
	if err != nil || tok.Kind != TokenHeader || !tok.Header.Masked || tok.Header.Mask != [4]byte{1, 2, 3, 4} {
		t.Errorf("masked header read as %+v, %v", tok.Header, err)
	}
}

func TestStateNamesCoverMachines(t *testing.T) {
	p := NewParser(server)
	if p.State() != "ServerFrame.ReadOpcode" {
		t.Errorf("start state %s", p.State())
	}
	p.Next(unhex("82 FE 01"))
	if p.State() != "ServerFrame.ReadLen16Lo" {
		t.Errorf("state %s", p.State())
	}
	if StateName(StateCount-1) == "" || !strings.HasPrefix(StateName(0), "ServerFrame.") {
		t.Error("state names incomplete")
	}
}

// Parsing allocates nothing per frame, per call or per stream. One run is
// a whole pass over the stream (its 64 frames and the Reset that starts
// it again), so that even one allocation a pass counts.
func TestParseAllocatesNothing(t *testing.T) {
	const frames = 64
	for _, chunk := range []int{0, 5} {
		r := &frameReader{p: NewParser(server), cfg: server, stream: buildStream(16, frames, true), chunk: chunk}
		allocs := testing.AllocsPerRun(100, func() {
			for range frames {
				r.frame()
			}
		})
		if allocs != 0 {
			t.Errorf("chunks of %d: %v allocations per stream of %d frames", chunk, allocs, frames)
		}
	}
}

// Every rule the frame grammar enforces, those an action checks against
// the configuration included, leaves the machine in the error state named
// after the rule, and that state is dead by construction: with the sticky
// error cleared, the machine still consumes nothing and reports the same
// rule at the same offset.
func TestEveryFailureIsADeadErrorState(t *testing.T) {
	limited := Config{Role: RoleServer, MaxPayload: 10}
	cases := []struct {
		cfg  Config
		in   string
		rule Rule
	}{
		{server, "83", ErrReservedOpcode},
		{server, "09", ErrFragmentedControl},
		{server, "C9", ErrControlReservedBits},
		{server, "89 FE", ErrControlTooLong},
		{server, "81 05", ErrUnmaskedFrame},
		{client, "81 85", ErrMaskedFrame},
		{server, "82 FF 80", ErrLengthTopBit},
		{server, "C2", ErrReservedBits},
		{Config{Role: RoleClient, AllowedRSV: RSV1}, "A2", ErrReservedBits},
		{limited, "82 8B", ErrFrameTooBig},
		{limited, "82 FE 00 0B", ErrFrameTooBig},
		{limited, "82 FF 00 00 00 00 00 00 00 0B", ErrFrameTooBig},
		{Config{Role: RoleClient, MaxPayload: 3}, "89 04", ErrFrameTooBig},
	}
	for _, c := range cases {
		for _, chunk := range []int{1, 0} {
			p := NewParser(c.cfg)
			in := unhex(c.in + " 81 85 00 00 00 00")
			var err error
			for i := 0; i < len(in) && err == nil; {
				end := len(in)
				if chunk > 0 {
					end = min(i+chunk, len(in))
				}
				var n int
				_, n, err = p.Next(in[i:end])
				i += n
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Rule != c.rule {
				t.Errorf("%s: error %v, want %v", c.in, err, c.rule)
				continue
			}
			machine := "ServerFrame."
			if c.cfg.Role == RoleClient {
				machine = "ClientFrame."
			}
			if want := machine + strings.TrimPrefix(c.rule.String(), "Err"); p.State() != want {
				t.Errorf("%s: state after %v is %s, want %s", c.in, c.rule, p.State(), want)
			}
			if p.AtFrameBoundary() || p.Remaining() != 0 {
				t.Errorf("%s: a failed parser is at a frame boundary or expects payload", c.in)
			}
			p.err = nil // only the machine is left to stop it
			ev, n, err := p.Next(unhex("81 85 00 00 00 00"))
			if !errors.As(err, &fe) || fe.Rule != c.rule || fe.Offset != p.offset || n != 0 || ev.Kind != TokenNone {
				t.Errorf("%s: after %v with the error cleared: event %v, %d bytes, error %v", c.in, c.rule, ev.Kind, n, err)
			}
		}
	}
}
