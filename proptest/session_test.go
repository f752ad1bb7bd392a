package proptest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// runSession feeds in, cut by plan, to a fresh session and renders the
// events (message pieces joined per message), the error, and what the
// session queued to send, decoded (a client's replies are masked with fresh
// keys, so their bytes differ from run to run; their frames do not).
func runSession(c wsconn.Config, in []byte, plan []int) string {
	s := wsconn.NewSession(c)
	var log strings.Builder
	var msg []byte
	var sent []byte
	for chunk := range Split(append([]byte(nil), in...), plan) {
		for {
			ev, n, err := s.Next(chunk)
			chunk = chunk[n:]
			sent = append(sent, s.Pending()...)
			s.ClearPending()
			if err != nil {
				var fe *wsframe.Error
				errors.As(err, &fe)
				fmt.Fprintf(&log, "error %v at %d\n", fe.Rule, fe.Offset)
				return log.String() + sentFrames(c, sent)
			}
			if ev.Kind == wsconn.EventNone {
				break
			}
			switch ev.Kind {
			case wsconn.EventData:
				if ev.Start {
					msg = msg[:0]
				}
				msg = append(msg, ev.Data...)
				if ev.End {
					fmt.Fprintf(&log, "message %s %x\n", ev.Opcode, msg)
				}
			case wsconn.EventPing, wsconn.EventPong:
				fmt.Fprintf(&log, "control %d %x\n", ev.Kind, ev.Data)
			case wsconn.EventClose:
				fmt.Fprintf(&log, "close %d %x\n", ev.Code, ev.Reason)
			}
		}
	}
	return log.String() + sentFrames(c, sent)
}

func sentFrames(c wsconn.Config, sent []byte) string {
	res := RefDecode(sent, RefConfig{Server: c.Role == wsframe.RoleClient})
	var b strings.Builder
	for _, f := range res.Frames {
		fmt.Fprintf(&b, "sent %d %x\n", f.Opcode, f.Payload)
	}
	if res.Code != 0 || res.Incomplete {
		fmt.Fprintf(&b, "sent bad frames: %+v\n", res)
	}
	return b.String()
}

// textSpecs turns three text messages in four into binary ones: random
// payloads are rarely UTF-8, and the sessions should get past the UTF-8
// rule to reach the others often enough.
func textSpecs(specs []FrameSpec) []FrameSpec {
	out := Messages(specs)
	for i := range out {
		if out[i].Opcode == 0x1 && out[i].Seed%4 != 0 {
			out[i].Opcode = 0x2
		}
	}
	return out
}

func TestSessionProperties(t *testing.T) {
	props := newProperties(t)
	props.Property("any split of the received bytes yields the same events and the same frames to send", prop.ForAll(
		func(specs []FrameSpec, muts []Mutation, plan []int, server bool, limit int64, frags int) string {
			sender := server // a server reads what a client sent
			in := encodeAll(textSpecs(specs), sender)
			for _, m := range muts {
				in = m.Apply(in)
			}
			role := wsframe.RoleClient
			if server {
				role = wsframe.RoleServer
			}
			c := wsconn.Config{Role: role, MaxMessageSize: limit, MaxFragments: frags}
			whole, split := runSession(c, in, nil), runSession(c, in, plan)
			if whole != split {
				return fmt.Sprintf("whole:\n%s\nsplit:\n%s", whole, split)
			}
			return ""
		},
		GenFrameSpecs(), GenMutations(), GenSplitPlan(), gen.Bool(),
		gen.OneGenOf(gen.Const(int64(0)), gen.Int64Range(1, 100000)), gen.IntRange(0, 6),
	))
	props.TestingRun(t)
}
