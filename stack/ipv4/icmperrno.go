package ipv4

import (
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
)

// unreachErrno is the error each Destination Unreachable code reports to
// a socket, as Linux's icmp_err_convert has it; codes past the table
// (RFC 1812 §5.2.7.1 stops at 15) have none.
var unreachErrno = [...]syscall.Errno{
	0:  syscall.ENETUNREACH,  // net unreachable
	1:  syscall.EHOSTUNREACH, // host unreachable
	2:  syscall.ENOPROTOOPT,  // protocol unreachable
	3:  syscall.ECONNREFUSED, // port unreachable
	4:  syscall.EMSGSIZE,     // fragmentation needed
	5:  syscall.EOPNOTSUPP,   // source route failed
	6:  syscall.ENETUNREACH,  // destination network unknown
	7:  syscall.EHOSTDOWN,    // destination host unknown
	8:  syscall.ENONET,       // source host isolated
	9:  syscall.ENETUNREACH,  // network administratively prohibited
	10: syscall.EHOSTUNREACH, // host administratively prohibited
	11: syscall.ENETUNREACH,  // network unreachable for TOS
	12: syscall.EHOSTUNREACH, // host unreachable for TOS
	13: syscall.EHOSTUNREACH, // communication administratively prohibited
	14: syscall.EHOSTUNREACH, // host precedence violation
	15: syscall.EHOSTUNREACH, // precedence cutoff in effect
}

// Errno is the error the message reports to a socket (icmp_err_convert):
// by code for a Destination Unreachable, EHOSTUNREACH for Time Exceeded,
// EPROTO for Parameter Problem. It reports false for an unknown code or
// type, which the transports ignore.
func (e *ICMPError) Errno() (syscall.Errno, bool) {
	switch e.Type {
	case header.ICMPv4DestUnreachable:
		if int(e.Code) < len(unreachErrno) {
			return unreachErrno[e.Code], true
		}
	case header.ICMPv4TimeExceeded:
		return syscall.EHOSTUNREACH, true
	case header.ICMPv4ParamProblem:
		return syscall.EPROTO, true
	}
	return 0, false
}
