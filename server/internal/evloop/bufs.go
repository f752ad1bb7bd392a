package evloop

import (
	"math/bits"
	"sync"
)

// Message buffers come from pools by power-of-two size class, from 64 B
// to 64 KiB, and go back once the handler has returned: a connection
// holds a message buffer only while a message is in progress or waiting
// for its handler. Larger messages get a buffer of their own.
const (
	minClass = 6  // 64 B
	maxClass = 16 // 64 KiB
)

var msgPools [maxClass - minClass + 1]sync.Pool

// holders are the *[]byte the pools hold buffers in, kept apart from the
// buffers so that a get and a put allocate nothing.
var holders = sync.Pool{New: func() any { return new([]byte) }}

// classOf is the size class for a buffer of capacity at least n, or -1
// when n is beyond the pooled sizes.
func classOf(n int) int {
	if n <= 1<<minClass {
		return 0
	}
	c := bits.Len(uint(n-1)) - minClass
	if c > maxClass-minClass {
		return -1
	}
	return c
}

// getBuf returns an empty buffer with room for n bytes.
func getBuf(n int) []byte {
	c := classOf(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if h, ok := msgPools[c].Get().(*[]byte); ok {
		b := (*h)[:0]
		*h = nil
		holders.Put(h)
		return b
	}
	return make([]byte, 0, 1<<(c+minClass))
}

// putBuf gives back a buffer from getBuf (or any buffer of a pooled size).
func putBuf(b []byte) {
	c := cap(b)
	if c < 1<<minClass || c > 1<<maxClass || c&(c-1) != 0 {
		return
	}
	h := holders.Get().(*[]byte)
	*h = b[:0]
	msgPools[bits.Len(uint(c))-1-minClass].Put(h)
}

// appendGrow appends p to b, moving to a pooled buffer at least twice as
// large when b is full (the old one goes back to its pool): a message of
// n bytes assembled from any number of pieces costs O(log n) copies.
func appendGrow(b, p []byte) []byte {
	if cap(b)-len(b) >= len(p) {
		return append(b, p...)
	}
	nb := getBuf(max(2*cap(b), len(b)+len(p)))
	nb = append(nb, b...)
	putBuf(b)
	return append(nb, p...)
}
