package stack

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// frameOverhead is what a frame adds to its IP packet in the port's
// receive buffer: the Ethernet header, the CRC and two VLAN tags, as
// DPDK's ethdev counts its overhead.
const frameOverhead = header.EthernetLen + 4 + 2*4

// DataRoomFor is the data room of a pool for a port of the given MTU
// (the host's own pool, and what a caller's Config.Pool needs): the
// default, or for jumbo frames enough that a whole frame fits one mbuf
// after the headroom (no scattered receive, and the write queue's
// segments grow to the MSS: tcp's txRoom).
func DataRoomFor(mtu int) int {
	return max(mbuf.DefaultDataRoom, mbuf.DefaultHeadroom+mtu+frameOverhead)
}
