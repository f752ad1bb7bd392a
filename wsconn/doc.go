// Package wsconn is the WebSocket connection, for both roles: Conn, a
// blocking connection over any net.Conn, and Session, the sans-I/O core
// that holds every protocol rule above the frame grammar (fragments, UTF-8
// across them, control frames, the close handshake, limits,
// permessage-deflate). Conn drives a Session; so do wsfsm/server and any
// event loop, and the rules are the same. Most programs reach these types
// through the root package wsfsm, which names them.
//
// The ways in: Dial opens a client connection (ws:// or wss://, through the
// environment's HTTP proxy; DialOptions); wsfsm/server's Upgrade and Server
// hand a server its connections; NewConn wraps a net.Conn whose handshake
// was done elsewhere; NewSession is the core alone, for a runtime of your
// own: bytes received go into Next, which returns events; what the protocol
// must send on its own (Pongs, the Close reply) waits in Pending.
//
// # Who owns a slice
//
//   - ReadMessage returns memory the caller owns: nothing here writes it
//     again.
//   - AppendMessage appends to the caller's buffer and returns it: passing
//     buf[:0] again reads without allocating.
//   - The function given to Run, a server Handler's OnMessage, and the
//     OnPing, OnPong and OnClose hooks borrow their data for the call: it is
//     the connection's own buffer (never one shared between connections),
//     so copy what you keep.
//   - NextReader copies into the caller's buffers. WriteMessage, NextWriter's
//     writes and NewPreparedMessage are done with the caller's slice when they
//     return.
//   - A Session's Event, and its Data and Reason, are valid until the next
//     call to Next: message data aliases Next's input (unmasked in place),
//     control payloads the session's own buffer. Pending aliases the
//     session's buffer until ClearPending or the next call that queues more;
//     the Append methods append to dst and return it.
//
// # Limits, time and concurrency
//
// Memory follows bytes received, never the lengths a header announces.
// One goroutine reads a Conn at a time; any number may write, and frames
// never interleave. Every frame a Conn writes has a deadline
// (Options.WriteTimeout); a read never waits for a write; Close returns
// within Options.CloseTimeout. Once a read has failed (the peer's Close
// included: the error is a *CloseError), the connection ends by itself,
// its Close reply and lingering close running in the background: a
// handler then just returns (a deferred Close or CloseNow lets them
// finish).
package wsconn
