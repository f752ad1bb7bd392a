package proptest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/wsfsm/wsfsm/internal/introspect"
	"github.com/wsfsm/wsfsm/internal/seeded"
	"github.com/wsfsm/wsfsm/wsframe"
)

// newProperties returns gopter properties seeded as everywhere
// (internal/seeded) with 1000 cases by default.
func newProperties(t *testing.T) *gopter.Properties {
	p := seeded.Parameters(t, "./proptest", 1000)
	// The default size of lists drawn with gen.SliceOf (split plans,
	// mutations, handshake fields). Byte strings, frame lists and texts
	// choose their own sizes (sliceUpTo), far beyond it.
	p.MaxSize = 24
	return gopter.NewProperties(p)
}

// parserConfig is the wsframe configuration equivalent to c.
func parserConfig(c RefConfig) wsframe.Config {
	role := wsframe.RoleClient
	if c.Server {
		role = wsframe.RoleServer
	}
	return wsframe.Config{Role: role, AllowedRSV: c.AllowedRSV, MaxPayload: int64(c.MaxPayload)}
}

// onStates, when set, receives the set of frame-machine states each Parse
// call saw the parser in (the coverage test counts them).
var onStates func(states map[string]bool)

// Parse drives the generated parser over in, cut by plan, and reports what
// it found in the reference decoder's terms. Payload pieces are joined per
// frame; the input is copied first because the parser unmasks in place.
// After an error the parser must be in the error state named after the
// rule (the machine is dead there); if not, Rule says where it was left.
func Parse(c RefConfig, in []byte, plan []int) RefResult {
	p := wsframe.NewParser(parserConfig(c))
	var res RefResult
	var cur RefFrame
	var states map[string]bool
	if onStates != nil {
		states = map[string]bool{introspect.FrameState(p): true}
		defer func() { onStates(states) }()
	}
	for chunk := range Split(append([]byte(nil), in...), plan) {
		for {
			ev, n, err := p.Next(chunk)
			if states != nil {
				states[introspect.FrameState(p)] = true
			}
			if err != nil {
				var fe *wsframe.Error
				if !errors.As(err, &fe) {
					panic(fmt.Sprintf("parser error of type %T", err))
				}
				res.Rule, res.Code, res.ErrOffset = strings.TrimPrefix(fe.Rule.String(), "Err"), int(fe.Code()), fe.Offset
				if _, state, _ := strings.Cut(introspect.FrameState(p), "."); state != res.Rule {
					res.Rule += " (machine left in " + introspect.FrameState(p) + ")"
				}
				return res
			}
			chunk = chunk[n:]
			switch ev.Kind {
			case wsframe.TokenHeader:
				h := ev.Header
				cur = RefFrame{Fin: h.Fin, Rsv: h.Rsv, Opcode: uint8(h.Opcode), Masked: h.Masked, Mask: h.Mask, Payload: []byte{}}
			case wsframe.TokenPayload:
				cur.Payload = append(cur.Payload, ev.Payload...)
				if ev.End {
					res.Frames = append(res.Frames, cur)
				}
			}
			if ev.Kind == wsframe.TokenNone {
				break
			}
		}
	}
	res.Incomplete = !p.AtFrameBoundary()
	return res
}

// diff describes how two results differ, or returns "" when they agree.
func diff(got, want RefResult) string {
	if got.Rule != want.Rule || got.Code != want.Code || got.ErrOffset != want.ErrOffset || got.Incomplete != want.Incomplete {
		return fmt.Sprintf("end: rule %q (code %d) at %d incomplete %v, want rule %q (code %d) at %d incomplete %v",
			got.Rule, got.Code, got.ErrOffset, got.Incomplete, want.Rule, want.Code, want.ErrOffset, want.Incomplete)
	}
	if len(got.Frames) != len(want.Frames) {
		return fmt.Sprintf("%d frames, want %d", len(got.Frames), len(want.Frames))
	}
	for i := range got.Frames {
		g, w := got.Frames[i], want.Frames[i]
		if g.Fin != w.Fin || g.Rsv != w.Rsv || g.Opcode != w.Opcode || g.Masked != w.Masked || g.Mask != w.Mask {
			return fmt.Sprintf("frame %d header %+v, want %+v", i, hdr(g), hdr(w))
		}
		if !bytes.Equal(g.Payload, w.Payload) {
			return fmt.Sprintf("frame %d payload differs (%d bytes, want %d)", i, len(g.Payload), len(w.Payload))
		}
	}
	return ""
}

func hdr(f RefFrame) RefFrame { f.Payload, f.PayloadAt, f.End = nil, 0, 0; return f }

// encodeAll encodes frames as the sender of the given role writes them.
func encodeAll(specs []FrameSpec, clientSends bool) []byte {
	var out []byte
	for _, f := range specs {
		out = f.Encode(out, clientSends)
	}
	return out
}
