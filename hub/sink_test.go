package hub_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"github.com/wsfsm/wsfsm/internal/seeded"
	"github.com/wsfsm/wsfsm/wsconn"
	"github.com/wsfsm/wsfsm/wsframe"
)

// fakeSink is an in-memory subscriber: it records what it is written, can
// hold every write at a gate, and can fail.
type fakeSink struct {
	mu        sync.Mutex
	got       []string
	count     int
	keep      bool          // record payloads (else only count)
	gate      chan struct{} // when set, each write waits for it to be closed
	entered   chan struct{} // when set, signalled as each write starts
	fail      error         // returned by writes when set
	closeCode wsframe.CloseCode
	closed    int // Close calls
	closedNow int // CloseNow calls
	deadline  time.Time
	changed   chan struct{} // signalled (non-blocking) after each write
}

func newSink() *fakeSink { return &fakeSink{keep: true, changed: make(chan struct{}, 1)} }

func (f *fakeSink) WritePrepared(pms ...*wsconn.PreparedMessage) error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	if f.fail != nil {
		f.mu.Unlock()
		return f.fail
	}
	for _, pm := range pms {
		f.count++
		if f.keep {
			f.got = append(f.got, string(pm.Payload()))
		}
	}
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
	return nil
}

func (f *fakeSink) Close(code wsframe.CloseCode, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeCode = code
	f.closed++
	return nil
}

func (f *fakeSink) CloseNow() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closedNow++
	return nil
}

func (f *fakeSink) SetWriteDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline = t
	return nil
}

func (f *fakeSink) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *fakeSink) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

func (f *fakeSink) closes() (int, wsframe.CloseCode, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed, f.closeCode, f.closedNow
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var errBroken = errors.New("broken pipe (fake)")

func seededProperties(t *testing.T, n int) *gopter.Properties {
	return gopter.NewProperties(seeded.Parameters(t, "./hub", n))
}
