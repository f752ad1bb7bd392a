package wsconn

import (
	"time"

	"github.com/wsfsm/wsfsm/wsframe"
)

// CloseSend sends a Close with code and reason and returns without
// waiting for the peer's. The reader (ReadMessage, NextReader, Run) goes
// on receiving what the peer sent before its Close, then gets the
// *CloseError with the peer's code. Close, by contrast, reads to the
// peer's Close itself when no reader holds the connection at that moment
// (one that is between two ReadMessage calls, say), and the messages on
// the way are lost. The caller bounds the wait, with CloseNow.
func (c *Conn) CloseSend(code wsframe.CloseCode, reason string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	var err error
	c.wbuf = append(c.wbuf[:0], c.s.Pending()...)
	c.s.ClearPending()
	c.wbuf, err = c.s.AppendClose(c.wbuf, code, reason)
	c.mu.Unlock()
	if len(c.wbuf) > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.opts.CloseTimeout))
		if _, werr := c.nc.Write(c.wbuf); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
