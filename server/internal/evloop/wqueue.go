package evloop

import "sync"

// WriteQueue holds the bytes a connection could not write yet, in order.
// It owns copies: the caller's buffers are free when Push returns. Chunks
// come from a pool and go back as they drain, so a connection whose peer
// keeps up holds no queue memory at all.
type WriteQueue struct {
	chunks []*[]byte // queued bytes: (*chunks[0])[off:], then the others whole
	off    int
	n      int // bytes queued
}

// chunkSize is the size of a pooled queue chunk.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// Len is the number of bytes queued.
func (q *WriteQueue) Len() int { return q.n }

// Push appends a copy of b.
func (q *WriteQueue) Push(b []byte) {
	q.n += len(b)
	for len(b) > 0 {
		if k := len(q.chunks); k > 0 {
			last := q.chunks[k-1]
			if free := cap(*last) - len(*last); free > 0 {
				m := min(free, len(b))
				*last = append(*last, b[:m]...)
				b = b[m:]
				continue
			}
		}
		c := chunkPool.Get().(*[]byte)
		*c = (*c)[:0]
		q.chunks = append(q.chunks, c)
	}
}

// Bufs appends the queued bytes to dst as slices (for a writev), at most
// max of them.
func (q *WriteQueue) Bufs(dst [][]byte, max int) [][]byte {
	for i, c := range q.chunks {
		if i == max {
			break
		}
		b := *c
		if i == 0 {
			b = b[q.off:]
		}
		dst = append(dst, b)
	}
	return dst
}

// Consume drops the first n queued bytes (written).
func (q *WriteQueue) Consume(n int) {
	q.n -= n
	for n > 0 {
		c := q.chunks[0]
		left := len(*c) - q.off
		if n < left {
			q.off += n
			return
		}
		n -= left
		q.off = 0
		*c = (*c)[:0]
		chunkPool.Put(c)
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
	}
	if len(q.chunks) == 0 {
		q.chunks = nil
	}
}

// Reset drops everything queued.
func (q *WriteQueue) Reset() {
	for _, c := range q.chunks {
		*c = (*c)[:0]
		chunkPool.Put(c)
	}
	*q = WriteQueue{}
}
