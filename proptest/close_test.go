package proptest

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/wsfsm/wsfsm/wsframe"
)

// onTheWire states the checklist's rule independently of wsframe: codes
// allowed in a Close frame.
func onTheWire(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, // normal, going away, protocol error, unsupported data
		code >= 1007 && code <= 1011, // invalid payload ... internal error
		code >= 1012 && code <= 1014, // registered later with IANA
		code >= 3000 && code <= 4999: // libraries, frameworks, applications
		return true
	}
	return false
}

func TestCloseProperties(t *testing.T) {
	props := newProperties(t)
	props.Property("every code is classified as the checklist says", prop.ForAll(
		func(code uint16) string {
			c := wsframe.CloseCode(code)
			if c.ValidOnWire() != onTheWire(code) {
				return fmt.Sprintf("%d: ValidOnWire %v", code, c.ValidOnWire())
			}
			_, _, err := wsframe.ParseClose(binary.BigEndian.AppendUint16(nil, code))
			if (err == nil) != onTheWire(code) {
				return fmt.Sprintf("%d: ParseClose error %v", code, err)
			}
			if err != nil && err != wsframe.ErrCloseCode {
				return fmt.Sprintf("%d: error %v, want ErrCloseCode", code, err)
			}
			return ""
		},
		gen.UInt16(),
	))
	props.Property("parse(build(code, reason)) == (code, reason) for codes on the wire and UTF-8 reasons that fit", prop.ForAll(
		func(code uint16, rs []rune) string {
			c := wsframe.CloseCode(code)
			reason := string(rs)
			b, err := wsframe.AppendClose(nil, c, reason)
			switch {
			case c == wsframe.CloseNoStatus && reason == "":
				// "no status" is sent as an empty Close payload.
				if err != nil || len(b) != 0 {
					return fmt.Sprintf("no status: % X, %v", b, err)
				}
				return ""
			case !onTheWire(code):
				if err == nil {
					return "built a close payload with a code not allowed on the wire"
				}
				return ""
			case len(reason) > wsframe.MaxCloseReason:
				if err != wsframe.ErrCloseReasonTooLong {
					return fmt.Sprintf("%d-byte reason: err %v", len(reason), err)
				}
				return ""
			case err != nil:
				return err.Error()
			}
			if len(b) > wsframe.MaxControlPayload {
				return "payload longer than a control frame allows"
			}
			gc, gr, err := wsframe.ParseClose(b)
			if err != nil || gc != c || string(gr) != reason {
				return fmt.Sprintf("parsed %v %q %v", gc, gr, err)
			}
			return ""
		},
		gen.OneGenOf(gen.UInt16Range(990, 1020), gen.UInt16Range(2990, 5010), gen.UInt16()), GenRunes(),
	))
	props.Property("a broken reason fails with 1007, a 1-byte payload with 1002", prop.ForAll(
		func(b BrokenText, one byte) string {
			text, _ := b.Bytes()
			payload := append([]byte{0x03, 0xE8}, text...)
			if _, _, err := wsframe.ParseClose(payload); err != wsframe.ErrCloseReasonUTF8 || wsframe.ErrCloseReasonUTF8.Code() != 1007 {
				return fmt.Sprintf("broken reason: %v", err)
			}
			if _, _, err := wsframe.ParseClose([]byte{one}); err != wsframe.ErrCloseLength || wsframe.ErrCloseLength.Code() != 1002 {
				return fmt.Sprintf("1-byte payload: %v", err)
			}
			return ""
		},
		GenBrokenText(), gen.UInt8(),
	))
	props.TestingRun(t)
}
