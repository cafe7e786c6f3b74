package dpdk

/*
#include <stdlib.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include "tx.h"
#include "lro.h"

enum { DPS_OP_TX, DPS_OP_FREE, DPS_OP_RX };

// dps_op is one burst of a batch: send n packets to a tx queue, free n
// packets, or receive up to n packets from an rx queue. done is how many
// were sent or received. An op with n == 0 is skipped, and every op's n
// is 0 again once the batch has run.
struct dps_op {
	uintptr_t pkts;
	uint16_t kind, port, queue, n, done;
};

// dps_batch_run carries out a batch in three passes: the tx bursts, then
// the frees, then the rx bursts, and returns the TSC read at the end.
static uint64_t dps_batch_run(uintptr_t addr, unsigned nops)
{
	struct dps_op *ops = (struct dps_op *)addr;
	for (int kind = DPS_OP_TX; kind <= DPS_OP_RX; kind++) {
		for (unsigned i = 0; i < nops; i++) {
			struct dps_op *op = &ops[i];
			if (op->kind != kind)
				continue;
			struct rte_mbuf **pkts = (struct rte_mbuf **)op->pkts;
			uint16_t n = op->n;
			op->n = 0;
			op->done = 0;
			if (n == 0)
				continue;
			switch (kind) {
			case DPS_OP_TX:
				op->done = dps_tx(op->port, op->queue, pkts, n);
				break;
			case DPS_OP_FREE:
				rte_pktmbuf_free_bulk(pkts, n);
				op->done = n;
				break;
			case DPS_OP_RX:
				op->done = dps_rx(op->port, op->queue, pkts, n);
				break;
			}
		}
	}
	return rte_rdtsc();
}
*/
import "C"

import (
	"unsafe"

	"github.com/dpstack/dpstack/mbuf"
)

// Batch is a list of bursts that one cgo call carries out: a poll loop's
// I/O for a turn, its tx bursts, its bulk frees and its rx bursts, costs
// one crossing into C instead of one per queue and one per free (each
// crossing saved shows in lcore's BenchmarkIdleTurn).
// The ops live in C memory; the batch is owned by one core and lives as
// long as the process, as the loop that keeps it does.
type Batch struct {
	ops []C.struct_dps_op
	n   int
}

// NewBatch returns a batch with no ops.
func NewBatch() *Batch { return &Batch{} }

// AddTx adds a tx burst to queue q of port and returns its op's index.
func (b *Batch) AddTx(port *Port, q uint16) int { return b.add(C.DPS_OP_TX, port.id, q) }

// AddRx adds an rx burst from queue q of port and returns its op's index.
func (b *Batch) AddRx(port *Port, q uint16) int { return b.add(C.DPS_OP_RX, port.id, q) }

// AddFree adds a bulk free (rte_pktmbuf_free_bulk) and returns its op's
// index.
func (b *Batch) AddFree() int { return b.add(C.DPS_OP_FREE, 0, 0) }

func (b *Batch) add(kind C.uint16_t, port, q uint16) int {
	if b.n == len(b.ops) {
		grown := newOps(max(4, 2*len(b.ops)))
		copy(grown, b.ops)
		if len(b.ops) > 0 {
			C.free(unsafe.Pointer(&b.ops[0]))
		}
		b.ops = grown
	}
	b.ops[b.n] = C.struct_dps_op{kind: kind, port: C.uint16_t(port), queue: C.uint16_t(q)}
	b.n++
	return b.n - 1
}

// newOps allocates n zeroed ops in C memory, so that the call passes no Go
// pointer for cgo to check.
func newOps(n int) []C.struct_dps_op {
	p := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.struct_dps_op{})))
	if p == nil {
		panic("dpdk: out of C memory for a batch")
	}
	return unsafe.Slice((*C.struct_dps_op)(p), n)
}

// Set gives op i its packets for the next Run: those to send or free, or
// the slots to receive into. The vector must be C memory (mbuf.NewBurst)
// and stay untouched until Run returns; an empty one skips the op.
func (b *Batch) Set(i int, pkts []*mbuf.Buf) {
	op := &b.ops[i]
	op.n = C.uint16_t(len(pkts))
	if len(pkts) > 0 {
		op.pkts = C.uintptr_t(mbuf.VecAddr(pkts))
	}
}

// Done is how many packets op i sent, freed or received in the last Run:
// those sent belong to the port now and those received to the caller; the
// packets a tx op did not send are still the caller's.
func (b *Batch) Done(i int) int { return int(b.ops[i].done) }

// Run carries out, in one cgo call, every op given packets since the last
// Run: first the tx bursts, then the frees, then the rx bursts, each kind
// in the order the ops were added. Sending first lets a queue that loops
// back to this core (a ring pair) deliver in the same call. It returns the
// CPU's time stamp counter (rte_rdtsc, TSCHz ticks a second) read as the
// call ends, so that the caller learns the time without a call of its
// own; 0 when the batch has no ops and nothing was called.
func (b *Batch) Run() uint64 {
	if b.n == 0 {
		return 0
	}
	return uint64(C.dps_batch_run(C.uintptr_t(uintptr(unsafe.Pointer(&b.ops[0]))), C.unsigned(b.n)))
}

// TSCHz is how many times a second the time stamp counter that Batch.Run
// returns ticks (rte_get_tsc_hz, measured by EAL at start), or 0 before
// StartEAL.
func TSCHz() uint64 { return uint64(C.rte_get_tsc_hz()) }
