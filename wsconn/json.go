package wsconn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/wsfsm/wsfsm/wsframe"
)

var jsonBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledJSON bounds the encoding buffers kept for reuse.
const maxPooledJSON = 64 << 10

// WriteJSON sends v encoded as JSON (encoding/json) in one text message.
// The encoding is built once, in a pooled buffer the message is written
// from; it is compressed like any WriteMessage when permessage-deflate is
// on.
func WriteJSON(c *Conn, v any) error {
	buf := jsonBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledJSON {
			buf.Reset()
			jsonBufs.Put(buf)
		}
	}()
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return c.WriteMessage(wsframe.OpText, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// ReadJSON reads the next message, which must be a text message holding
// one JSON value, into v (encoding/json), decoding as the message streams
// in. A binary message, bad JSON or more than one value is an error that
// consumes that message and leaves the connection readable.
func ReadJSON(c *Conn, v any) error {
	op, r, err := c.NextReader()
	if err != nil {
		return err
	}
	defer io.Copy(io.Discard, r) // the rest of this message, whatever happens
	if op != wsframe.OpText {
		return fmt.Errorf("wsconn: ReadJSON: a %s message, want text", op)
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("wsconn: ReadJSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("wsconn: ReadJSON: more than one JSON value in the message")
	}
	return nil
}
