//go:build linux

package main

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal reports whether f is a terminal: TCGETS answers only for one
// (/dev/null is a character device too).
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	return control(f, func(fd uintptr) error { return ioctl(fd, syscall.TCGETS, unsafe.Pointer(&t)) }) == nil
}

// termSize is the terminal's width and height (80×24 if it does not say).
func termSize(f *os.File) (width, height int) {
	var ws struct{ row, col, x, y uint16 }
	if control(f, func(fd uintptr) error { return ioctl(fd, syscall.TIOCGWINSZ, unsafe.Pointer(&ws)) }) != nil || ws.col == 0 || ws.row == 0 {
		return 80, 24
	}
	return int(ws.col), int(ws.row)
}
