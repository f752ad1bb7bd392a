package evloop

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/wsfsm/wsfsm/internal/seeded"
)

func newProps(t *testing.T, n int) *gopter.Properties {
	p := seeded.Parameters(t, "./server/internal/evloop", n)
	p.MaxSize = 64
	return gopter.NewProperties(p)
}

// The timer heap against a model (a map of deadlines): after any sequence
// of sets, earlier-sets, stops and expiries, the same timers are
// scheduled at the same deadlines, and Expire fires exactly the due ones,
// in deadline order.
func TestTimersMatchModel(t *testing.T) {
	type op struct {
		kind, timer int
		when        int64
	}
	genOp := gopter.CombineGens(gen.IntRange(0, 3), gen.IntRange(0, 15), gen.Int64Range(0, 1000)).Map(func(v []any) op {
		return op{v[0].(int), v[1].(int), v[2].(int64)}
	})
	props := newProps(t, 500)
	props.Property("heap == model", prop.ForAll(func(ops []op) string {
		var ts Timers
		conns := make([]*Conn, 16)
		for i := range conns {
			conns[i] = &Conn{Fd: int32(i)}
			conns[i].timer = NewTimer(conns[i])
		}
		model := map[int]int64{}
		for _, o := range ops {
			c := conns[o.timer]
			switch o.kind {
			case 0:
				ts.Set(&c.timer, o.when)
				model[o.timer] = o.when
			case 1:
				ts.SetEarlier(&c.timer, o.when)
				if w, ok := model[o.timer]; !ok || o.when < w {
					model[o.timer] = o.when
				}
			case 2:
				ts.Stop(&c.timer)
				delete(model, o.timer)
			case 3:
				var fired []int64
				ts.Expire(o.when, func(c *Conn) { fired = append(fired, c.timer.when) })
				var want []int64
				for i, w := range model {
					if w <= o.when {
						want = append(want, w)
						delete(model, i)
					}
				}
				sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
				if !slices.Equal(fired, want) {
					return fmt.Sprintf("expire(%d) fired %v, want %v", o.when, fired, want)
				}
			}
			if ts.Len() != len(model) {
				return fmt.Sprintf("%d scheduled, model %d", ts.Len(), len(model))
			}
			for i, c := range conns {
				w, ok := model[i]
				if c.timer.Scheduled() != ok || ok && c.timer.When() != w {
					return fmt.Sprintf("timer %d: scheduled %v at %d, model %v at %d", i, c.timer.Scheduled(), c.timer.When(), ok, w)
				}
			}
			if next, ok := ts.Next(); ok {
				for _, w := range model {
					if w < next {
						return fmt.Sprintf("Next %d, but %d is scheduled", next, w)
					}
				}
			}
		}
		return ""
	}, gen.SliceOf(genOp)))
	props.TestingRun(t)
}

// The write queue against a byte slice: any pushes and partial
// consumptions leave the same bytes, in order, in its slices.
func TestWriteQueueMatchesModel(t *testing.T) {
	type op struct {
		push []byte
		take int
	}
	genOp := gopter.CombineGens(gen.SliceOf(gen.UInt8()), gen.IntRange(0, 40000), gen.IntRange(0, 7)).Map(func(v []any) op {
		b := v[0].([]byte)
		if v[2].(int) == 0 { // sometimes a push larger than a chunk
			b = bytes.Repeat(append(b, 1), chunkSize/len(append(b, 1))+3)
		}
		return op{b, v[1].(int)}
	})
	props := newProps(t, 150)
	props.Property("queue == model", prop.ForAll(func(ops []op) string {
		var q WriteQueue
		var model []byte
		for _, o := range ops {
			q.Push(o.push)
			model = append(model, o.push...)
			n := min(o.take, len(model))
			q.Consume(n)
			model = model[n:]
			if q.Len() != len(model) {
				return fmt.Sprintf("Len %d, model %d", q.Len(), len(model))
			}
			if got := bytes.Join(q.Bufs(nil, 1<<20), nil); !bytes.Equal(got, model) {
				return "queued bytes differ from the model"
			}
			if len(model) == 0 && q.chunks != nil {
				return "an empty queue holds chunks"
			}
		}
		q.Reset()
		return ""
	}, gen.SliceOf(genOp)))
	props.TestingRun(t)
}

// recorder is a Runner whose tasks log their connection and number.
type recorder struct {
	id      int
	mu      sync.Mutex
	tasks   []int
	running bool
	log     *[]string
	logMu   *sync.Mutex
	p       *Pool
	block   chan struct{}
}

func (r *recorder) add(n int) {
	r.mu.Lock()
	r.tasks = append(r.tasks, n)
	start := !r.running
	r.running = true
	r.mu.Unlock()
	if start {
		r.p.Schedule(r)
	}
}

func (r *recorder) RunQueued() bool {
	for range 3 {
		r.mu.Lock()
		if len(r.tasks) == 0 {
			r.running = false
			r.mu.Unlock()
			return false
		}
		n := r.tasks[0]
		r.tasks = r.tasks[1:]
		r.mu.Unlock()
		if r.block != nil && n == 0 {
			<-r.block
		}
		r.logMu.Lock()
		*r.log = append(*r.log, fmt.Sprintf("%d:%d", r.id, n))
		r.logMu.Unlock()
	}
	return true
}

// The pool runs every task once, each connection's in order, on at most
// its bound of goroutines; a connection whose handler blocks holds up no
// other; idle, it holds no goroutine.
func TestPoolOrderAndBound(t *testing.T) {
	p := NewPool(4)
	var log []string
	var logMu sync.Mutex
	block := make(chan struct{})
	rs := make([]*recorder, 10)
	for i := range rs {
		rs[i] = &recorder{id: i, log: &log, logMu: &logMu, p: p}
	}
	rs[0].block = block // connection 0's first task blocks
	const per = 200
	for n := range per {
		for _, r := range rs {
			r.add(n)
		}
		if w := p.Workers(); w > 4 {
			t.Fatalf("%d workers, bound 4", w)
		}
	}
	// Everything but connection 0 finishes while it is blocked.
	deadline := time.Now().Add(10 * time.Second)
	for {
		logMu.Lock()
		n := len(log)
		logMu.Unlock()
		if n == per*(len(rs)-1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks ran while one connection blocked", n, per*(len(rs)-1))
		}
		time.Sleep(time.Millisecond)
	}
	close(block)
	p.Close()
	next := make([]int, len(rs))
	for _, e := range log {
		var id, n int
		fmt.Sscanf(e, "%d:%d", &id, &n)
		if n != next[id] {
			t.Fatalf("connection %d ran task %d, want %d", id, n, next[id])
		}
		next[id]++
	}
	for id, n := range next {
		if n != per {
			t.Errorf("connection %d ran %d tasks, want %d", id, n, per)
		}
	}
	if w := p.Workers(); w != 0 {
		t.Errorf("%d workers after Close", w)
	}
}
