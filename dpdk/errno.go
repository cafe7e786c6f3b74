// Package dpdk is dpstack's only binding to DPDK: the environment
// abstraction layer (EAL), ethernet ports and their queues, RSS, offloads,
// statistics, and ring-backed ports for in-process links. Packets are
// *mbuf.Buf; pools live in package mbuf.
package dpdk

/*
#include <rte_errno.h>
*/
import "C"

import "syscall"

// Error is a DPDK error code (an errno, or one of DPDK's own above
// RTE_MIN_ERRNO) with DPDK's description.
type Error struct {
	Code int
}

func (e *Error) Error() string { return C.GoString(C.rte_strerror(C.int(e.Code))) }

// Unwrap gives the syscall.Errno for codes in the errno range, so that
// errors.Is(err, syscall.ENODEV) works.
func (e *Error) Unwrap() error {
	if e.Code > 0 && e.Code < C.RTE_MIN_ERRNO {
		return syscall.Errno(e.Code)
	}
	return nil
}

// errnoErr wraps a positive DPDK error code.
func errnoErr(code C.int) error {
	if code < 0 {
		code = -code
	}
	return &Error{Code: int(code)}
}
