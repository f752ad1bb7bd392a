//go:build linux

package main

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// TestTerminalDetection: a pseudo-terminal is a terminal and reports the
// size set on it; /dev/null (a character device) and a pipe are not.
func TestTerminalDetection(t *testing.T) {
	master, slave, err := openPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	if !isTerminal(slave) {
		t.Error("a pty's slave is not a terminal")
	}
	if w, h := termSize(slave); w != 80 || h != 24 {
		t.Errorf("a pty without a size: %dx%d, want the default 80x24", w, h)
	}
	ws := struct{ row, col, x, y uint16 }{row: 30, col: 100}
	if err := control(slave, func(fd uintptr) error { return ioctl(fd, syscall.TIOCSWINSZ, unsafe.Pointer(&ws)) }); err != nil {
		t.Fatal(err)
	}
	if w, h := termSize(slave); w != 100 || h != 30 {
		t.Errorf("termSize: %dx%d, want 100x30", w, h)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Error("/dev/null is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(r) {
		t.Error("a pipe is a terminal")
	}
}
