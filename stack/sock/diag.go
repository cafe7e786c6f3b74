package sock

import (
	"net/netip"
	"time"
)

// Diag is what a socket dump reports of one socket (struct inet_diag_msg
// with the attributes `ss` asks for): enough to print `ss -tuni` and to
// serve the management listener's state. Dumps run on the socket's core
// and copy; a Diag is the caller's to keep.
type Diag struct {
	Proto  string // "tcp" or "udp"
	State  State  // TCP's state; UDP: Established when connected, Closed otherwise (ss's UNCONN)
	Local  netip.AddrPort
	Remote netip.AddrPort
	// RecvQ and SendQ are ss's Recv-Q and Send-Q (inet_diag_msg's
	// idiag_rqueue, idiag_wqueue): on a listener the accept queue's length
	// and its backlog; on a connection the bytes not yet read and not yet
	// acknowledged; on a UDP socket the bytes queued to read and 0.
	RecvQ, SendQ int
	// Timer is the socket's pending timer as ss -o names it ("on" for
	// retransmission, "keepalive", "timewait", "persist") with Expires its
	// time left; empty when none runs.
	Timer   string
	Expires time.Duration
	// Info is the connection's tcp_info; nil for UDP, listeners' SYN-queue
	// requests and TIME-WAIT entries, which carry none.
	Info *TCPInfo
}
