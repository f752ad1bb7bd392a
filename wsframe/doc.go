// Package wsframe reads and writes WebSocket frames (RFC 6455 §5) without
// doing any I/O.
//
// The frame header is read by a finite state machine generated from the
// declaration in wsfsm/gen (see frame_server.dot and frame_client.dot for the
// pictures, frame_gen.go for the code). Header bytes step through the
// machine one at a time, so input may be split anywhere; payload bytes never
// do: they are unmasked a machine word at a time and handed back as slices of
// the caller's buffer.
//
// # Why Next returns tokens
//
// NewParser, then Parser.Next, is the one way in. Next returns one token at
// a time (a header, or a piece of payload) instead of calling back into the
// application. The caller keeps the control
// flow: it can stop between any two tokens, hand the rest of the buffer to
// something else, or feed the parser from inside a select loop, and there is
// no re-entrancy to reason about (a callback that feeds the parser again).
// Tokens are plain values, so reading a frame allocates nothing.
//
// # Who owns a slice
//
// Next returns the parser's own Token, valid until the next call; its
// Header points into the parser and its Payload aliases the data passed to
// Next (unmasked in place), valid as long as that buffer is. ParseClose's
// reason aliases the payload it was given. AppendFrame, AppendHeader and
// AppendClose append to dst and return it. Most programs never see frames:
// the root package wsfsm and wsfsm/wsconn read and write whole messages.
//
// # Rules
//
// Every violation is a *Error that names the Rule it broke (compare with
// errors.Is against ErrReservedOpcode, ErrFrameTooBig, ...), the close code
// to send, and the offset of the byte that proved it. Errors are sticky: a
// parser that failed stays failed until Reset.
//
// The machine enforces: reserved opcodes (1002); RSV bits the configuration
// does not allow (1002); the MASK bit of the peer's role (1002); control
// frames fragmented, with RSV bits or longer than 125 bytes (1002); a 64-bit
// length with its top bit set (1002); a frame longer than the configured
// limit (1009), detected from the header before any payload is read.
//
// Message-level rules (continuation sequencing, UTF-8 across fragments, the
// close handshake) belong to the connection core, wsfsm/wsconn, which uses
// UTF8Validator and ParseClose from this package.
package wsframe

//go:generate go run github.com/wsfsm/wsfsm/gen
