//go:build !linux

package main

import (
	"os"
	"strconv"
)

// isTerminal reports whether f is a character device: the standard
// library's portable test, which /dev/null passes too (an empty input,
// which closes at once either way).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// termSize is $COLUMNS×$LINES, or 80×24.
func termSize(*os.File) (width, height int) {
	width, height = 80, 24
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 1 {
		width = n
	}
	if n, err := strconv.Atoi(os.Getenv("LINES")); err == nil && n > 2 {
		height = n
	}
	return width, height
}
