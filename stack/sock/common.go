package sock

import (
	"net/netip"
	"strconv"
	"syscall"
)

// Address families (sa_family_t). Only AF_INET is supported; AF_INET6 is
// recognised so that it can be refused with a clear error (EAFNOSUPPORT).
const (
	AFInet  = syscall.AF_INET
	AFInet6 = syscall.AF_INET6
)

// State is a socket's state (skc_state). Its values belong to the transport;
// TCP's are defined here because Linux, too, keeps TCP_* states in
// sock_common. The zero State is Closed.
type State uint8

// TCP's connection states, RFC 9293 §3.3.2. Unlike Linux's TCP_* numbers
// (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11) they are numbered in the RFC's
// order from Closed = 0, so that a zero Sock is closed.
const (
	// Closed: no connection (TCP_CLOSE).
	Closed State = iota
	// Listen: waiting for a connection request (TCP_LISTEN).
	Listen
	// SynSent: SYN sent, waiting for a matching SYN (TCP_SYN_SENT).
	SynSent
	// SynRecv: SYN received and sent, waiting for its ACK (TCP_SYN_RECV).
	SynRecv
	// Established: the connection is open; data flows both ways.
	Established
	// FinWait1: our FIN sent, not yet acknowledged.
	FinWait1
	// FinWait2: our FIN acknowledged, waiting for the peer's FIN.
	FinWait2
	// CloseWait: the peer's FIN received, waiting for our close.
	CloseWait
	// Closing: both FINs sent, ours not yet acknowledged.
	Closing
	// LastAck: the peer's FIN received and ours sent, waiting for its ACK.
	LastAck
	// TimeWait: waiting 2 MSL for the peer to see our ACK of its FIN.
	TimeWait

	// NumStates is the number of states, for arrays indexed by State.
	NumStates
)

var stateNames = [NumStates]string{
	Closed:      "CLOSED",
	Listen:      "LISTEN",
	SynSent:     "SYN-SENT",
	SynRecv:     "SYN-RECEIVED",
	Established: "ESTABLISHED",
	FinWait1:    "FIN-WAIT-1",
	FinWait2:    "FIN-WAIT-2",
	CloseWait:   "CLOSE-WAIT",
	Closing:     "CLOSING",
	LastAck:     "LAST-ACK",
	TimeWait:    "TIME-WAIT",
}

// String is the state's name as RFC 9293 §3.3.2 spells it, or State(n) for a
// value outside the TCP states.
func (st State) String() string {
	if st < NumStates {
		return stateNames[st]
	}
	return "State(" + strconv.Itoa(int(st)) + ")"
}

// Common is the part of a socket that lookups need (struct sock_common):
// the 4-tuple, the state, the reference count and the bind bits.
type Common struct {
	// Family is the address family (skc_family): AFInet.
	Family uint16
	// State is the transport's state of the socket (skc_state).
	State State
	// ReuseAddr is SO_REUSEADDR (skc_reuse).
	ReuseAddr bool
	// ReusePort is SO_REUSEPORT (skc_reuseport).
	ReusePort bool
	// Local is the bound address and port (skc_rcv_saddr, skc_num); the
	// zero address is unbound or the wildcard.
	Local netip.AddrPort
	// Remote is the peer's address and port (skc_daddr, skc_dport); zero
	// until connected.
	Remote netip.AddrPort

	// refcnt is skc_refcnt; a plain int since one core owns the socket.
	refcnt int
}

// Hold takes a reference (sock_hold).
func (c *Common) Hold() { c.refcnt++ }

// Put drops a reference (sock_put) and reports whether it was the last:
// then the caller destroys the socket (frees its queued packets, see
// Sock.PurgeQueues). Dropping a reference that was never taken is a bug and
// panics, where Linux's refcount_t warns and saturates.
func (c *Common) Put() bool {
	if c.refcnt <= 0 {
		panic("sock: reference count underflow")
	}
	c.refcnt--
	return c.refcnt == 0
}

// RefCount is the number of references held.
func (c *Common) RefCount() int { return c.refcnt }
