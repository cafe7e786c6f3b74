package sock

import (
	"fmt"
	"net/netip"
	"syscall"
)

// Message flags of SendMsg and RecvMsg (MSG_*, Linux values).
const (
	// MsgPeek: RecvMsg returns data without consuming it (MSG_PEEK).
	MsgPeek = syscall.MSG_PEEK
	// MsgDontWait: do not wait, even on a blocking socket (MSG_DONTWAIT).
	// The operations never wait anyway; the API layer honours it.
	MsgDontWait = syscall.MSG_DONTWAIT
	// MsgWaitAll: a blocking receive waits for the whole buffer
	// (MSG_WAITALL). The API layer honours it by receiving again.
	MsgWaitAll = syscall.MSG_WAITALL
	// MsgForce: SendMsg queues all of the bytes, past the send buffer's
	// limit if need be. It is dpstack's own (no Linux value: write(2)
	// never holds bytes outside the socket). The API layer uses it when
	// a conn is closed with bytes its Writes had already accepted, so
	// that the closed socket owns them at once, as a closed kernel socket
	// owns its send buffer.
	MsgForce = 1 << 28
)

// ProtoOps are the operations a transport's socket offers (struct
// proto_ops, inet_stream_ops): all the API layer calls, on the socket's own
// core, to carry out a user's request. The API layer holds a socket as
// ProtoOps and imports no transport; what is common to every socket
// (state, addresses, queues, callbacks, errors) it reaches through Sk, as
// Linux reaches struct sock through socket->sk.
//
// No operation blocks. Where the Berkeley call would wait, the operation
// returns syscall.EAGAIN (or EINPROGRESS for Connect) and the socket's
// Callbacks signal later when to try again; blocking and deadlines are the
// API layer's. Errors wrap a syscall.Errno, so errors.Is(err,
// syscall.ECONNRESET) works.
type ProtoOps interface {
	// Sk is the socket's sock (socket->sk).
	Sk() *Sock
	// LocalAddr and RemoteAddr are the socket's addresses; the zero
	// AddrPort where there is none yet.
	LocalAddr() netip.AddrPort
	RemoteAddr() netip.AddrPort
	// Bind gives the socket its local address and port (inet_bind). An
	// address not IPv4 is EAFNOSUPPORT (CheckFamily); one in use is
	// EADDRINUSE; binding twice is EINVAL.
	Bind(addr netip.AddrPort) error
	// Listen makes the socket accept connections, with at most backlog
	// of them waiting for Accept (inet_listen).
	Listen(backlog int) error
	// Accept takes a connection off the listener's accept queue
	// (inet_accept): a new socket with no Callbacks yet; EAGAIN when the
	// queue is empty.
	Accept() (ProtoOps, error)
	// Connect starts an active open to addr (inet_stream_connect):
	// EINPROGRESS while the handshake runs, StateChange when it ends
	// (Err set on failure); EISCONN, EALREADY, EAFNOSUPPORT as in Linux.
	Connect(addr netip.AddrPort) error
	// SendMsg queues bytes of p for sending (tcp_sendmsg) and returns
	// how many it took: fewer than len(p) when the send buffer fills,
	// EAGAIN when it took none (NoSpace set, WriteSpace follows); EPIPE
	// after shutdown for writing. MsgForce takes all of p.
	SendMsg(p []byte, flags int) (int, error)
	// SendBuffer lends up to n bytes of room at the tail of the send
	// queue, for the caller to fill in place; Commit sends the first k of
	// them and returns how many it took.
	SendBuffer(n int) ([]byte, error)
	Commit(k int) int
	// RecvMsg copies received bytes into p (tcp_recvmsg), consuming them
	// unless flags has MsgPeek: 0 and no error at end of stream, EAGAIN
	// when nothing is there yet (DataReady follows).
	RecvMsg(p []byte, flags int) (int, error)
	// ReadView offers the received bytes in place, a buffer at a time, to
	// fn, which returns how many it consumed; ReadView returns the total.
	ReadView(fn func(data []byte) int) int
	// RecvEnd is what a read of the empty receive queue finds: ended at
	// the end of the stream, the pending error, or neither while more
	// may come.
	RecvEnd() (ended bool, err error)
	// Shutdown shuts one or both directions (inet_shutdown); how is
	// syscall.SHUT_RD, SHUT_WR or SHUT_RDWR (see ShutdownHow).
	Shutdown(how int) error
	// SetSockOpt sets an integer option by level and name
	// (sock_common_setsockopt: SOL_SOCKET, IPPROTO_TCP ...): the transport
	// validates and stores through Sock.SetOption and applies what takes
	// effect at once (TCP_NODELAY pushes pending data). Options of other
	// kinds have their own calls, as in Go's syscall package:
	// SetSockOptString (TCP_CONGESTION), SetSockOptLinger (SO_LINGER) and
	// SetSockOptBytes (IP_OPTIONS).
	SetSockOpt(level, name, val int) error
	// GetSockOpt reads an integer option (sock_common_getsockopt).
	GetSockOpt(level, name int) (int, error)
	// SetSockOptString sets a string option: TCP_CONGESTION.
	SetSockOptString(level, name int, val string) error
	// GetSockOptString reads a string option.
	GetSockOptString(level, name int) (string, error)
	// SetSockOptLinger sets a struct linger option: SO_LINGER.
	SetSockOptLinger(level, name int, l syscall.Linger) error
	// GetSockOptLinger reads a struct linger option.
	GetSockOptLinger(level, name int) (syscall.Linger, error)
	// SetSockOptBytes sets an option of raw bytes: IP_OPTIONS.
	SetSockOptBytes(level, name int, val []byte) error
	// GetSockOptBytes reads an option of raw bytes; the result is the
	// caller's.
	GetSockOptBytes(level, name int) ([]byte, error)
	// Info is the connection's state for diagnostics (TCP_INFO).
	Info() TCPInfo
	// Close is close(2) (inet_release): the user gives the socket up;
	// the transport orphans it and finishes the connection as SO_LINGER
	// says.
	Close()
}

// FamilyOf is the address family of addr: AFInet for IPv4 and
// IPv4-mapped IPv6 addresses, AFInet6 for other IPv6 ones, 0 for the zero
// AddrPort.
func FamilyOf(addr netip.AddrPort) uint16 {
	a := addr.Addr()
	switch {
	case a.Is4() || a.Is4In6():
		return AFInet
	case a.Is6():
		return AFInet6
	}
	return 0
}

// CheckFamily checks that addr is one this stack serves, IPv4: an
// IPv4-mapped IPv6 address is accepted (see Unmap), any other IPv6 address
// or an invalid one is EAFNOSUPPORT, as inet_bind and inet_stream_connect
// answer for a sockaddr of the wrong family.
func CheckFamily(addr netip.AddrPort) error {
	if FamilyOf(addr) != AFInet {
		return fmt.Errorf("sock: address %v: not IPv4: %w", addr, syscall.EAFNOSUPPORT)
	}
	return nil
}

// Unmap turns an IPv4-mapped IPv6 address into plain IPv4, keeping the
// port; other addresses are returned as they are. Transports store and
// compare the unmapped form.
func Unmap(addr netip.AddrPort) netip.AddrPort {
	if addr.Addr().Is4In6() {
		return netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	}
	return addr
}

// DgramOps are the operations of a datagram socket beyond ProtoOps: the
// calls with an address (sendto and recvfrom, msg_name of sendmsg and
// recvmsg). The API layer asserts a ProtoOps to DgramOps for SOCK_DGRAM.
type DgramOps interface {
	ProtoOps
	// SendTo sends p as one datagram to addr, or to the connected peer
	// when addr is the zero AddrPort.
	SendTo(p []byte, flags int, addr netip.AddrPort) (int, error)
	// RecvFrom copies the next datagram into p and returns its length
	// (its whole length with syscall.MSG_TRUNC) and its source.
	RecvFrom(p []byte, flags int) (int, netip.AddrPort, error)
	// Stamp is when the datagram RecvFrom or PeekView last returned was
	// received (SIOCGSTAMP): Unix nanoseconds, and whether the port's
	// hardware took it.
	Stamp() (ns int64, hw bool)
	// PeekView offers the next datagram in place without consuming it:
	// its bytes when they are contiguous (nil otherwise), its length, its
	// source, and false when none is queued.
	PeekView() (view []byte, n int, from netip.AddrPort, ok bool)
	// CommitTo is Commit to addr: the room SendBuffer lent goes as one
	// datagram there, or to the connected peer for the zero AddrPort.
	CommitTo(k int, addr netip.AddrPort) int
	// SetSockOptMReq sets an IPv4 multicast option whose value is an
	// MReq: the memberships and source filters (ip_mc_join_group,
	// ip_mc_source) and IP_MULTICAST_IF.
	SetSockOptMReq(level, name int, m MReq) error
	// GetSockOptMReq reads IP_MULTICAST_IF, as MReq.Interface.
	GetSockOptMReq(level, name int) (MReq, error)
}
