package sock

import (
	"fmt"
	"syscall"

	"github.com/dpstack/dpstack/mbuf"
)

// Shutdown bits (sk_shutdown): which directions are shut.
const (
	// RcvShutdown: no more data will be received (RCV_SHUTDOWN).
	RcvShutdown uint8 = 1
	// SendShutdown: no more data may be sent (SEND_SHUTDOWN).
	SendShutdown uint8 = 2
	// ShutdownMask: both directions (SHUTDOWN_MASK).
	ShutdownMask = RcvShutdown | SendShutdown
)

// User locks (sk_userlocks): settings the user made that automatic tuning
// must leave alone. The values are Linux's SOCK_*_LOCK.
const (
	// SndBufLock: SO_SNDBUF was set (SOCK_SNDBUF_LOCK).
	SndBufLock uint8 = 1
	// RcvBufLock: SO_RCVBUF was set (SOCK_RCVBUF_LOCK).
	RcvBufLock uint8 = 2
	// BindAddrLock: bound to an explicit address (SOCK_BINDADDR_LOCK).
	BindAddrLock uint8 = 4
	// BindPortLock: bound to an explicit port (SOCK_BINDPORT_LOCK).
	BindPortLock uint8 = 8
)

// Sock is a socket (struct sock). Transports embed it in their own socket
// (tcp.Sock), as tcp_sock embeds struct sock in Linux. It is owned by one
// core and not safe for concurrent use.
//
// The exported fields are the transport's to read and write on its own
// core; options are changed through SetOption, SetOptionLinger and
// SetOptionString so that they are validated.
type Sock struct {
	Common

	// ReceiveQueue holds in-order data for the user (sk_receive_queue).
	// Its packets are charged to RmemAlloc. Its Bytes is always the
	// number of unread bytes, also while a packet is partly read.
	ReceiveQueue mbuf.Queue
	// WriteQueue holds data queued for sending and not yet acknowledged
	// (sk_write_queue). Its packets are charged to WmemQueued.
	WriteQueue mbuf.Queue
	// Backlog holds packets that arrived while the socket could not take
	// them, to be processed later (sk_backlog). Its packets are not
	// charged; the transport bounds it.
	Backlog mbuf.Queue

	// RcvBuf is the receive buffer limit in truesize bytes (sk_rcvbuf).
	RcvBuf int
	// SndBuf is the send buffer limit in truesize bytes (sk_sndbuf).
	SndBuf int
	// RmemAlloc is the truesize charged for ReceiveQueue (sk_rmem_alloc).
	RmemAlloc int
	// WmemQueued is the truesize charged for WriteQueue (sk_wmem_queued).
	WmemQueued int
	// Mem is the core's account that RmemAlloc and WmemQueued are also
	// charged to (sk_prot->memory_allocated); nil: none.
	Mem *Mem
	// UserLocks says which settings the user fixed (sk_userlocks):
	// SndBufLock, RcvBufLock, BindAddrLock, BindPortLock.
	UserLocks uint8

	// Err is the pending error reported to the user once (sk_err), 0 for
	// none; see SockError.
	Err syscall.Errno
	// ErrSoft is the last soft error (sk_err_soft): an ICMP error on a
	// connection that may still recover (RFC 1122 §4.2.3.9). It becomes
	// the connection's error only if the connection then times out; until
	// then SO_ERROR reads it when there is no Err, as Linux's does.
	ErrSoft syscall.Errno
	// Shutdown is the set of shut directions (sk_shutdown): RcvShutdown,
	// SendShutdown.
	Shutdown uint8
	// Done: the connection is finished for reading, the peer closed or
	// the socket was reset (SOCK_DONE).
	Done bool
	// Dead: the socket is orphaned, closed by the user while the
	// transport finishes with it (SOCK_DEAD); see Orphan.
	Dead bool
	// NoSpace: a sender found the send buffer full and waits for
	// WriteSpace (SOCK_NOSPACE).
	NoSpace bool

	// Options are the socket options other than the buffer sizes and the
	// reuse bits.
	Options Options
	// Callbacks receive the socket's events; nil for none.
	Callbacks Callbacks

	// rcvOff is how many bytes of the first packet on ReceiveQueue were
	// read beyond its first segment (only ever non-zero for a
	// multi-segment packet whose first segment is used up); see
	// CopyFromReceiveQueue.
	rcvOff int
}

// New returns a fresh socket, initialised as by Init.
func New() *Sock {
	s := new(Sock)
	s.Init()
	return s
}

// Init sets s up as a fresh AF_INET socket (sock_init_data): state Closed,
// one reference (the caller's), default buffer sizes and options, empty
// queues, no callbacks. s must hold no packets: Init forgets them.
func (s *Sock) Init() {
	*s = Sock{
		Common: Common{Family: AFInet, State: Closed, refcnt: 1},
		RcvBuf: DefaultRcvBuf,
		SndBuf: DefaultSndBuf,
		Options: Options{
			KeepIdle:   DefaultKeepIdle,
			KeepIntvl:  DefaultKeepIntvl,
			KeepCnt:    DefaultKeepCnt,
			QuickAck:   true,
			Congestion: DefaultCongestion,
		},
	}
}

// SockError returns the pending error and clears it (sock_error), or nil.
// The error is a syscall.Errno.
func (s *Sock) SockError() error {
	e := s.Err
	if e == 0 {
		return nil
	}
	s.Err = 0
	return e
}

// ReportError records e as the pending error and reports it
// (sk->sk_err = e; sk_error_report(sk)).
func (s *Sock) ReportError(e syscall.Errno) {
	s.Err = e
	s.ErrorReport()
}

// Orphan marks the socket dead and drops its callbacks (sock_orphan): the
// user has closed it and the transport finishes the connection alone.
func (s *Sock) Orphan() {
	s.Dead = true
	s.Callbacks = nil
}

// ShutdownHow turns shutdown(2)'s how (syscall.SHUT_RD, SHUT_WR, SHUT_RDWR)
// into shutdown bits, as inet_shutdown does with how+1; any other value is
// EINVAL.
func ShutdownHow(how int) (uint8, error) {
	switch how {
	case syscall.SHUT_RD, syscall.SHUT_WR, syscall.SHUT_RDWR:
		return uint8(how + 1), nil
	}
	return 0, fmt.Errorf("sock: shutdown how %d: %w", how, syscall.EINVAL)
}
