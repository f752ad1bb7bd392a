package handshake

import (
	"strconv"
	"strings"

	"github.com/wsfsm/wsfsm/internal/introspect"
)

// Limits bound what a head reader buffers. Zero fields take the defaults.
type Limits struct {
	MaxHeadSize   int // bytes in the whole head; default 8 KiB
	MaxHeaders    int // header fields; default 100
	MaxLineLength int // bytes in one line, CRLF included; default 4 KiB
}

// Default limits.
const (
	DefaultMaxHeadSize   = 8 << 10
	DefaultMaxHeaders    = 100
	DefaultMaxLineLength = 4 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxHeadSize <= 0 {
		l.MaxHeadSize = DefaultMaxHeadSize
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxLineLength <= 0 {
		l.MaxLineLength = DefaultMaxLineLength
	}
	return l
}

type span struct{ start, end int }

type fieldSpan struct{ name, value span }

// HeadReader reads an HTTP/1.1 request or response head from chunks of any
// size. It buffers at most the head-size limit and looks at each byte once.
type HeadReader struct {
	lim       Limits
	state     uint8
	request   bool
	buf       []byte
	base      int // offset in buf of the data being stepped
	steps     int // bytes the machine has stepped over
	markPos   int
	lineStart int

	methodSpan, targetSpan, reasonSpan span
	majorV, minorV                     int
	status                             int
	nameSpan                           span
	fields                             []fieldSpan
	err                                error
}

// NewRequestReader returns a reader for a request head (the server side).
func NewRequestReader(l Limits) *HeadReader {
	return &HeadReader{lim: l.withDefaults(), request: true, state: requestHeadMethodStart}
}

// NewResponseReader returns a reader for a response head (the client side).
func NewResponseReader(l Limits) *HeadReader {
	return &HeadReader{lim: l.withDefaults(), state: responseHeadVersionH}
}

// Feed reads a chunk. It returns done once the head is complete, with rest
// holding the bytes of chunk after the head (the start of the frames).
// Incomplete input is not an error: feed more. Errors are sticky.
//
// Every limit fails at the same byte however the head is split: the first
// byte past the head-size limit, or the first byte that makes a line longer
// than the line limit. The machine never steps over either, so a line too
// long is reported as such even if a syntax error would follow in it.
func (r *HeadReader) Feed(chunk []byte) (rest []byte, done bool, err error) {
	if r.err != nil {
		return nil, false, r.err
	}
	if r.Done() {
		return chunk, true, nil
	}
	take := min(len(chunk), r.lim.MaxHeadSize-len(r.buf))
	start := len(r.buf)
	r.buf = append(r.buf, chunk[:take]...)
	pos := start
	for {
		// The current line may run up to (not including) lineEnd (never
		// before pos: in the LineTooLong state the machine steps nothing).
		lineEnd := max(r.lineStart+r.lim.MaxLineLength, pos)
		r.base = pos
		n, rule := r.step(r.buf[pos:min(len(r.buf), lineEnd)])
		pos += n
		r.steps += n
		switch {
		case rule != 0:
			r.err = &Error{Rule: rule, Detail: r.near(pos)}
			return nil, false, r.err
		case r.Done():
			return chunk[pos-start:], true, nil
		case pos == len(r.buf):
			if take < len(chunk) || len(r.buf) >= r.lim.MaxHeadSize {
				r.err = fail(r.exceed(ErrHeadTooLarge), "more than %d bytes", r.lim.MaxHeadSize)
			}
			return nil, false, r.err
		case r.lineStart+r.lim.MaxLineLength <= pos:
			// pos is the first byte beyond the limit, and the line goes on.
			r.err = fail(r.exceed(ErrLineTooLong), "more than %d bytes, at byte %d", r.lim.MaxLineLength, pos)
			return nil, false, r.err
		}
		// A line ended in what was stepped: the next may go further.
	}
}

// near quotes the input around offset i for an error message.
func (r *HeadReader) near(i int) string {
	lo := max(0, i-16)
	hi := min(len(r.buf), i+1)
	return "at byte " + strconv.Itoa(i) + " after " + strconv.Quote(string(r.buf[lo:i])) + ", got " + strconv.Quote(string(r.buf[i:hi]))
}

// Done reports whether the head is complete.
func (r *HeadReader) Done() bool { return r.state == requestHeadDone || r.state == responseHeadDone }

// stateName names the machine state, e.g. "RequestHead.FieldName"; the
// repository's tests read it through internal/introspect.
func (r *HeadReader) stateName() string { return headStateNames[r.state] }

func init() {
	introspect.HeadState = func(r any) string { return r.(*HeadReader).stateName() }
}

// The machine's actions (gen/http.go declares them).

func (r *HeadReader) mark(n int)   { r.markPos = r.base + n }
func (r *HeadReader) method(n int) { r.methodSpan = span{r.markPos, r.base + n} }
func (r *HeadReader) target(n int) { r.targetSpan = span{r.markPos, r.base + n} }
func (r *HeadReader) major(c byte) { r.majorV = int(c - '0') }
func (r *HeadReader) minor(c byte) { r.minorV = int(c - '0') }
func (r *HeadReader) statusDigit(c byte) {
	r.status = r.status*10 + int(c-'0')
}
func (r *HeadReader) reason(n int) { r.reasonSpan = span{r.markPos, r.base + n} }
func (r *HeadReader) name(n int)   { r.nameSpan = span{r.markPos, r.base + n} }

// value ends a header value; RFC 9112 §5.1: trailing whitespace is not part
// of it.
func (r *HeadReader) value(n int) {
	end := r.base + n
	for end > r.markPos && (r.buf[end-1] == ' ' || r.buf[end-1] == '\t') {
		end--
	}
	r.fields = append(r.fields, fieldSpan{r.nameSpan, span{r.markPos, end}})
}

func (r *HeadReader) emptyValue(n int) {
	r.fields = append(r.fields, fieldSpan{r.nameSpan, span{r.base + n, r.base + n}})
}

func (r *HeadReader) endLine(n int) { r.lineStart = r.base + n + 1 }

func (r *HeadReader) field(int) bool { return len(r.fields) <= r.lim.MaxHeaders }

func (r *HeadReader) str(s span) string { return string(r.buf[s.start:s.end]) }

func (r *HeadReader) header() Header {
	h := make(Header, len(r.fields))
	for i, f := range r.fields {
		h[i] = Field{Name: r.str(f.name), Value: r.str(f.value)}
	}
	return h
}

// Request returns the request read; nil before the head is complete.
func (r *HeadReader) Request() *Request {
	if !r.request || !r.Done() {
		return nil
	}
	return &Request{Method: r.str(r.methodSpan), Target: r.str(r.targetSpan), ProtoMajor: r.majorV, ProtoMinor: r.minorV, Header: r.header()}
}

// Response returns the response read; nil before the head is complete.
func (r *HeadReader) Response() *Response {
	if r.request || !r.Done() {
		return nil
	}
	return &Response{ProtoMajor: r.majorV, ProtoMinor: r.minorV, Status: r.status, Reason: r.str(r.reasonSpan), Header: r.header()}
}

// Request is a request head.
type Request struct {
	Method                 string
	Target                 string // as sent: "/chat?room=1"
	ProtoMajor, ProtoMinor int
	Header                 Header
}

// Response is a response head.
type Response struct {
	ProtoMajor, ProtoMinor int
	Status                 int
	Reason                 string
	Header                 Header
}

// Field is one header field as received.
type Field struct{ Name, Value string }

// Header is a list of header fields in the order received; names compare
// case-insensitively.
type Header []Field

// Get returns the first value of the named field, or "".
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Values returns every value of the named field.
func (h Header) Values(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}

// Count is the number of fields with the name.
func (h Header) Count(name string) int {
	n := 0
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// List returns the elements of the comma-separated lists in every field of
// the name (RFC 9110 §5.6.1), trimmed, empty elements dropped.
func (h Header) List(name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, e := range strings.Split(v, ",") {
			if e = strings.Trim(e, " \t"); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// HasToken reports whether the named list contains token, ignoring case.
func (h Header) HasToken(name, token string) bool {
	for _, e := range h.List(name) {
		if strings.EqualFold(e, token) {
			return true
		}
	}
	return false
}
