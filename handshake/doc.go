// Package handshake implements the WebSocket opening handshake (RFC 6455
// §4) for both roles, without doing I/O: an incremental reader for HTTP/1.1
// request and response heads, server-side validation and response writing,
// the client's request and its checks, subprotocol and extension
// negotiation (permessage-deflate parameters, RFC 7692), and a bridge from
// net/http so that an http.Handler upgrades through the same code path.
//
// The head reader is a byte-driven machine generated from the declaration in
// wsfsm/gen (request.dot and response.dot show it): it looks at every byte
// once, however the head is split, so a head sent a byte at a time costs no
// more than one sent whole. It stops after the empty line and hands back the
// bytes that follow, which belong to the first frames.
//
// Where the RFCs leave room, this package is strict: a bare LF is not a line
// ending (every WebSocket client sends CRLF); obs-fold, whitespace before a
// header's colon, control bytes in a value are rejected with 400; the request
// target must be a path (origin-form), not an absolute URI; a malformed
// Sec-WebSocket-Extensions or Sec-WebSocket-Protocol header is a 400, not
// silently ignored. Every failure is an *Error naming the Rule and the HTTP
// status to answer with.
package handshake
