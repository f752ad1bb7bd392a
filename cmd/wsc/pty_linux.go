//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal for a command's stdout (--pty): the
// command sees a terminal and flushes each line, as it would on a screen,
// where into a pipe it would fill a buffer first. Output processing is
// off, so that a newline stays a newline. The caller gives slave to the
// command, closes its own copy once the command started, and reads master.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	if cerr := control(master, func(fd int) error {
		var err error
		if n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN); err != nil {
			return err
		}
		return unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0) // unlock the slave
	}); cerr != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pseudo-terminal: %w", cerr)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if cerr := control(slave, func(fd int) error {
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return err
		}
		t.Oflag &^= unix.OPOST
		return unix.IoctlSetTermios(fd, unix.TCSETS, t)
	}); cerr != nil {
		master.Close()
		slave.Close()
		return nil, nil, fmt.Errorf("pseudo-terminal: %w", cerr)
	}
	return master, slave, nil
}

func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// ptyReader reads a pseudo-terminal's master: once every holder of the
// slave has closed it, Linux answers EIO, which is the end of the output.
type ptyReader struct{ f *os.File }

func (r ptyReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if errors.Is(err, syscall.EIO) {
		err = io.EOF
	}
	return n, err
}
