//go:build !linux

package main

import (
	"errors"
	"os"
)

// ptySupported: elsewhere flags.go refuses --pty with exit 2.
const ptySupported = false

func openPTY() (master, slave *os.File, err error) {
	return nil, nil, errors.New("--pty is implemented on Linux only")
}

type ptyReader struct{ f *os.File }

func (r ptyReader) Read(p []byte) (int, error) { return r.f.Read(p) }
