package mbuf

/*
#include <stdlib.h>
#include <unistd.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_mbuf_pool_ops.h>

// ops NULL is the platform's default handler (rte_mbuf_best_mempool_ops).
static struct rte_mempool *dps_pool_create(const char *name, unsigned n,
	unsigned cache, uint16_t priv, uint16_t room, int socket, const char *ops,
	int *err)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create_by_ops(name, n, cache,
		priv, room, socket, ops);
	if (mp == NULL)
		*err = rte_errno;
	return mp;
}

// dps_pool_create_paged is rte_pktmbuf_pool_create_by_ops for a pool
// whose every object (its mempool header, the rte_mbuf, the private area
// and the data room) is exactly one page, page-aligned: the data room is
// what the page leaves, written to *room. RTE_MEMPOOL_F_NO_SPREAD keeps
// mempool from padding objects to spread them over memory channels.
static struct rte_mempool *dps_pool_create_paged(const char *name, unsigned n,
	unsigned cache, uint16_t priv, int socket, const char *ops,
	uint16_t *room, int *err)
{
	const unsigned flags = RTE_MEMPOOL_F_NO_SPREAD;
	struct rte_mempool_objsz sz;
	rte_mempool_calc_obj_size(0, flags, &sz);
	unsigned elt = (unsigned)getpagesize() - sz.header_size;
	*room = (uint16_t)(elt - sizeof(struct rte_mbuf) - priv);
	struct rte_mempool *mp = rte_mempool_create_empty(name, n, elt, cache,
		sizeof(struct rte_pktmbuf_pool_private), socket, flags);
	if (mp == NULL) {
		*err = rte_errno;
		return NULL;
	}
	int rc = rte_mempool_set_ops_byname(mp,
		ops != NULL ? ops : rte_mbuf_best_mempool_ops(), NULL);
	if (rc == 0) {
		struct rte_pktmbuf_pool_private pp = {
			.mbuf_data_room_size = *room,
			.mbuf_priv_size = priv,
		};
		rte_pktmbuf_pool_init(mp, &pp);
		rc = rte_mempool_populate_default(mp);
	}
	if (rc < 0) {
		*err = -rc;
		rte_mempool_free(mp);
		return NULL;
	}
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
}

// rte_pktmbuf_alloc_bulk is static inline: wrap it so that one cgo call
// fills a whole burst. Vectors come as integers (see vec in pool.go).
static int dps_alloc_bulk(struct rte_mempool *mp, uintptr_t bufs, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(mp, (struct rte_mbuf **)bufs, n);
}

static void dps_free_bulk(uintptr_t bufs, unsigned n)
{
	rte_pktmbuf_free_bulk((struct rte_mbuf **)bufs, n);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"
)

// DefaultDataRoom is the data room of a pool's mbufs: a 1518-byte frame
// after the default 128-byte headroom, rounded as DPDK's own default.
const DefaultDataRoom = C.RTE_MBUF_DEFAULT_BUF_SIZE

// DefaultHeadroom is the headroom an allocated mbuf starts with.
const DefaultHeadroom = C.RTE_PKTMBUF_HEADROOM

// PoolConfig says how to build a Pool.
type PoolConfig struct {
	// Name must be unique in the process (it names a DPDK memzone).
	Name string
	// Size is the number of mbufs; a power of two minus one is best.
	Size int
	// CacheSize is DPDK's per-lcore cache (0 for none, at most 512).
	CacheSize int
	// DataRoom is the buffer size behind each mbuf, headroom included;
	// 0 means DefaultDataRoom.
	DataRoom int
	// Socket is the NUMA socket, or -1 for any.
	Socket int
	// Ops is the DPDK mempool handler behind the pool ("ring_mp_mc",
	// "lf_stack", ...); "" is the platform's default, the multi-producer
	// ring. See OpsLockFree for when to choose another.
	Ops string
	// PageObjects lays the pool out as an AF_XDP UMEM of 4 KiB frames:
	// each mbuf, its mempool header, private area and data room
	// together, is exactly one page, page-aligned, and DataRoom is
	// ignored (the data room is what the page leaves, about 3.8 KiB).
	// Without it, DPDK keeps each object from crossing a page, which
	// leaves the rest of the page unused whenever an object is larger
	// than half of one, and so the pool's objects span more memory
	// than their number times their size (dpdk.DevInfo.PoolIsUMEM).
	PageObjects bool
}

// OpsLockFree is DPDK's lock-free stack handler. The default ring handler
// assumes threads that are not preempted while they put or get: a thread
// descheduled between claiming ring slots and publishing them makes every
// other thread that frees into the pool spin until it runs again (the
// "lock-waiter preemption" of DPDK's ring documentation). Poll loops that
// are ordinary goroutines, and so Go threads that the OS schedules freely
// and that have no per-lcore cache in front of the pool, are exactly that
// case; the lock-free stack never waits for another thread, and hands out
// the most recently freed, cache-warm, mbuf first. Measured with perf
// -cpuprofile on 2 shared cores: with the ring, on a loaded machine,
// rte_pktmbuf_free_bulk took 59 % of the callback row's CPU time; with
// this handler 5 % (ring_mt_rts, which only spares the tail update, 5 %
// too).
const OpsLockFree = "lf_stack"

// Pool is a DPDK mbuf pool whose mbufs carry dpstack's private area.
type Pool struct {
	mp   *C.struct_rte_mempool
	name string
	room uint16 // each mbuf's data room: what a detached clone gets back
}

// NewPool creates a pool. EAL must be running.
func NewPool(cfg PoolConfig) (*Pool, error) {
	room := cfg.DataRoom
	if room == 0 {
		room = DefaultDataRoom
	}
	if cfg.Size <= 0 || room <= DefaultHeadroom || room > 65535 || cfg.CacheSize < 0 {
		return nil, fmt.Errorf("mbuf: pool %q: bad size %d or data room %d: %w", cfg.Name, cfg.Size, room, syscall.EINVAL)
	}
	name := C.CString(cfg.Name)
	defer C.free(unsafe.Pointer(name))
	var ops *C.char
	if cfg.Ops != "" {
		ops = C.CString(cfg.Ops)
		defer C.free(unsafe.Pointer(ops))
	}
	var errno C.int
	var mp *C.struct_rte_mempool
	if cfg.PageObjects {
		var paged C.uint16_t
		mp = C.dps_pool_create_paged(name, C.unsigned(cfg.Size), C.unsigned(cfg.CacheSize),
			C.uint16_t(privSize), C.int(cfg.Socket), ops, &paged, &errno)
		room = int(paged)
	} else {
		mp = C.dps_pool_create(name, C.unsigned(cfg.Size), C.unsigned(cfg.CacheSize),
			C.uint16_t(privSize), C.uint16_t(room), C.int(cfg.Socket), ops, &errno)
	}
	if mp == nil {
		how := ""
		if cfg.Ops != "" {
			how = " with mempool handler " + cfg.Ops
		}
		return nil, fmt.Errorf("mbuf: create pool %q of %d%s: %w", cfg.Name, cfg.Size, how, syscall.Errno(errno))
	}
	return &Pool{mp: mp, name: cfg.Name, room: uint16(room)}, nil
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// DataRoom is the buffer size behind each mbuf, headroom included
// (PoolConfig.DataRoom).
func (p *Pool) DataRoom() int { return int(p.room) }

// Ops is the name of the mempool handler behind the pool.
func (p *Pool) Ops() string { return C.GoString(&C.rte_mempool_get_ops(p.mp.ops_index).name[0]) }

// Ptr is the struct rte_mempool pointer, for the driver binding.
func (p *Pool) Ptr() unsafe.Pointer { return unsafe.Pointer(p.mp) }

// ObjectSize is the memory each mbuf takes in the pool: its mempool
// header, the rte_mbuf, the private area, the data room and padding.
func (p *Pool) ObjectSize() int {
	return int(p.mp.header_size + p.mp.elt_size + p.mp.trailer_size)
}

// Chunks is the number of separate memory areas the pool's mbufs lie in.
func (p *Pool) Chunks() int { return int(p.mp.nb_mem_chunks) }

// Size is the number of mbufs in the pool.
func (p *Pool) Size() int { return int(p.mp.size) }

// InUse is how many mbufs are out of the pool: allocated and not yet freed.
// Mbufs in DPDK's per-lcore caches count as free. Leak tests compare it
// against a baseline.
func (p *Pool) InUse() int { return int(C.rte_mempool_in_use_count(p.mp)) }

// Available is how many mbufs can still be allocated.
func (p *Pool) Available() int { return int(C.rte_mempool_avail_count(p.mp)) }

// Close frees the pool. Every mbuf must be back first.
func (p *Pool) Close() {
	if p.mp != nil {
		C.rte_mempool_free(p.mp)
		p.mp = nil
	}
}

// AllocBulk fills bufs with fresh mbufs (headroom reserved, empty data) in
// one call, or allocates none and reports false when the pool cannot supply
// them all.
func (p *Pool) AllocBulk(bufs []*Buf) bool {
	if len(bufs) == 0 {
		return true
	}
	rc := C.dps_alloc_bulk(p.mp, vec(bufs), C.unsigned(len(bufs)))
	runtime.KeepAlive(bufs)
	return rc == 0
}

// Alloc returns one fresh mbuf, or nil when the pool is empty. It is one
// cgo call: the data path allocates through a Cache.
func (p *Pool) Alloc() *Buf {
	return (*Buf)(C.rte_pktmbuf_alloc(p.mp))
}

// FreeBulk frees every packet in bufs (all segments, clones detached) in
// one call.
func FreeBulk(bufs []*Buf) {
	if len(bufs) == 0 {
		return
	}
	C.dps_free_bulk(vec(bufs), C.unsigned(len(bufs)))
	runtime.KeepAlive(bufs)
}

// VecAddr is the address of a non-empty vector of mbuf pointers, for
// passing it to C as an integer. As a pointer, cgo would check on every
// call that the memory it points to holds no Go pointers (a span lookup:
// 6 % of a callback round trip's CPU time in rx bursts alone), and there is
// nothing to find: mbuf pointers are C pointers, and the data path's
// vectors are C memory (NewBurst). Callers keep the vector alive across
// the call (runtime.KeepAlive).
func VecAddr(bufs []*Buf) uintptr { return uintptr(unsafe.Pointer(&bufs[0])) }

func vec(bufs []*Buf) C.uintptr_t { return C.uintptr_t(VecAddr(bufs)) }

// NewBurst returns a vector of n packet slots in C memory, for rx and tx
// bursts. Passing a Go-allocated vector to DPDK makes cgo scan it for Go
// pointers on every call; a C-allocated one costs nothing. The vector
// lives as long as the process (a loop keeps its bursts for good).
func NewBurst(n int) []*Buf {
	p := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*Buf)(nil))))
	if p == nil {
		panic("mbuf: out of C memory for a burst vector")
	}
	return unsafe.Slice((**Buf)(p), n)
}
