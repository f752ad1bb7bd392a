package evloop

import (
	"sync"
	"time"
)

// Pool runs connections' handler calls on a bounded set of goroutines,
// keeping each connection's calls in order: a connection with work is in
// the run queue at most once, and one worker at a time drains it. A
// handler that blocks holds its worker and its own connection only; the
// loops keep reading, and other connections run on the other workers.
//
// Workers start as work arrives, up to the bound, wait for more while
// work keeps coming (starting a goroutine costs an allocation) and exit
// after workerIdle without any: an idle server holds no worker goroutine.
type Pool struct {
	max int

	mu      sync.Mutex
	queue   []Runner // connections with work, each once
	head    int
	running int // workers alive
	idle    int // workers waiting for work
	wake    chan struct{}
	done    chan struct{} // closed by Close
	closed  bool
	wg      sync.WaitGroup
}

// workerIdle is how long a worker waits for work before it exits.
const workerIdle = time.Second

// Scheduler runs Runners: the Pool, or a test's scripted one.
type Scheduler interface {
	Schedule(r Runner)
}

// Runner is a connection whose queued calls a worker runs: Run runs them
// until none is left and reports whether more came meanwhile (it is then
// queued again, behind the others, so that a busy connection does not
// starve the rest).
type Runner interface {
	RunQueued() (more bool)
}

// NewPool returns a pool of at most max workers.
func NewPool(max int) *Pool {
	return &Pool{max: max, wake: make(chan struct{}, max), done: make(chan struct{})}
}

// Schedule queues r, which must not be queued already (its owner keeps a
// flag: scheduled until RunQueued returns false).
func (p *Pool) Schedule(r Runner) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		go r.RunQueued() // after Close: still in order, never dropped
		return
	}
	p.queue = append(p.queue, r)
	if p.idle > 0 {
		select {
		case p.wake <- struct{}{}:
		default: // enough wake-ups are on their way
		}
	} else if p.running < p.max {
		p.running++
		p.wg.Add(1)
		go p.worker()
	}
	p.mu.Unlock()
}

func (p *Pool) worker() {
	defer p.wg.Done()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	p.mu.Lock()
	for {
		if p.head == len(p.queue) {
			if p.closed {
				p.running--
				p.mu.Unlock()
				return
			}
			p.idle++
			p.mu.Unlock()
			t.Reset(workerIdle)
			timedOut := false
			select {
			case <-p.wake:
			case <-p.done:
			case <-t.C:
				timedOut = true
			}
			p.mu.Lock()
			p.idle--
			if timedOut && p.head == len(p.queue) {
				p.running--
				p.mu.Unlock()
				return
			}
			continue
		}
		r := p.queue[p.head]
		p.queue[p.head] = nil
		p.head++
		if p.head == len(p.queue) {
			p.queue, p.head = p.queue[:0], 0
			if cap(p.queue) > 1024 {
				p.queue = nil
			}
		}
		p.mu.Unlock()
		more := r.RunQueued()
		p.mu.Lock()
		if more {
			p.queue = append(p.queue, r)
		}
	}
}

// Workers is the number of worker goroutines alive.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// Close lets the workers finish the queued work and exit, and waits for
// them. Work scheduled later runs on a goroutine of its own.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
