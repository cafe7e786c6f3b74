package dpdk

/*
#include <rte_ethdev.h>
#include "tx.h"
#include "lro.h"

// rte_eth_rx_burst and rte_eth_tx_burst are static inline: these wrappers
// make each a single cgo call per burst (dps_rx and dps_tx, which add the
// ring ports' LRO model and net_af_xdp's flat packets). The vector comes
// as an integer (mbuf.VecAddr).
static uint16_t dps_rx_burst(uint16_t port, uint16_t q, uintptr_t pkts, uint16_t n)
{
	return dps_rx(port, q, (struct rte_mbuf **)pkts, n);
}

static uint16_t dps_tx_burst(uint16_t port, uint16_t q, uintptr_t pkts, uint16_t n)
{
	return dps_tx(port, q, (struct rte_mbuf **)pkts, n);
}
*/
import "C"

import (
	"runtime"

	"github.com/dpstack/dpstack/mbuf"
)

// RxBurst receives up to len(pkts) packets from queue q into pkts and
// returns how many. The caller owns them.
func (p *Port) RxBurst(q uint16, pkts []*mbuf.Buf) int {
	if len(pkts) == 0 {
		return 0
	}
	n := C.dps_rx_burst(C.uint16_t(p.id), C.uint16_t(q), vec(pkts), C.uint16_t(len(pkts)))
	runtime.KeepAlive(pkts)
	return int(n)
}

// TxBurst hands pkts to queue q and returns how many the port took; those
// are the port's now, the rest still the caller's.
func (p *Port) TxBurst(q uint16, pkts []*mbuf.Buf) int {
	if len(pkts) == 0 {
		return 0
	}
	n := C.dps_tx_burst(C.uint16_t(p.id), C.uint16_t(q), vec(pkts), C.uint16_t(len(pkts)))
	runtime.KeepAlive(pkts)
	return int(n)
}

// vec passes a burst vector to C as an integer (mbuf.VecAddr).
func vec(pkts []*mbuf.Buf) C.uintptr_t { return C.uintptr_t(mbuf.VecAddr(pkts)) }
