package wsconn

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wsfsm/wsfsm/wsframe"
)

// ErrPingTimeout is why a connection whose peer did not answer a keepalive
// ping within Options.PingTimeout ended. Reads return an error that wraps
// it and a *CloseError with CloseAbnormal (no close handshake took place).
var ErrPingTimeout = errors.New("wsconn: no answer to the keepalive ping")

// keepalive runs Options.PingInterval, PingTimeout and IdleTimeout for one
// connection: one runtime timer, no goroutine while waiting. It stops by
// itself once the read side has ended.
type keepalive struct {
	c                       *Conn
	interval, timeout, idle time.Duration
	period                  time.Duration // between looks at the connection
	mu                      sync.Mutex
	t                       *time.Timer
	pingSent                time.Time
}

// startKeepalive arms the timer when the options ask for keepalive or an
// idle timeout.
func (c *Conn) startKeepalive() {
	o := c.opts
	if o.PingInterval <= 0 && o.IdleTimeout <= 0 {
		return
	}
	k := &keepalive{c: c, interval: o.PingInterval, timeout: o.PingTimeout, idle: o.IdleTimeout}
	if k.timeout <= 0 {
		k.timeout = k.interval
	}
	k.period = k.interval
	if k.period <= 0 || (k.idle > 0 && k.idle < k.period) {
		k.period = k.idle
	}
	k.mu.Lock()
	k.t = time.AfterFunc(k.period, k.tick)
	k.mu.Unlock()
}

func (k *keepalive) tick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.c
	select {
	case <-c.Done():
		return
	default:
	}
	last := c.LastActivity()
	now := time.Now()
	switch {
	case k.idle > 0 && now.Sub(last) >= k.idle:
		go c.Close(wsframe.CloseGoingAway, "idle timeout")
		return
	case !k.pingSent.IsZero() && last.Before(k.pingSent) && now.Sub(k.pingSent) >= k.timeout:
		// A dead peer: no close handshake to wait for.
		c.fail(fmt.Errorf("%w: %w", &CloseError{Code: wsframe.CloseAbnormal}, ErrPingTimeout))
		return
	case k.interval > 0 && now.Sub(last) >= k.interval && (k.pingSent.IsZero() || !last.Before(k.pingSent)):
		k.pingSent = now
		go c.WritePing(nil)
		k.t.Reset(k.timeout)
		return
	}
	k.t.Reset(k.period)
}
