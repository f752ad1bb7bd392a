package chat

import (
	"sync"
	"time"
)

// RateLog passes at most Burst lines per Window to a log function and
// counts the rest; at the end of a window in which lines were held back it
// logs how many. Ten thousand slow pages make a handful of lines, not ten
// thousand.
type RateLog struct {
	logf   func(format string, args ...any)
	window time.Duration
	burst  int

	mu         sync.Mutex
	start      time.Time // of the current window
	n          int       // lines logged in it
	suppressed int       // lines held back in it
	timer      *time.Timer
}

// NewRateLog returns a RateLog over logf.
func NewRateLog(logf func(format string, args ...any), window time.Duration, burst int) *RateLog {
	return &RateLog{logf: logf, window: window, burst: burst}
}

// Printf logs the line, or counts it if the window's burst is spent.
func (r *RateLog) Printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.start) >= r.window {
		r.flushLocked()
		r.start, r.n = now, 0
	}
	if r.n < r.burst {
		r.n++
		r.logf(format, args...)
		return
	}
	r.suppressed++
	if r.timer == nil {
		r.timer = time.AfterFunc(r.start.Add(r.window).Sub(now), r.Flush)
	}
}

// Flush logs the count of lines held back, if any.
func (r *RateLog) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked()
}

func (r *RateLog) flushLocked() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if r.suppressed > 0 {
		r.logf("chat: %d more such lines in %v not logged", r.suppressed, r.window)
		r.suppressed = 0
	}
}
