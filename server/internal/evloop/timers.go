package evloop

// Timers is the one timer structure of a loop: a binary min-heap of
// deadlines, one entry per connection at most (a connection keeps the
// nearest of its deadlines in it: handshake, idle, keepalive, close,
// write progress). It is owned by the loop's goroutine: no locking.
//
// A connection's deadlines move on every read (idle, keepalive), so they
// are not updated in the heap then: the entry fires at the deadline it was
// set for, the connection looks at the clock and its own state, and sets
// the next one. The heap changes only when a deadline comes due or a
// connection sets a sooner one.
type Timers struct {
	h []*Timer
}

// Timer is a connection's entry. The zero Timer is not scheduled.
type Timer struct {
	when  int64 // unix nanoseconds
	index int32 // position in the heap, -1 when not scheduled
	owner *Conn
}

// NewTimer returns an unscheduled timer that fires for owner.
func NewTimer(owner *Conn) Timer { return Timer{index: -1, owner: owner} }

// Scheduled reports whether t is in the heap, and When its deadline.
func (t *Timer) Scheduled() bool { return t.index >= 0 }
func (t *Timer) When() int64     { return t.when }

// Len is the number of scheduled timers.
func (ts *Timers) Len() int { return len(ts.h) }

// Set schedules t at when, or moves it there.
func (ts *Timers) Set(t *Timer, when int64) {
	if t.index >= 0 {
		old := t.when
		t.when = when
		if when < old {
			ts.up(int(t.index))
		} else {
			ts.down(int(t.index))
		}
		return
	}
	t.when = when
	t.index = int32(len(ts.h))
	ts.h = append(ts.h, t)
	ts.up(len(ts.h) - 1)
}

// SetEarlier schedules t at when unless it is scheduled sooner already.
func (ts *Timers) SetEarlier(t *Timer, when int64) {
	if t.index >= 0 && t.when <= when {
		return
	}
	ts.Set(t, when)
}

// Stop removes t from the heap, if it is there.
func (ts *Timers) Stop(t *Timer) {
	i := int(t.index)
	if i < 0 {
		return
	}
	last := len(ts.h) - 1
	if i != last {
		ts.swap(i, last)
	}
	ts.h[last] = nil
	ts.h = ts.h[:last]
	t.index = -1
	if i != last {
		ts.down(i)
		ts.up(i)
	}
	if cap(ts.h) > 64 && len(ts.h) < cap(ts.h)/4 {
		ts.h = append([]*Timer(nil), ts.h...) // give back a heap that shrank
	}
}

// Next is the earliest deadline, ok false when none is scheduled.
func (ts *Timers) Next() (when int64, ok bool) {
	if len(ts.h) == 0 {
		return 0, false
	}
	return ts.h[0].when, true
}

// Expire removes every timer due at now and calls fire with its owner, in
// deadline order. fire may set timers again (the owner's next deadline);
// one set at or before now fires in this same call.
func (ts *Timers) Expire(now int64, fire func(owner *Conn)) {
	for len(ts.h) > 0 && ts.h[0].when <= now {
		t := ts.h[0]
		ts.Stop(t)
		fire(t.owner)
	}
}

func (ts *Timers) less(i, j int) bool { return ts.h[i].when < ts.h[j].when }

func (ts *Timers) swap(i, j int) {
	ts.h[i], ts.h[j] = ts.h[j], ts.h[i]
	ts.h[i].index = int32(i)
	ts.h[j].index = int32(j)
}

func (ts *Timers) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !ts.less(i, p) {
			return
		}
		ts.swap(i, p)
		i = p
	}
}

func (ts *Timers) down(i int) {
	n := len(ts.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && ts.less(r, l) {
			m = r
		}
		if !ts.less(m, i) {
			return
		}
		ts.swap(i, m)
		i = m
	}
}
