//go:build linux

package evloop

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/wsfsm/wsfsm/wsframe"
)

// Supported reports whether this system has the epoll loop.
const Supported = true

const (
	epollExclusive = 1 << 28 // EPOLLEXCLUSIVE: one loop wakes per new connection
	readBufSize    = 64 << 10
)

// Group is a server's set of loops: each owns an epoll instance, a read
// buffer, a timer heap and the connections it accepted; all share the
// listening socket (each loop waits on it, and the kernel wakes one) and
// the handler pool.
type Group struct {
	sh    *Shared
	loops []*loop
	lnFd  int

	// Accepted reports a new connection (false: refuse it, the server is
	// full or shutting down); Refused answers refused ones with resp.
	Accepted func() bool
	Busy     []byte

	stopped chan struct{}
	wg      sync.WaitGroup // the loops
}

// Listen starts n loops serving ln (a *net.TCPListener).
func Listen(ln net.Listener, n int, sh *Shared) (*Group, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, errors.New("evloop: not a TCP listener")
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	rc.Control(func(f uintptr) { fd, derr = syscall.Dup(int(f)) })
	if derr != nil {
		return nil, derr
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	g := &Group{sh: sh, lnFd: fd, stopped: make(chan struct{})}
	for range max(n, 1) {
		l, err := newLoop(g)
		if err != nil {
			g.closeLoops()
			syscall.Close(fd)
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	return g, nil
}

// Start runs the loops.
func (g *Group) Start() {
	for _, l := range g.loops {
		g.wg.Add(1)
		go l.run()
	}
}

func (g *Group) closeLoops() {
	for _, l := range g.loops {
		syscall.Close(l.epfd)
		syscall.Close(l.efd)
	}
}

// StopAccepting stops taking new connections and sends 1001 to every open
// one (drops those in the handshake), on every loop.
func (g *Group) StopAccepting() {
	for _, l := range g.loops {
		l.command(cmdShutdown)
	}
}

// DropAll closes every connection now, on every loop.
func (g *Group) DropAll() {
	for _, l := range g.loops {
		l.command(cmdDrop)
	}
}

// Stop ends the loops once their connections are gone (or drops what is
// left) and waits for them.
func (g *Group) Stop() {
	for _, l := range g.loops {
		l.command(cmdStop)
	}
	g.wg.Wait()
	syscall.Close(g.lnFd)
}

type cmd uint8

const (
	cmdShutdown cmd = iota + 1
	cmdDrop
	cmdStop
	cmdInspect
)

// PerLoop is the number of connections on each loop.
func (g *Group) PerLoop() []int {
	var n []int
	for _, l := range g.loops {
		l.command(cmdInspect)
		r := <-l.inspected
		n = append(n, r[0])
	}
	return n
}

// Inspect counts, on every loop, the connections it holds, the timers it
// has scheduled and the times it woke up (for the tests).
func (g *Group) Inspect() (conns, timers, wakeups int) {
	for _, l := range g.loops {
		l.command(cmdInspect)
		r := <-l.inspected
		conns += r[0]
		timers += r[1]
		wakeups += r[2]
	}
	return conns, timers, wakeups
}

type loop struct {
	g      *Group
	epfd   int
	efd    int // eventfd: posts and commands wake the loop
	conns  []*Conn
	buf    []byte
	timers Timers
	ctrl   [wsframe.MaxControlPayload]byte
	iov    [16][]byte

	mu       sync.Mutex
	posted   []*Conn
	cmds     []cmd
	signaled bool // an eventfd write is on its way
	sleeping bool // the loop waits in epoll_wait (or is about to)
	spare    []*Conn
	closing  bool // not accepting

	inspected chan [3]int
	wakeups   int // epoll_wait returns, for the tests

	// wait's state for pollOnce
	poll       func(uintptr) bool
	waitEvents []syscall.EpollEvent
	waitN      int
	waitErr    error
}

func newLoop(g *Group) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Close(epfd)
		return nil, e
	}
	l := &loop{g: g, epfd: epfd, efd: int(r), buf: make([]byte, readBufSize), inspected: make(chan [3]int, 1)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.efd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.efd)}); err != nil {
		return nil, err
	}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, g.lnFd, &syscall.EpollEvent{Events: syscall.EPOLLIN | epollExclusive, Fd: int32(g.lnFd)}); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *loop) command(c cmd) {
	l.mu.Lock()
	l.cmds = append(l.cmds, c)
	l.wakeLocked()
	l.mu.Unlock()
}

// wakeLocked wakes the loop if it sleeps in epoll_wait; an awake loop
// looks at its posts before it sleeps again, so a post costs no system
// call while the loop is busy. l.mu is held.
func (l *loop) wakeLocked() {
	if l.signaled || !l.sleeping {
		return
	}
	l.signaled = true
	one := uint64(1)
	syscall.Write(l.efd, (*[8]byte)(unsafe.Pointer(&one))[:])
}

func (l *loop) run() {
	defer l.g.wg.Done()
	// The loop waits for its epoll set through the runtime's own poller
	// (an epoll descriptor is readable when events are ready in its set),
	// so a waiting loop gives its P back at once. Blocked in epoll_wait,
	// it would keep the P until sysmon took it, up to 10 ms, while the
	// handlers it had just handed work to waited (with one P: every
	// handler; measured as a 16 ms p99 at 50 connections).
	var ep *os.File
	var rc syscall.RawConn
	if syscall.SetNonblock(l.epfd, true) == nil {
		ep = os.NewFile(uintptr(l.epfd), "epoll")
		if c, err := ep.SyscallConn(); err == nil {
			rc = c
		}
	}
	defer func() {
		if ep != nil {
			ep.Close()
		} else {
			syscall.Close(l.epfd)
		}
		syscall.Close(l.efd)
	}()
	var events [256]syscall.EpollEvent
	stopping := false
	for {
		if stopping && l.live() == 0 {
			return
		}
		if l.wake() {
			stopping = true
			continue
		}
		// After the posts: they may have set a sooner deadline.
		timeout := -1
		if when, ok := l.timers.Next(); ok {
			d := when - time.Now().UnixNano()
			timeout = int(max(0, (d+int64(time.Millisecond)-1)/int64(time.Millisecond)))
		}
		n, err := syscall.EpollWait(l.epfd, events[:], 0)
		if n == 0 && err == nil && timeout != 0 {
			// Nothing ready: let the handler goroutines run before this
			// thread blocks in the kernel (with one P they would wait for
			// the scheduler to take it back), then wait, unless they
			// posted meanwhile.
			runtime.Gosched()
			l.mu.Lock()
			idle := len(l.posted) == 0 && len(l.cmds) == 0
			l.sleeping = idle
			l.mu.Unlock()
			if !idle {
				continue
			}
			n, err = l.wait(ep, rc, events[:], timeout)
			l.mu.Lock()
			l.sleeping = false
			l.mu.Unlock()
		}
		if err != nil && err != syscall.EINTR {
			panic("evloop: epoll_wait: " + err.Error())
		}
		l.wakeups++
		for i := range max(n, 0) {
			ev := &events[i]
			fd := int(ev.Fd)
			switch {
			case fd == l.efd:
				var b [8]byte
				syscall.Read(l.efd, b[:])
				l.mu.Lock()
				l.signaled = false
				l.mu.Unlock()
			case fd == l.g.lnFd:
				l.accept()
			default:
				if fd >= len(l.conns) || l.conns[fd] == nil {
					continue
				}
				c := l.conns[fd]
				if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
					c.Writable()
				}
				if ev.Events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
					c.Readable(l.buf)
				}
			}
		}
		l.timers.Expire(time.Now().UnixNano(), func(c *Conn) { c.Timer(time.Now().UnixNano()) })
	}
}

// wait waits up to timeout milliseconds (-1: no limit) for events, parked
// in the runtime's poller when it could register the epoll descriptor
// there, else blocked in epoll_wait.
func (l *loop) wait(ep *os.File, rc syscall.RawConn, events []syscall.EpollEvent, timeout int) (int, error) {
	if rc == nil {
		return syscall.EpollWait(l.epfd, events, timeout)
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(time.Duration(timeout) * time.Millisecond)
	}
	ep.SetReadDeadline(deadline)
	l.waitEvents, l.waitN, l.waitErr = events, 0, nil
	if l.poll == nil {
		l.poll = l.pollOnce // one func value for the loop's life: no allocation per wait
	}
	rerr := rc.Read(l.poll)
	n, err := l.waitN, l.waitErr
	l.waitEvents = nil
	if rerr != nil && n == 0 && err == nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
		return syscall.EpollWait(l.epfd, events, timeout)
	}
	return n, err
}

// pollOnce takes what is ready without waiting; false asks the runtime's
// poller to wait for more.
func (l *loop) pollOnce(fd uintptr) bool {
	l.waitN, l.waitErr = syscall.EpollWait(int(fd), l.waitEvents, 0)
	return l.waitN > 0 || (l.waitErr != nil && l.waitErr != syscall.EINTR)
}

func (l *loop) live() int {
	n := 0
	for _, c := range l.conns {
		if c != nil {
			n++
		}
	}
	return n
}

// wake handles posts and commands; true when the loop is to stop.
func (l *loop) wake() (stop bool) {
	l.mu.Lock()
	if len(l.posted) == 0 && len(l.cmds) == 0 {
		l.mu.Unlock()
		return false
	}
	posted, cmds := l.posted, l.cmds
	l.posted, l.cmds = l.spare[:0], nil
	l.mu.Unlock()
	for i, c := range posted {
		c.Posted()
		posted[i] = nil
	}
	l.mu.Lock()
	l.spare = posted[:0]
	l.mu.Unlock()
	for _, cm := range cmds {
		switch cm {
		case cmdShutdown:
			l.stopAccepting()
			for _, c := range l.conns {
				if c != nil {
					c.Shutdown()
				}
			}
		case cmdDrop:
			l.stopAccepting()
			for _, c := range l.conns {
				if c != nil {
					c.Drop()
				}
			}
		case cmdStop:
			l.stopAccepting()
			stop = true
		case cmdInspect:
			l.inspected <- [3]int{l.live(), l.timers.Len(), l.wakeups}
		}
	}
	return stop
}

func (l *loop) stopAccepting() {
	if !l.closing {
		l.closing = true
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, l.g.lnFd, nil)
	}
}

// accept takes the connections waiting on the listener.
func (l *loop) accept() {
	for range 64 {
		if l.closing {
			return
		}
		fd, _, err := syscall.Accept4(l.g.lnFd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			if err == syscall.EINTR || err == syscall.ECONNABORTED {
				continue
			}
			if err != syscall.EAGAIN {
				// Out of descriptors, say: the listener stays ready, so
				// back off a little rather than spin.
				l.g.sh.Logf("server: accept: %v", err)
				time.Sleep(5 * time.Millisecond)
			}
			return
		}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		ok := l.g.Accepted()
		for fd >= len(l.conns) {
			l.conns = append(l.conns, make([]*Conn, max(len(l.conns), 64))...)
		}
		var c *Conn
		if ok {
			c = NewConn(l, l.g.sh, int32(fd))
		} else {
			c = NewRejected(l, l.g.sh, int32(fd), l.g.Busy)
		}
		l.conns[fd] = c
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			c.Drop()
			continue
		}
		if !ok {
			c.flushed()
		}
	}
}

// Env.

func (l *loop) Read(c *Conn, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(c.Fd), p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, ErrWouldBlock
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (l *loop) Iov() [][]byte { return l.iov[:0] }
func (l *loop) Yield()        { runtime.Gosched() }

func (l *loop) Write2(c *Conn, a, b []byte) (int, error) {
	var iov [2]syscall.Iovec
	k := 0
	for _, p := range [2][]byte{a, b} {
		if len(p) > 0 {
			iov[k].Base = &p[0]
			iov[k].SetLen(len(p))
			k++
		}
	}
	return writev(c, &iov[0], k)
}

func writev(c *Conn, iov *syscall.Iovec, k int) (int, error) {
	if k == 0 {
		return 0, nil
	}
	for {
		n, _, e := syscall.Syscall(syscall.SYS_WRITEV, uintptr(c.Fd), uintptr(unsafe.Pointer(iov)), uintptr(k))
		switch e {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, ErrWouldBlock
		}
		return 0, e
	}
}

func (l *loop) Writev(c *Conn, bufs [][]byte) (int, error) {
	var iov [64]syscall.Iovec
	k := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if k == len(iov) {
			break
		}
		iov[k].Base = &b[0]
		iov[k].SetLen(len(b))
		k++
	}
	return writev(c, &iov[0], k)
}

func (l *loop) Shutdown(c *Conn, write bool) {
	how := syscall.SHUT_RDWR
	if write {
		how = syscall.SHUT_WR
	}
	syscall.Shutdown(int(c.Fd), how)
}

// Interest is called with c.mu held. A socket that waits for nothing is
// taken out of the epoll set: a hang-up is reported whatever the interest,
// and level-triggered it would wake the loop again and again while, say,
// the connection's handler runs.
func (l *loop) Interest(c *Conn, read, write bool) {
	var ev uint32
	if read {
		ev |= syscall.EPOLLIN
	}
	if write {
		ev |= syscall.EPOLLOUT
	}
	switch {
	case ev == 0:
		if c.flags&fUnregistered == 0 {
			c.flags |= fUnregistered
			syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, int(c.Fd), nil)
		}
	case c.flags&fUnregistered != 0:
		c.flags &^= fUnregistered
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, int(c.Fd), &syscall.EpollEvent{Events: ev, Fd: c.Fd})
	default:
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, int(c.Fd), &syscall.EpollEvent{Events: ev, Fd: c.Fd})
	}
}

func (l *loop) Post(c *Conn) {
	l.mu.Lock()
	l.posted = append(l.posted, c)
	l.wakeLocked()
	l.mu.Unlock()
}

func (l *loop) Release(c *Conn) {
	fd := int(c.Fd)
	if fd < len(l.conns) && l.conns[fd] == c {
		l.conns[fd] = nil
	}
	syscall.Close(fd)
}

func (l *loop) Timers() *Timers                           { return &l.timers }
func (l *loop) Scratch() *[wsframe.MaxControlPayload]byte { return &l.ctrl }
func (l *loop) Now() int64                                { return time.Now().UnixNano() }

func (l *loop) LocalAddr(c *Conn) net.Addr {
	sa, err := syscall.Getsockname(int(c.Fd))
	if err != nil {
		return nil
	}
	return tcpAddr(sa)
}

func (l *loop) RemoteAddr(c *Conn) net.Addr {
	sa, err := syscall.Getpeername(int(c.Fd))
	if err != nil {
		return nil
	}
	return tcpAddr(sa)
}

func tcpAddr(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	}
	return nil
}
