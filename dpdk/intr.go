package dpdk

/*
// rte_eth_dev_conf_get is still experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <rte_ethdev.h>
#include "kick.h"

static struct dps_kick *dps_kick_new(int *err)
{
	struct dps_kick *k = calloc(1, sizeof(*k));
	if (k == NULL) {
		*err = ENOMEM;
		return NULL;
	}
	k->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (k->fd < 0) {
		*err = errno;
		free(k);
		return NULL;
	}
	return k;
}

static void dps_kick_free(struct dps_kick *k)
{
	close(k->fd);
	free(k);
}

// dps_link_kicks makes a transmit into port tx ring k, the doorbell of
// port rx's receive queue; NULL unlinks both.
static void dps_link_kicks(uint16_t tx, uint16_t rx, struct dps_kick *k)
{
	dps_tx_kick[tx] = k;
	dps_rx_kick[rx] = k;
}

static struct dps_kick *dps_rx_kick_of(uint16_t port) { return dps_rx_kick[port]; }

// dps_rx_intr_configured reports whether port was configured with rx
// interrupts (asking ethdev for the descriptor of one configured without
// logs an error).
static int dps_rx_intr_configured(uint16_t port)
{
	struct rte_eth_conf conf;
	return rte_eth_dev_conf_get(port, &conf) == 0 && conf.intr_conf.rxq;
}
*/
import "C"

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// RxInterrupt is how a poll loop that has nothing to do sleeps until rx
// queue q of a port has packets, the scheme of DPDK's l3fwd-power: poll
// while busy; when idle, Arm, look at the queue once more, wait until FD is
// readable (epoll, edge-triggered: DPDK's own rte_epoll waits so), then
// Disarm and poll again. What FD is depends on the port:
//
//   - a NIC's queue interrupt (VFIO MSI-X), an eventfd that Arm enables
//     with rte_eth_dev_rx_intr_enable;
//   - net_tap's queue file descriptor itself, readable while the kernel has
//     queued frames: nothing to arm;
//   - a ring pair's doorbell (kick.h), an eventfd that the peer port's
//     transmit writes when the receiver armed it.
//
// Edge-triggered waits need no read of FD: each new event reports once.
type RxInterrupt struct {
	fd     int
	port   uint16
	queue  uint16
	enable bool  // Arm must enable the queue's interrupt
	kick   *kick // ring ports: the doorbell Arm sets
}

// RxInterrupt returns what a loop waits on for rx queue q, or an error
// wrapping ENOTSUP when the port gives no way to wait (a driver without
// rx interrupts, or one configured without PortConfig.RxInterrupts): the
// loop then sleeps in short, growing steps instead. Call it after Start.
func (p *Port) RxInterrupt(q uint16) (*RxInterrupt, error) {
	r := &RxInterrupt{port: p.id, queue: q}
	if k := C.dps_rx_kick_of(C.uint16_t(p.id)); k != nil {
		r.kick, r.fd = k, int(k.fd)
		return r, nil
	}
	fd := C.int(-1)
	if C.dps_rx_intr_configured(C.uint16_t(p.id)) != 0 {
		fd = C.rte_eth_dev_rx_intr_ctl_q_get_fd(C.uint16_t(p.id), C.uint16_t(q))
	}
	if fd < 0 {
		return nil, fmt.Errorf("dpdk: port %d rx queue %d has no interrupt: %w", p.id, q, syscall.ENOTSUP)
	}
	r.fd = int(fd)
	// Ask once whether the driver gates the interrupt (a NIC) or the
	// descriptor is simply readable when frames wait (net_tap).
	switch rc := C.rte_eth_dev_rx_intr_enable(C.uint16_t(p.id), C.uint16_t(q)); {
	case rc == 0:
		r.enable = true
		C.rte_eth_dev_rx_intr_disable(C.uint16_t(p.id), C.uint16_t(q))
	case -rc != C.ENOTSUP:
		return nil, fmt.Errorf("dpdk: port %d rx queue %d interrupt: %w", p.id, q, errnoErr(rc))
	}
	return r, nil
}

// FD is the descriptor that becomes readable when the queue receives,
// once armed.
func (r *RxInterrupt) FD() int { return r.fd }

// Arm asks for an event on FD for the next packet. The caller then polls
// the queue once more before it waits: a packet that arrived before Arm
// may raise no event.
func (r *RxInterrupt) Arm() {
	switch {
	case r.kick != nil:
		// A locked exchange: the store is ordered before the poll
		// that follows it (kick.h).
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&r.kick.armed)), 1)
	case r.enable:
		C.rte_eth_dev_rx_intr_enable(C.uint16_t(r.port), C.uint16_t(r.queue))
	}
}

// Disarm ends what Arm began, after the wait or instead of it.
func (r *RxInterrupt) Disarm() {
	switch {
	case r.kick != nil:
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&r.kick.armed)), 0)
	case r.enable:
		C.rte_eth_dev_rx_intr_disable(C.uint16_t(r.port), C.uint16_t(r.queue))
	}
}

// kick is a ring port's doorbell (kick.h).
type kick = C.struct_dps_kick

// newKick makes a doorbell.
func newKick() (*kick, error) {
	var errno C.int
	k := C.dps_kick_new(&errno)
	if k == nil {
		return nil, errnoErr(errno)
	}
	return k, nil
}

// freeKick closes and frees a doorbell that nothing links any more.
func freeKick(k *kick) { C.dps_kick_free(k) }

// linkKick makes a transmit on port tx ring k, port rx's doorbell; nil
// unlinks both.
func linkKick(tx, rx uint16, k *kick) { C.dps_link_kicks(C.uint16_t(tx), C.uint16_t(rx), k) }
