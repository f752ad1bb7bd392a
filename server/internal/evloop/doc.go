// Package evloop is the server's event-loop runtime (server.Server with
// EventLoop set): a few loops, each an epoll instance on a goroutine of
// its own, read every connection, feed its wsconn.Session and hand whole
// messages to the application's handler, which runs on a bounded worker
// pool keeping each connection's order (or on the loop, when the
// application promises not to block). The same sans-I/O core as the
// goroutine runtime holds every protocol rule; this package only moves
// bytes and time.
//
// # Pieces
//
//   - Conn (conn.go) is one connection's logic, written against Env, a
//     small interface to its socket and loop, so that a scripted fake
//     socket drives it in the tests (TestLoopMatchesGoroutineRuntime: any
//     interleaving of readiness, partial reads and writes, posts and
//     handler runs gives the goroutine runtime's messages and bytes).
//     States: handshake (the generated head reader, incrementally), open,
//     closing (this end sent its Close), linger (flush, half-close, drain
//     what the peer still sends), drain (the peer has gone: the queue goes
//     out first), dead.
//   - Timers (timers.go): one binary heap per loop with one entry per
//     connection at most, its nearest deadline (handshake, idle,
//     keepalive, close, write progress). Reads do not touch the heap: a
//     timer fires at the deadline it was set for, and the connection
//     looks at the clock and sets the next one.
//   - Pool (pool.go): the handlers' goroutines, at most Workers, started
//     as work comes and gone after a second without any. A connection is
//     queued once however much work it has; while its handler runs, its
//     input waits (the loop stops reading it), so a Close or an error that
//     follows messages is answered after their replies, as with a
//     goroutine per connection.
//   - WriteQueue (wqueue.go): what the socket did not take, in pooled
//     16 KiB chunks, bounded (past the bound: 1008, a slow consumer); a
//     peer that takes no byte for the write timeout is dropped. Writes
//     never block the loop or the handler.
//   - epoll_linux.go: the loops. Level-triggered; the listening socket is
//     in every loop's epoll with EPOLLEXCLUSIVE, so the kernel wakes one
//     loop per new connection; an eventfd wakes a loop for posts from
//     other goroutines (a write that left bytes queued, a Close, a
//     handler that finished). Sockets are closed only by their loop.
//     A loop with nothing to do waits for its epoll descriptor in the
//     runtime's own poller, not in epoll_wait, so that it gives its P
//     back at once to the handlers it woke. Standard library syscall
//     only.
//
// # Memory per connection
//
// Measured here (bench/cmd/load -mode idle, one message each, then held;
// bench/internal/heapstat for the live heap; bench/RESULTS-evloop.md):
// 0.36 KiB of live heap and 0.71 KiB of resident memory per idle
// connection at 19,000 connections, against 2.66 and 8.04 KiB with a
// goroutine per connection (nbio: 1.5 KiB resident). By
// component, on amd64 (unsafe.Sizeof, then the allocator's size class):
//
//	wsconn.Conn + its loop side, one allocation    152 → 160 B
//	evloop.Conn                                    184 → 192 B
//	the loop's descriptor table entry                8 B (16 with the table's growth slack)
//	Session                                          0 B at rest (344 → 352 B from a pool while
//	                                                     a frame, a message or a write is in progress)
//	read buffer, goroutine, runtime timer, channels  0 B (one 64 KiB buffer per loop; Done and
//	                                                     Ping make their channel on first use)
//	timer heap entry                                 8 B, only with keepalive or idle timeouts
//	Options                                          0 B (one per server; per connection only
//	                                                     with permessage-deflate)
//
// so about 370 B per idle connection, which the measurement confirms. What
// grows, and with what:
//
//   - a message in progress holds its own bytes (a pooled buffer of the
//     next power of two, given back after the handler; a larger one is
//     allocated for it) and the 48 B of in-flight state;
//   - a peer that reads slower than it is written to holds the queued
//     bytes, in 16 KiB chunks, up to the queue's bound plus one message;
//   - a connection waiting for its handler holds the input read past its
//     message (at most one read, 64 KiB) and 48 B per queued call;
//   - permessage-deflate keeps the connection's Session and its
//     compression state (tens of KiB with context takeover; see
//     server.Options.Deflate);
//   - per loop: a 64 KiB read buffer, 3 KiB of epoll events, the timer
//     heap (8 B per scheduled connection); per busy worker: a goroutine
//     (8 KiB of stack and up), at most Workers of them.
//
// The resident memory is the live heap plus the collector's slack: with
// the default GOGC=100 the heap may grow to twice what is live before a
// collection, and the runtime returns freed pages to the system
// gradually, hence 0.71 KiB resident for 0.36 KiB live. GOGC or
// GOMEMLIMIT trade CPU for less.
//
// Projected to 1,000,000 idle connections on one process: about 370 MiB
// of live heap and 0.7 GiB resident (a goroutine per connection: 2.6 GiB
// live, 7.7 GiB resident). The descriptor limit must allow it (ulimit -n,
// fs.nr_open), and the loops' descriptor tables hold 8 MiB of it.
//
// The kernel's memory is apart from the process's and, at that scale,
// larger: per idle TCP socket on this machine's kernel (6.18, from
// /proc/slabinfo) a tcp_sock of 2,368 B, a socket inode of 832 B, a file
// of 192 B, a dentry of 192 B and an epoll item of 128 B (plus its wait
// queue entry), about 3.7 KiB, so 3.5 GiB for 1,000,000 sockets; socket
// buffers come on top only while data waits in them (net.ipv4.tcp_rmem
// and tcp_wmem bound them per socket: 128 KiB and 16 KiB by default here,
// autotuned up to 32 MiB and 4 MiB). An idle WebSocket costs the kernel
// five to ten times what it costs this process.
package evloop
