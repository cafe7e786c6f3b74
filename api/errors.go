package api

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// opError wraps err for the user as the net package does: a *net.OpError
// with the operation, "tcp", and the addresses. A syscall.Errno anywhere in
// err's chain becomes an *os.SyscallError naming sys around that Errno
// ("read tcp 198.18.0.2:7->198.18.0.1:4000: read: connection reset by
// peer"), so errors.Is(err, syscall.ECONNRESET) holds; other errors
// (net.ErrClosed, os.ErrDeadlineExceeded, context errors) are kept as they
// are.
func opError(op, sys string, src, dst net.Addr, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = os.NewSyscallError(sys, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: src, Addr: dst, Err: err}
}

// isAgain reports whether err says "try again later".
func isAgain(err error) bool {
	return errors.Is(err, syscall.EAGAIN)
}
