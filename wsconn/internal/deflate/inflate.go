package deflate

import (
	"errors"
	"fmt"
	"io"
	"iter"
)

// bufferMax is how many compressed bytes of a message the Decompressor
// gathers before it starts inflating. A message that arrives whole below
// it (the common case: small messages in one frame, one read) is inflated
// in one call at Finish. A longer one is inflated as its bytes arrive, by a
// flate reader running in a coroutine (iter.Pull) that suspends when it
// needs bytes that have not arrived; memory then stays flat whatever the
// message's compressed size.
const bufferMax = 4 << 10

// scratchSize is the output buffer of one flate read; with the limit it
// bounds what one read can inflate past the limit (nothing: the read is cut
// at limit+1).
const scratchSize = 8 << 10

// end is what RFC 7692 §7.2.2 appends to a message (00 00 ff ff) followed by
// an empty final block, so that a well-formed message ends the DEFLATE
// stream (io.EOF) and a truncated one is an error.
var end = append(tail[:], finalBlock[:]...)

// inflater is what a Decompressor borrows for one message.
type inflater struct {
	fr      flateReader
	scratch [scratchSize]byte
	buf     [bufferMax + 16]byte
	stage   [2 << MaxWindowBits]byte // the message's last output, for the window
}

// eofReader is a flate.Reader with nothing in it: pooled readers point at
// it, not at the connection they last served.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
func (eofReader) ReadByte() (byte, error)  { return 0, io.EOF }

func (e *engine) inflater() *inflater {
	if f, ok := e.rpool.Get().(*inflater); ok {
		return f
	}
	return &inflater{fr: e.newReader(eofReader{})}
}

// errAborted ends a suspended inflate when the message is abandoned.
var errAborted = errors.New("deflate: message abandoned")

// Decompressor inflates the messages one endpoint receives: Write with the
// compressed bytes of a message in any pieces, then Finish. The output does
// not depend on how the bytes were split. Not safe for concurrent use.
//
// A connection that ends in the middle of a compressed message must call
// Abort (a message longer than 4 KiB compressed holds a suspended
// coroutine until Finish or Abort).
type Decompressor struct {
	cfg   Config
	limit int64
	hist  []byte // context takeover: the last 2^WindowBits bytes inflated
	stage []byte // during a message: its last output (up to 2 windows)

	// One message.
	inf    *inflater
	buf    []byte // the message's first bytes, before streaming starts
	in     []byte // input the flate reader has not read yet
	final  bool   // in holds the end of the message
	dst    []byte // where output goes, the caller's
	n      int64  // bytes inflated so far
	done   bool   // the DEFLATE stream ended (io.EOF)
	next   func() (struct{}, bool)
	stop   func()
	yield  func(struct{}) bool
	halted bool  // stop was called while suspended
	err    error // sticky
}

// NewDecompressor returns a decompressor whose messages may inflate to at
// most limit bytes each.
func NewDecompressor(cfg Config, limit int64) (*Decompressor, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("deflate: negative limit %d", limit)
	}
	return &Decompressor{cfg: cfg, limit: limit}, nil
}

// SetLimit changes the limit on the decompressed size of the next messages.
func (d *Decompressor) SetLimit(limit int64) { d.limit = max(limit, 0) }

// Err is the sticky error, if any.
func (d *Decompressor) Err() error { return d.err }

func (d *Decompressor) begin() {
	if d.inf != nil {
		return
	}
	d.inf = d.cfg.engine.inflater()
	d.buf = d.inf.buf[:0]
	d.stage = d.inf.stage[:0]
	d.n, d.done, d.final, d.halted = 0, false, false, false
	var dict []byte
	if !d.cfg.NoContextTakeover {
		dict = d.hist
	}
	if err := d.inf.fr.Reset(d, dict); err != nil {
		d.fail(corrupt(err))
	}
}

// Write inflates the compressed bytes p of the current message (a frame's
// payload or any part of it) and appends what it can inflate so far to
// dst. The output may lag the input; Finish delivers the rest. p is not
// retained.
func (d *Decompressor) Write(dst, p []byte) ([]byte, error) {
	if d.err != nil {
		return dst, d.err
	}
	d.begin()
	if d.err != nil {
		return dst, d.err
	}
	if d.next == nil {
		if len(d.buf)+len(p) <= bufferMax {
			d.buf = append(d.buf, p...)
			return dst, nil
		}
		d.next, d.stop = iter.Pull(d.run)
		dst = d.feed(dst, d.buf)
		d.buf = d.inf.buf[:0]
	}
	return d.feed(dst, p), d.err
}

// feed hands p to the suspended reader and runs it until it needs more.
func (d *Decompressor) feed(dst, p []byte) []byte {
	if d.err != nil || len(p) == 0 || d.done {
		// After a final block (BFINAL=1) the rest of the message is not
		// DEFLATE data: RFC 7692 §7.2.3.4 shows a final block followed by
		// the start of the empty stored block that the appended tail
		// completes. Like zlib, the reader ignores what follows.
		return dst
	}
	d.in, d.dst = p, dst
	d.next()
	dst, d.dst = d.dst, nil
	d.in = nil
	return dst
}

// Finish ends the message: appends 00 00 ff ff (RFC 7692 §7.2.2), inflates
// what is left into dst and checks that the message was whole DEFLATE
// blocks. With context takeover the message's last 2^WindowBits bytes stay
// as the window of the next one; nothing else is held.
func (d *Decompressor) Finish(dst []byte) ([]byte, error) {
	if d.err != nil {
		return dst, d.err
	}
	d.begin()
	if d.err != nil {
		return dst, d.err
	}
	if d.next == nil {
		// The whole message is in buf: inflate it here, no coroutine.
		d.buf = append(d.buf, end...)
		d.in, d.final, d.dst = d.buf, true, dst
		d.run(nil)
		dst, d.dst = d.dst, nil
	} else {
		d.final = true
		dst = d.feed(dst, end)
	}
	if d.err == nil && !d.done {
		d.fail(corrupt(io.ErrUnexpectedEOF))
	}
	if d.err != nil {
		return dst, d.err
	}
	if !d.cfg.NoContextTakeover {
		d.hist = window(d.hist, d.stage, 1<<d.cfg.WindowBits)
	}
	d.release()
	return dst, nil
}

// Abort abandons the current message, if any, and gives back what it
// holds. The decompressor cannot be used after it.
func (d *Decompressor) Abort() {
	d.release()
	d.hist = nil
	if d.err == nil {
		d.err = errAborted
	}
}

func (d *Decompressor) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.release()
	d.hist = nil
}

func (d *Decompressor) release() {
	if d.stop != nil {
		d.stop()
		d.next, d.stop = nil, nil
	}
	if d.inf != nil {
		d.inf.fr.Reset(eofReader{}, nil)
		d.cfg.engine.rpool.Put(d.inf)
		d.inf, d.buf, d.stage = nil, nil, nil
	}
	d.in, d.dst, d.yield = nil, nil, nil
}

// run inflates until the stream ends or fails. With yield it runs in the
// coroutine and suspends, in fill, whenever it has read all input so far.
func (d *Decompressor) run(yield func(struct{}) bool) {
	d.yield = yield
	fr, scratch := d.inf.fr, d.inf.scratch[:]
	for {
		room := scratch
		if allowed := d.limit - d.n + 1; allowed < int64(len(room)) {
			room = room[:allowed]
		}
		n, err := fr.Read(room)
		if d.halted {
			// Abandoned (release called stop): the error, if any, is set.
			return
		}
		if n > 0 {
			d.n += int64(n)
			if d.n > d.limit {
				d.err = ErrTooBig
				return
			}
			d.dst = append(d.dst, room[:n]...)
			if !d.cfg.NoContextTakeover {
				d.remember(room[:n])
			}
		}
		switch {
		case err == io.EOF:
			d.done = true
			return
		case err != nil:
			d.err = corrupt(err)
			return
		}
	}
}

// fill waits until input is there; false at the end of the message.
func (d *Decompressor) fill() bool {
	for len(d.in) == 0 {
		if d.final || d.yield == nil {
			return false
		}
		if !d.yield(struct{}{}) {
			d.halted = true
			return false
		}
	}
	return true
}

// Read and ReadByte feed the flate reader (it takes a flate.Reader as is,
// without a bufio.Reader of its own).
func (d *Decompressor) Read(p []byte) (int, error) {
	if !d.fill() {
		return 0, io.EOF
	}
	n := copy(p, d.in)
	d.in = d.in[n:]
	return n, nil
}

func (d *Decompressor) ReadByte() (byte, error) {
	if !d.fill() {
		return 0, io.EOF
	}
	b := d.in[0]
	d.in = d.in[1:]
	return b, nil
}

// remember keeps the message's last output in stage (two windows long;
// when full, its last window moves to the front), for Finish to add to the
// connection's window. Only memmove, amortised one copy per byte.
func (d *Decompressor) remember(b []byte) {
	size := 1 << d.cfg.WindowBits
	if len(b) >= size {
		d.stage = append(d.stage[:0], b[len(b)-size:]...)
		return
	}
	if len(d.stage)+len(b) > cap(d.stage) {
		n := copy(d.stage, d.stage[len(d.stage)-size:])
		d.stage = d.stage[:n]
	}
	d.stage = append(d.stage, b...)
}
