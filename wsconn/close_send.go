package wsconn

import (
	"context"
	"errors"
	"time"

	"github.com/wsfsm/wsfsm/wsframe"
)

// CloseSend sends a Close with code and reason, within the close timeout,
// and returns without waiting for the peer's. The reader (ReadMessage,
// NextReader, Run) goes on receiving what the peer sent before its Close,
// then gets the *CloseError with the peer's code. Close, by contrast,
// reads to the peer's Close itself when no reader holds the connection at
// that moment (one between two ReadMessage calls, say), and the messages on
// the way are lost. The caller bounds the wait for the peer's Close (with
// CloseNow).
func (c *Conn) CloseSend(code wsframe.CloseCode, reason string) error {
	var probe [wsframe.MaxControlPayload]byte
	if _, err := wsframe.AppendClose(probe[:0], code, reason); err != nil {
		return err
	}
	deadline := time.Now().Add(c.opts.CloseTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := c.lockWrite(ctx); err != nil {
		c.closeNow()
		return ErrCloseTimeout
	}
	c.mu.Lock()
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	var err error
	c.wbuf, err = c.s.AppendClose(c.wbuf, code, reason)
	c.mu.Unlock()
	if len(c.wbuf) > 0 {
		if werr := c.writeLocked(deadline, c.wbuf); werr != nil && err == nil {
			err = werr
		}
	} else if err == nil {
		err = c.writeErr
	}
	c.unlockWrite()
	if err != nil && !errors.Is(err, ErrClosed) {
		c.closeNow()
	}
	return err
}
