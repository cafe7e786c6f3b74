package dpdk

/*
#include <stdlib.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_eth_ring.h>
#include <rte_errno.h>
#cgo LDFLAGS: -lrte_net_ring

static int dps_ring_pair(const char *name_a, const char *name_b, const char *ra, const char *rb,
	unsigned size, struct rte_ring **out_a, struct rte_ring **out_b, int *port_a, int *port_b, int *err)
{
	struct rte_ring *a2b = rte_ring_create(ra, size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (a2b == NULL) {
		*err = rte_errno;
		return -1;
	}
	struct rte_ring *b2a = rte_ring_create(rb, size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (b2a == NULL) {
		*err = rte_errno;
		rte_ring_free(a2b);
		return -1;
	}
	// Port a receives from b2a and sends into a2b; port b the other way.
	*port_a = rte_eth_from_rings(name_a, &b2a, 1, &a2b, 1, SOCKET_ID_ANY);
	*port_b = *port_a < 0 ? -1 : rte_eth_from_rings(name_b, &a2b, 1, &b2a, 1, SOCKET_ID_ANY);
	if (*port_b < 0) {
		*err = rte_errno;
		rte_ring_free(a2b);
		rte_ring_free(b2a);
		return -1;
	}
	*out_a = a2b;
	*out_b = b2a;
	return 0;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// RingPair is two ports joined back to back by a pair of rings: what one
// transmits the other receives. It is an in-process link between two
// stacks, with one queue pair per port.
type RingPair struct {
	A, B     *Port
	aToB     *C.struct_rte_ring
	bToA     *C.struct_rte_ring
	kickA    *kick // A's receive doorbell, rung by B's transmit
	kickB    *kick // B's, rung by A's
	released bool
}

// NewRingPair creates the rings ("<name>_ab", "<name>_ba", size a power of
// two) and the ports "net_ring_<name>a" and "net_ring_<name>b" on them.
// The ports are configured and started like any other. Each port's
// receive queue has a doorbell that the other port's transmit rings
// (Port.RxInterrupt), as a NIC raises an interrupt, so that a loop can
// sleep until its peer sends.
func NewRingPair(name string, size int) (*RingPair, error) {
	cs := func(s string) *C.char { return C.CString(s) }
	na, nb := cs("net_ring_"+name+"a"), cs("net_ring_"+name+"b")
	ra, rb := cs(name+"_ab"), cs(name+"_ba")
	for _, p := range []*C.char{na, nb, ra, rb} {
		defer C.free(unsafe.Pointer(p))
	}
	var rp RingPair
	var errno, pa, pb C.int
	if C.dps_ring_pair(na, nb, ra, rb, C.unsigned(size), &rp.aToB, &rp.bToA, &pa, &pb, &errno) != 0 {
		return nil, fmt.Errorf("dpdk: ring pair %q: %w", name, errnoErr(errno))
	}
	rp.A, rp.B = portOf(uint16(pa)), portOf(uint16(pb))
	var err error
	if rp.kickA, err = newKick(); err == nil {
		rp.kickB, err = newKick()
	}
	if err != nil {
		rp.Close()
		return nil, fmt.Errorf("dpdk: ring pair %q doorbell: %w", name, err)
	}
	linkKick(rp.B.id, rp.A.id, rp.kickA)
	linkKick(rp.A.id, rp.B.id, rp.kickB)
	return &rp, nil
}

// OffloadTCPChecksums makes both ports offer TCP checksum offload
// (TxOffloadTCPCksum) that no hardware performs, as a Linux veth pair
// offers checksum offload: the sending stack leaves the checksum at the
// pseudo header's sum, as it would for a NIC, and the packet reaches the
// other port with its transmit flags, which the receiving dpstack takes
// for a packet that never left memory (Linux's CHECKSUM_PARTIAL on
// receive) and does not sum. Only a pair that joins two dpstack hosts
// directly may offer it: whatever reads the packets in between, or could
// change them, would see checksums that are not finished. Call it before
// the ports are configured; Close takes it back.
func (rp *RingPair) OffloadTCPChecksums() {
	addLinkOffloads(rp.A.name, offloadSet{tx: TxOffloadTCPCksum})
	addLinkOffloads(rp.B.name, offloadSet{tx: TxOffloadTCPCksum})
}

// OffloadTSO makes both ports offer TCP segmentation offload
// (TxOffloadTCPTSO) and what it needs: multi-segment frames and IPv4 and
// TCP checksum offload. Nothing in a ring pair performs them: only a pair
// that ends at something that does, a fault wire playing the NIC
// (faultwire.Wire.OffloadTSO), may offer it. Call it before the ports are
// configured; Close takes it back.
func (rp *RingPair) OffloadTSO() {
	tx := TxOffloadTCPTSO | TxOffloadMultiSegs | TxOffloadIPv4Cksum | TxOffloadTCPCksum
	addLinkOffloads(rp.A.name, offloadSet{tx: tx})
	addLinkOffloads(rp.B.name, offloadSet{tx: tx})
}

// OffloadLRO makes both ports offer large receive offload
// (RxOffloadTCPLRO, up to MaxLROPktSize), and a port configured with it
// merge what it receives as a NIC would (lro.c): the in-order TCP
// segments of each flow within an rx burst become one packet, a chain
// marked mbuf.RxLRO with the segments' size. It is a model of a NIC for
// tests and benchmarks, where no port offers LRO. Call it before the ports
// are configured; Close takes it back.
func (rp *RingPair) OffloadLRO() {
	addLinkOffloads(rp.A.name, offloadSet{rx: RxOffloadTCPLRO})
	addLinkOffloads(rp.B.name, offloadSet{rx: RxOffloadTCPLRO})
}

// Close closes both ports and frees the rings; packets still in flight are
// freed. The ports must be stopped.
func (rp *RingPair) Close() error {
	if rp.released {
		return nil
	}
	rp.released = true
	clearLinkOffloads(rp.A.name)
	clearLinkOffloads(rp.B.name)
	linkKick(rp.A.id, rp.B.id, nil)
	linkKick(rp.B.id, rp.A.id, nil)
	for _, k := range []*kick{rp.kickA, rp.kickB} {
		if k != nil {
			freeKick(k)
		}
	}
	errA, errB := rp.A.Close(), rp.B.Close()
	for _, r := range []*C.struct_rte_ring{rp.aToB, rp.bToA} {
		var m unsafe.Pointer
		for C.rte_ring_sc_dequeue(r, &m) == 0 {
			C.rte_pktmbuf_free((*C.struct_rte_mbuf)(m))
		}
		C.rte_ring_free(r)
	}
	if errA != nil {
		return errA
	}
	return errB
}
