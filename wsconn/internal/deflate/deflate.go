// Package deflate compresses and inflates the payloads of permessage-deflate
// messages (RFC 7692 §7) for one connection, one direction each: a
// Compressor for what the endpoint sends, a Decompressor for what it
// receives. It knows nothing of frames: the session decides which messages
// carry RSV1 and hands message bytes in and out.
//
// Memory: between messages neither side holds a flate writer or reader.
// Both come from pools and go back at the end of each message. With context
// takeover a connection keeps only its LZ77 window, the last 2^windowBits
// bytes of plaintext (at most 32 KiB per direction); without takeover it
// keeps nothing.
//
// Bounded inflate: the Decompressor's limit applies to the decompressed
// size. Inflating stops at the first byte past the limit (ErrTooBig, close
// code 1009), so at most limit+1 bytes reach the caller and the flate
// reader's own 32 KiB window is the only other output memory. Corrupt data
// is ErrCorrupt (close code 1007), never a panic.
package deflate

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/wsfsm/wsfsm/wsframe"
)

// Window sizes of RFC 7692 §7.1.2: 2^8 to 2^15 bytes.
const (
	MinWindowBits = 8
	MaxWindowBits = 15
)

// DefaultLevel is the compression level used when Config.Level is 0:
// klauspost/compress level 1 (see compare_test.go and the package's note:
// on small JSON it gives the ratio of the higher levels at a fraction of
// their time, because most of the gain comes from context takeover).
const DefaultLevel = 1

// DefaultContext is Config.Context when 0: see compare_test.go, where
// priming with 4 KiB keeps most of the ratio of a full 32 KiB window on
// small JSON at an eighth of the cost.
const DefaultContext = 4 << 10

// tail is the end of a sync flush (an empty stored block) that RFC 7692
// §7.2.1 removes from every compressed message and §7.2.2 appends again.
var tail = [4]byte{0x00, 0x00, 0xff, 0xff}

// finalBlock is an empty final stored block. Appended after the tail it
// turns a well-formed message into a complete DEFLATE stream, so that the
// reader ends with io.EOF and a truncated one shows as an error.
var finalBlock = [5]byte{0x01, 0x00, 0x00, 0xff, 0xff}

// Config is one direction's parameters, as negotiated.
type Config struct {
	// NoContextTakeover: every message is compressed (inflated) on its own,
	// with an empty window (RFC 7692 §7.1.1). The connection then holds
	// nothing between messages.
	NoContextTakeover bool
	// WindowBits: the LZ77 window is 2^WindowBits bytes (RFC 7692 §7.1.2).
	// A Compressor never refers further back than that; a Decompressor
	// keeps only that much history with context takeover. 0 means 15.
	WindowBits int
	// Level is the compression level, 1 (fastest) to 9; 0 means
	// DefaultLevel. Ignored by a Decompressor, and by a Compressor whose
	// window is smaller than 2^15 (klauspost/compress has one encoder for
	// custom windows).
	Level int
	// Context (a Compressor with context takeover): how many bytes of
	// earlier messages the compressor refers to, at most the window; 0
	// means DefaultContext. RFC 7692 lets a compressor use less than the
	// window it may; priming a pooled writer costs time in proportion to
	// this, and the connection holds this many bytes between messages.
	Context int

	engine *engine // nil: klauspost/compress; tests set compress/flate
	keep   bool    // tests: with takeover, hold the writer between messages
}

func (c Config) check() (Config, error) {
	if c.WindowBits == 0 {
		c.WindowBits = MaxWindowBits
	}
	if c.WindowBits < MinWindowBits || c.WindowBits > MaxWindowBits {
		return c, fmt.Errorf("deflate: window bits %d not in 8..15", c.WindowBits)
	}
	if c.Level == 0 {
		c.Level = DefaultLevel
	}
	if c.Level < 1 || c.Level > 9 {
		return c, fmt.Errorf("deflate: level %d not in 1..9", c.Level)
	}
	if c.engine == nil {
		c.engine = klauspost
	}
	if c.Context <= 0 {
		c.Context = DefaultContext
	}
	c.Context = min(c.Context, 1<<c.WindowBits)
	return c, nil
}

// Errors. Both carry the close code the session sends.
var (
	// ErrTooBig: the inflated message passes the limit (RFC 6455 §7.4.1,
	// 1009). It wraps wsframe.ErrMessageTooBig, so wsframe.CodeOf knows it.
	ErrTooBig error = &Error{text: "inflated message is larger than the limit", rule: wsframe.ErrMessageTooBig}
	// ErrCorrupt: the compressed bytes are not DEFLATE data (RFC 7692
	// §7.2.2), close code 1007 (RFC 6455 §7.4.1: data inconsistent with the
	// message type).
	ErrCorrupt error = &Error{text: "corrupt deflate data"}
)

// Error is one of ErrTooBig and ErrCorrupt, possibly with the reason.
type Error struct {
	text  string
	rule  wsframe.Rule // 0 for ErrCorrupt
	cause error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return "websocket: permessage-deflate: " + e.text + ": " + e.cause.Error()
	}
	return "websocket: permessage-deflate: " + e.text
}

// Code is the close code to send.
func (e *Error) Code() wsframe.CloseCode {
	if e.rule != 0 {
		return e.rule.Code()
	}
	return wsframe.CloseInvalidPayload
}

// Is makes errors.Is(err, ErrCorrupt) hold for every corrupt-data error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.text == e.text && t.cause == nil
}

// Unwrap gives the wsframe rule (ErrTooBig) or the flate error.
func (e *Error) Unwrap() error {
	if e.rule != 0 {
		return e.rule
	}
	return e.cause
}

func corrupt(cause error) error {
	return &Error{text: "corrupt deflate data", cause: cause}
}

// CodeOf is the close code for an error from this package.
func CodeOf(err error) (wsframe.CloseCode, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// engine is a flate implementation. Only klauspost/compress ships; the
// comparison in compare_test.go adds compress/flate.
type engine struct {
	name string
	// newWriter returns a writer that never refers further back than
	// 2^bits bytes, or an error when the implementation cannot promise it.
	newWriter func(level, bits int) (flateWriter, error)
	// resetDict: the writer can restart with a preset window
	// (ResetDict); otherwise takeover keeps the writer between messages.
	resetDict bool
	newReader func(r io.Reader) flateReader

	mu    sync.Mutex
	wpool map[[2]int]*sync.Pool
	rpool sync.Pool
}

type flateWriter interface {
	io.Writer
	Flush() error
	Reset(dst io.Writer)
	ResetDict(dst io.Writer, dict []byte) // only if engine.resetDict
}

type flateReader interface {
	io.ReadCloser
	flate.Resetter
}

type kpWriter struct{ *flate.Writer }

var klauspost = &engine{
	name: "klauspost",
	newWriter: func(level, bits int) (flateWriter, error) {
		if bits < MaxWindowBits {
			// RFC 7692 §7.1.2.1: distances never exceed the window.
			w, err := flate.NewWriterWindow(nil, 1<<bits)
			return kpWriter{w}, err
		}
		w, err := flate.NewWriter(nil, level)
		return kpWriter{w}, err
	},
	resetDict: true,
	newReader: func(r io.Reader) flateReader { return flate.NewReader(r).(flateReader) },
}

func (e *engine) writerPool(level, bits int) *sync.Pool {
	if bits < MaxWindowBits {
		level = 0 // one encoder for every custom window
	}
	key := [2]int{level, bits}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.wpool[key]
	if p == nil {
		if e.wpool == nil {
			e.wpool = map[[2]int]*sync.Pool{}
		}
		p = &sync.Pool{}
		e.wpool[key] = p
	}
	return p
}

// window appends b to the history h, keeping the last size bytes. h grows
// to size at most and never beyond (capacity included), so an idle
// connection holds exactly its window.
func window(h, b []byte, size int) []byte {
	if len(b) >= size {
		if cap(h) < size {
			h = make([]byte, size)
		}
		h = h[:size]
		copy(h, b[len(b)-size:])
		return h
	}
	if over := len(h) + len(b) - size; over > 0 {
		copy(h, h[over:])
		h = h[:len(h)-over]
	}
	if len(h)+len(b) > cap(h) {
		n := min(size, max(2*cap(h), len(h)+len(b), 256))
		nh := make([]byte, len(h), n)
		copy(nh, h)
		h = nh
	}
	return append(h, b...)
}

// appendWriter is the flate writer's destination: it appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Compressor compresses the messages one endpoint sends. Not safe for
// concurrent use; a connection serialises its writes anyway.
type Compressor struct {
	cfg  Config
	pool *sync.Pool
	hist []byte      // context takeover: the last Config.Context bytes sent
	kept flateWriter // context takeover on an engine without ResetDict
	sink appendWriter
}

// NewCompressor returns a compressor for cfg.
func NewCompressor(cfg Config) (*Compressor, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if _, err := cfg.engine.newWriter(cfg.Level, cfg.WindowBits); err != nil {
		return nil, fmt.Errorf("deflate: %s cannot compress with a window of 2^%d: %w", cfg.engine.name, cfg.WindowBits, err)
	}
	return &Compressor{cfg: cfg, pool: cfg.engine.writerPool(cfg.Level, cfg.WindowBits)}, nil
}

func (c *Compressor) writer() flateWriter {
	if w, ok := c.pool.Get().(flateWriter); ok {
		return w
	}
	w, err := c.cfg.engine.newWriter(c.cfg.Level, c.cfg.WindowBits)
	if err != nil {
		panic(err) // NewCompressor made one with the same arguments
	}
	return w
}

// Compress appends the compressed payload of msg to dst: DEFLATE blocks
// ending in a sync flush whose 00 00 ff ff tail is removed (RFC 7692
// §7.2.1). With context takeover the message joins the window that the
// next one may refer to.
func (c *Compressor) Compress(dst, msg []byte) ([]byte, error) {
	start := len(dst)
	c.sink.b = dst
	var w flateWriter
	switch {
	case c.cfg.NoContextTakeover:
		w = c.writer()
		w.Reset(&c.sink)
	case !c.cfg.engine.resetDict || c.cfg.keep:
		if c.kept == nil {
			c.kept = c.writer()
			c.kept.Reset(&c.sink)
		}
		w = c.kept
	default:
		w = c.writer()
		w.ResetDict(&c.sink, c.hist)
	}
	_, err := w.Write(msg)
	if err == nil {
		err = w.Flush()
	}
	if c.kept == nil {
		// Drop the references to this connection's buffers before
		// another connection gets the writer.
		if c.cfg.engine.resetDict {
			w.ResetDict(nil, nil)
		} else {
			w.Reset(nil)
		}
		c.pool.Put(w)
	}
	dst, c.sink.b = c.sink.b, nil
	if err != nil {
		return dst[:start], err
	}
	if len(dst)-start < len(tail) || [4]byte(dst[len(dst)-4:]) != tail {
		return dst[:start], errors.New("deflate: flush did not end with 00 00 ff ff")
	}
	if c.kept == nil && !c.cfg.NoContextTakeover {
		c.hist = window(c.hist, msg, c.cfg.Context)
	}
	return dst[:len(dst)-4], nil
}

// Release gives back what the compressor holds (a kept writer); the
// compressor stays usable.
func (c *Compressor) Release() {
	if c.kept != nil {
		// A kept writer's window is the connection's context: dropping
		// it ends takeover, so Release is for connections that end.
		c.kept.Reset(nil)
		c.pool.Put(c.kept)
		c.kept = nil
	}
	c.hist = nil
}
