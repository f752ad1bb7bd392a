//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// ptySupported: --pty is accepted (flags.go refuses it elsewhere).
const ptySupported = true

// openPTY opens a pseudo-terminal for a command's stdout (--pty): the
// command sees a terminal and flushes each line, as it would on a screen,
// where into a pipe it would fill a buffer first. Output processing is
// off, so that a newline stays a newline. The caller gives slave to the
// command, closes its own copy once the command started, and reads master.
// The standard syscall package is enough: /dev/ptmx, TIOCGPTN for the
// slave's number, TIOCSPTLCK to unlock it, TCGETS/TCSETS for its modes.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	var unlock int32
	if cerr := control(master, func(fd uintptr) error {
		if err := ioctl(fd, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
			return fmt.Errorf("TIOCGPTN: %w", err)
		}
		if err := ioctl(fd, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
			return fmt.Errorf("TIOCSPTLCK: %w", err)
		}
		return nil
	}); cerr != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pseudo-terminal: %w", cerr)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if cerr := control(slave, func(fd uintptr) error {
		var t syscall.Termios
		if err := ioctl(fd, syscall.TCGETS, unsafe.Pointer(&t)); err != nil {
			return fmt.Errorf("TCGETS: %w", err)
		}
		t.Oflag &^= syscall.OPOST
		if err := ioctl(fd, syscall.TCSETS, unsafe.Pointer(&t)); err != nil {
			return fmt.Errorf("TCSETS: %w", err)
		}
		return nil
	}); cerr != nil {
		master.Close()
		slave.Close()
		return nil, nil, fmt.Errorf("pseudo-terminal: %w", cerr)
	}
	return master, slave, nil
}

func ioctl(fd uintptr, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// control runs fn on f's descriptor.
func control(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
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
