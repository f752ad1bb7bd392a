package proptest

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The session model: what a wsconn.Session must do with the bytes it
// receives, decided from RFC 6455 alone. It shares no code with wsconn or
// wsframe: the frames come from the reference decoder (RefDecode, §5.2), the
// message rules below are written from §5.4 (fragmentation), §5.5
// (control frames), §5.5.1 and §7 (the closing handshake, close codes),
// §8.1 (UTF-8, failing fast) and §10.4 (limits), and UTF-8 validity from
// unicode/utf8 (completable, in utf8_test.go).
//
// Its output is a log in the words runSession renders a real session's
// behaviour in: one line per complete message, per ping, pong and close
// received, the error (rule, close code, offset of the byte that proved
// it), then one line per frame the session must have queued to send.

// SessionModelConfig is the configuration the model reads for.
type SessionModelConfig struct {
	Server       bool  // the reader is a server: frames arrive masked, replies leave unmasked
	MaxMessage   int64 // the message limit, all fragments together; also the frame limit
	MaxFragments int   // the most frames a message may have; 0: no bound
}

// modelLog collects the model's log.
type modelLog struct {
	events strings.Builder
	sent   strings.Builder
}

func (l *modelLog) event(format string, a ...any) { fmt.Fprintf(&l.events, format+"\n", a...) }

// send records a frame the session queues: every one is final, without RSV
// bits (no extension is negotiated here).
func (l *modelLog) send(opcode string, payload []byte) {
	fmt.Fprintf(&l.sent, "sent fin rsv=0 %s %x\n", opcode, payload)
}

func (l *modelLog) String() string { return l.events.String() + l.sent.String() }

// fail ends the model's run with an error: the session reports the rule at
// the offset and queues a Close with the rule's code and no reason.
func (l *modelLog) fail(rule string, code int, at int64) string {
	l.event("error %s (%d) at %d", rule, code, at)
	l.send("close", binary.BigEndian.AppendUint16(nil, uint16(code)))
	return l.String()
}

// utf8Scan walks p: bad is the index of the first byte that proves p is
// not the start of valid UTF-8 (-1 when none), tail the index where an
// incomplete last sequence starts (len(p) when p ends between code points).
func utf8Scan(p []byte) (bad, tail int) {
	for i := 0; i < len(p); {
		if p[i] < utf8.RuneSelf {
			i++
			continue
		}
		k := 1
		for ; k <= utf8.UTFMax && i+k <= len(p); k++ {
			if !completable(p[i : i+k]) {
				return i + k - 1, i
			}
			if utf8.Valid(p[i : i+k]) {
				break
			}
		}
		if i+k > len(p) {
			return -1, i
		}
		i += k
	}
	return -1, len(p)
}

var modelOpcodes = map[uint8]string{0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}

// ModelSession returns the log of what a session configured by c must do
// with the bytes in, received from the peer.
func ModelSession(in []byte, c SessionModelConfig) string {
	var log modelLog
	// §5.2, §5.1, §5.5 and the endpoint's frame limit: the frame limit is
	// the message limit (no frame may be larger than a whole message).
	dec := RefDecode(in, RefConfig{Server: c.Server, MaxPayload: uint64(c.MaxMessage)})
	frames := dec.Frames
	if dec.Partial != nil {
		frames = append(frames, *dec.Partial)
	}

	var (
		inMessage bool
		opcode    uint8
		size      int64
		fragments int
		message   []byte
		checked   int // message[:checked] is whole valid code points
	)
	for i, f := range frames {
		partial := dec.Partial != nil && i == len(frames)-1
		if f.Opcode >= 0x8 {
			if partial {
				break // a control frame acts when complete
			}
			switch f.Opcode {
			case 0x9:
				// §5.5.2: a Pong with the Ping's payload goes back.
				log.event("ping %x", f.Payload)
				log.send("pong", f.Payload)
			case 0xA:
				// §5.5.3: a Pong may come unsolicited; nothing to do.
				log.event("pong %x", f.Payload)
			case 0x8:
				// §5.5.1: the body, when present, is a 2-byte code then a
				// UTF-8 reason.
				code, reason := uint16(1005), []byte{}
				switch {
				case len(f.Payload) == 1:
					return log.fail("CloseLength", 1002, f.End)
				case len(f.Payload) >= 2:
					code, reason = binary.BigEndian.Uint16(f.Payload), f.Payload[2:]
					// §7.4: the codes a Close frame may carry
					// (onTheWire, close_test.go).
					if !onTheWire(code) {
						return log.fail("CloseCode", 1002, f.End)
					}
					if !utf8.Valid(reason) {
						return log.fail("CloseReasonUTF8", 1007, f.End)
					}
				}
				log.event("close %d %x", code, reason)
				// The reply echoes the code (nothing for "no status"), and
				// nothing after the peer's Close is read.
				var echo []byte
				if code != 1005 {
					echo = binary.BigEndian.AppendUint16(nil, code)
				}
				log.send("close", echo)
				return log.String()
			}
			continue
		}

		// A data frame: the message rules apply when its header is read.
		switch {
		case f.Opcode == 0x0 && !inMessage:
			return log.fail("UnexpectedContinuation", 1002, f.PayloadAt)
		case f.Opcode != 0x0 && inMessage:
			return log.fail("MessageInProgress", 1002, f.PayloadAt)
		case f.Opcode != 0x0:
			inMessage, opcode, size, fragments, message, checked = true, f.Opcode, 0, 0, message[:0], 0
		}
		fragments++
		if c.MaxFragments > 0 && fragments > c.MaxFragments {
			return log.fail("TooManyFragments", 1009, f.PayloadAt)
		}
		length := f.End - f.PayloadAt // announced, whether or not it all arrived
		if size+length > c.MaxMessage {
			return log.fail("MessageTooBig", 1009, f.PayloadAt)
		}
		size += length
		message = append(message, f.Payload...)
		if opcode == 0x1 {
			// §8.1: fail fast, at the first byte that proves the text
			// invalid, across fragment boundaries.
			bad, tail := utf8Scan(message[checked:])
			if bad >= 0 {
				at := checked + bad - (len(message) - len(f.Payload))
				return log.fail("InvalidUTF8", 1007, f.PayloadAt+int64(at))
			}
			checked += tail
		}
		if partial || !f.Fin {
			continue
		}
		if opcode == 0x1 && checked != len(message) {
			// The message ends inside a code point.
			return log.fail("InvalidUTF8", 1007, f.End)
		}
		log.event("message %s %x", modelOpcodes[opcode], message)
		inMessage = false
	}
	if dec.Rule != "" {
		return log.fail(dec.Rule, dec.Code, dec.ErrOffset)
	}
	return log.String()
}
