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
// The ways in: a server feeds the request head to NewRequestReader's
// HeadReader, gives its Request to Check (FromHTTP turns a net/http request
// into one) and writes the Agreement's AppendResponse, or AppendRejection
// for the error; a client writes NewClientRequest's Head, feeds the answer
// to NewResponseReader's HeadReader and checks its Response with
// ClientRequest.Check. wsfsm/server and wsfsm/wsconn do all this over
// sockets; most programs use them, through the root package wsfsm.
//
// Who owns a slice: Feed's rest aliases the chunk passed to it (copy it
// before reusing the chunk); Request and Response hold strings copied from
// the head, the caller's to keep; the Append functions append to dst and
// return it.
//
// Where the RFCs leave room, this package is strict: a bare LF is not a line
// ending (every WebSocket client sends CRLF); obs-fold, whitespace before a
// header's colon, control bytes in a value are rejected with 400; the request
// target must be a path (origin-form), not an absolute URI; a malformed
// Sec-WebSocket-Extensions or Sec-WebSocket-Protocol header is a 400, not
// silently ignored. Every failure is an *Error naming the Rule and the HTTP
// status to answer with.
package handshake
