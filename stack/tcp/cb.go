package tcp

import (
	"unsafe"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// cb is TCP's view of the mbuf control block (struct tcp_skb_cb) for the
// segments a socket keeps: on the write queue (seq, endSeq, the flags to
// send, when it was last sent, whether it was retransmitted) and on the
// receive side (seq, endSeq and the FIN of an out-of-order segment).
type cb struct {
	seq    seqnum.Value // first sequence number (SYN included)
	endSeq seqnum.Value // seq + data + SYN + FIN
	when   ktime.Time   // last transmission; 0 before the first
	flags  uint8        // TCP flags the segment carries (SYN, FIN, PSH)
	sacked uint8        // cbRetrans, cbEverRetrans, cbLost, cbSacked
}

// cb.sacked bits (TCPCB_* in Linux).
const (
	// cbRetrans: retransmitted and not yet acknowledged.
	cbRetrans uint8 = 1 << iota
	// cbEverRetrans: retransmitted at least once: no RTT sample from its
	// ACK (Karn's algorithm, RFC 6298 §3).
	cbEverRetrans
	// cbLost: sent before a retransmission timeout and not retransmitted
	// since (TCPCB_LOST).
	cbLost
	// cbSacked: the peer reported the whole segment in a SACK block (RFC
	// 2018; TCPCB_SACKED_ACKED): the scoreboard of RFC 6675 §3.
	cbSacked
)

// The control block must fit the mbuf's.
var _ [mbuf.CBSize - unsafe.Sizeof(cb{})]byte

// cbOf returns b's control block as TCP's.
func cbOf(b *mbuf.Buf) *cb {
	return (*cb)(unsafe.Pointer(b.CB()))
}

// seqSize converts a byte count to a sequence-space distance.
func seqSize(n int) seqnum.Size { return seqnum.Size(n) }
