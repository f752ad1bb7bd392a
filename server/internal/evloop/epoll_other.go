//go:build !linux

package evloop

import (
	"errors"
	"net"
)

// Supported reports whether this system has the epoll loop.
const Supported = false

// Group is a server's set of loops (Linux only).
type Group struct {
	Accepted func() bool
	Busy     []byte
}

// Listen fails: the loop needs epoll.
func Listen(net.Listener, int, *Shared) (*Group, error) {
	return nil, errors.New("evloop: needs Linux (epoll)")
}

func (g *Group) Start()                                {}
func (g *Group) StopAccepting()                        {}
func (g *Group) DropAll()                              {}
func (g *Group) Stop()                                 {}
func (g *Group) Inspect() (conns, timers, wakeups int) { return 0, 0, 0 }
func (g *Group) PerLoop() []int                        { return nil }
