package ipv4

import (
	"math/rand/v2"
	"time"
	"unsafe"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// DefaultReasmTimeout is how long the fragments of a datagram wait for
// the rest of it by default (Config.ReasmTimeout): Linux's ipfrag_time.
// RFC 1122 §3.3.2 recommends 60 to 120 s; Linux's shorter wait holds less
// memory for datagrams that will never complete, and dpstack follows it.
const DefaultReasmTimeout = 30 * time.Second

// ReasmPoolShare sets the default reassembly thresholds
// (Config.ReasmHighThresh): the core's share of 1/ReasmPoolShare of the
// pool may wait in reassembly queues, and an eviction brings it down to
// three quarters of that, as Linux's default ipfrag_high_thresh and
// ipfrag_low_thresh (4 MB and 3 MB) relate. The host's sockets are limited
// to what the port and reassembly leave (stack.Config.SockMem), so no flood
// of fragments can take the mbufs TCP needs. A sixteenth of the default
// pool is 511 full-size fragments a core, room for seven 64 KiB datagrams
// at once: fragments are rare, and a larger share comes out of the
// sockets' memory (with an eighth, the small pools of make perf lost some
// 7 % of their bulk rate).
const ReasmPoolShare = 16

// The low threshold's default, as a fraction of the high one.
const (
	reasmLowNum = 3
	reasmLowDen = 4
)

// fragKey identifies the datagram a fragment belongs to (RFC 791 §3.2:
// source, destination, protocol and identification).
type fragKey struct {
	src, dst uint32
	id       uint16
	proto    uint8
}

// hash mixes the key with seed, for choosing a bucket and the
// reassembling core: the words are combined multiplicatively, then
// murmur3's finaliser carries every input bit into every output bit, the
// low ones that choose a core included.
func (k fragKey) hash(seed uint32) uint32 {
	h := (seed ^ k.src) * 0x9e3779b1
	h = (h ^ k.dst) * 0x9e3779b1
	h ^= uint32(k.id)<<8 | uint32(k.proto)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// fragCB is the reassembly's view of a queued fragment's control block:
// the range of the datagram's data it carries, [off, end).
type fragCB struct {
	off, end int32
}

var _ [mbuf.CBSize - unsafe.Sizeof(fragCB{})]byte

func fragCBOf(b *mbuf.Buf) *fragCB { return (*fragCB)(unsafe.Pointer(b.CB())) }

// fragQueue is the reassembly queue of one datagram (struct ipq). Its
// fragments are sorted by offset and never overlap. The first fragment
// keeps its IP header, the others have theirs pulled: their data is the
// datagram's data alone.
type fragQueue struct {
	key   fragKey
	frags mbuf.Queue
	size  int  // the datagram's data length as far as known: the largest end seen
	last  bool // the last fragment (MF clear) arrived: size is exact
	meat  int  // data bytes queued
	mbufs int  // mbufs queued

	hnext        *fragQueue // bucket chain, or the free list
	older, newer *fragQueue // the queues in order of creation
	timer        ktime.Timer
}

// reasm is one core's IPv4 reassembly (Linux's per-netns fqdir for IPv4):
// a hash table of queues, a list of them from the oldest, and the number
// of mbufs they hold. Queues are allocated once, as many as the high
// threshold allows (every queue holds an mbuf), so reassembly allocates
// nothing per packet.
type reasm struct {
	l       *Layer
	wheel   *ktime.Wheel
	core    int
	cores   int
	handoff func(b *mbuf.Buf, core int) bool // nil with one core
	timeout time.Duration
	high    int
	low     int
	mem     int // mbufs held by the queues
	seed    uint32
	linear  [256]bool    // protocols whose handlers read one segment (Linearize)
	buckets []*fragQueue // a power of two of them
	free    *fragQueue
	oldest  *fragQueue
	newest  *fragQueue
}

// init sizes the reassembly from cfg and allocates its queues.
func (r *reasm) init(l *Layer, cfg Config) {
	cores := max(cfg.Cores, 1)
	r.l, r.wheel, r.core, r.cores = l, cfg.Wheel, cfg.Core, cores
	if cores > 1 {
		r.handoff = cfg.Handoff
	}
	r.timeout = cfg.ReasmTimeout
	if r.timeout <= 0 {
		r.timeout = DefaultReasmTimeout
	}
	r.high, r.low = cfg.ReasmHighThresh, cfg.ReasmLowThresh
	if r.high <= 0 {
		r.high = cfg.Dev.Cache.Pool().Size() / ReasmPoolShare / cores
	}
	r.high = max(r.high, 1)
	if r.low < 0 || r.low >= r.high || cfg.ReasmLowThresh == 0 {
		r.low = r.high * reasmLowNum / reasmLowDen
	}
	r.seed = rand.Uint32()
	n := 1
	for n < r.high {
		n <<= 1
	}
	r.buckets = make([]*fragQueue, n)
	qs := make([]fragQueue, r.high)
	for i := range qs {
		q := &qs[i]
		q.timer.Init(func(*ktime.Timer, ktime.Time) { r.expire(q) })
		q.hnext = r.free
		r.free = q
	}
}

// defrag takes fragment b, whose data starts at its IP header ip
// (ip_defrag). It returns the whole datagram when b completes it: one
// mbuf chain, fragments in order, data at the first fragment's IP header,
// whose Total Length, flags and checksum now describe the datagram; the
// view it returns covers the first segment only. Otherwise b has been
// queued, handed to the core that reassembles its datagram, or dropped,
// and defrag reports false.
//
// A fragment is refused alone when it is empty or, MF set, not a
// multiple of 8 bytes long (RFC 791 §3.2), and so is an exact duplicate of
// one queued. The whole datagram is discarded when fragments overlap
// (Linux since 2018, as RFC 5722 requires for IPv6: overlaps serve only
// to evade inspection), when they disagree on where it ends, or when it
// would exceed 65,535 bytes.
func (l *Layer) defrag(b *mbuf.Buf, ip header.IPv4) (*mbuf.Buf, header.IPv4, bool) {
	r := &l.reasm
	k := fragKey{src: ip.SrcUint32(), dst: ip.DstUint32(), id: ip.ID(), proto: ip.Protocol()}
	if r.handoff != nil {
		if c := int(k.hash(0) % uint32(r.cores)); c != r.core {
			r.handOff(b, c)
			return nil, nil, false
		}
	}
	l.stats.ReasmReqds.Inc()
	hl := ip.HeaderLen()
	off := int(ip.FragmentOffset())
	end := off + len(ip) - hl
	mf := ip.MoreFragments()
	if end == off || mf && (end-off)%8 != 0 || !b.Trim(len(ip)) {
		l.stats.ReasmFails.Inc()
		l.dev.Drop(b, stat.DropIPFragment)
		return nil, nil, false
	}
	if r.mem+b.Segments() > r.high {
		r.evict()
	}
	q := r.find(k)
	if end > maxTotalLen-header.IPv4MinLen {
		r.fail(q, b, stat.DropIPFragTooBig)
		return nil, nil, false
	}
	if q == nil {
		if q = r.create(k); q == nil {
			l.stats.ReasmFails.Inc()
			l.dev.Drop(b, stat.DropIPFragEvicted)
			return nil, nil, false
		}
	} else if !mf && (end < q.size || q.last && end != q.size) || mf && q.last && end > q.size {
		// The datagram has one end (RFC 791 §3.2): a last fragment must
		// not cut off data already queued, nor data follow it.
		r.fail(q, b, stat.DropIPFragment)
		return nil, nil, false
	}
	if off != 0 {
		b.Pull(hl)
	}
	if !r.insert(q, b, off, end) {
		return nil, nil, false
	}
	if !mf {
		q.last = true
	}
	q.size = max(q.size, end)
	if !q.last || q.meat != q.size {
		return nil, nil, false
	}
	// The datagram was received when its last fragment was (ip_frag_reasm
	// gives the head the queue's stamp, that of the latest fragment).
	q.frags.Front().LaterRxTime(b)
	return r.assemble(q)
}

// handOff gives fragment b to the core that reassembles its datagram.
func (r *reasm) handOff(b *mbuf.Buf, core int) {
	if !r.handoff(b, core) {
		r.l.dev.Drop(b, stat.DropHandoffFull)
		return
	}
	r.l.stats.ReasmHandoffs.Inc()
}

// insert puts b, the data [off, end) of q's datagram, in its place among
// q's fragments (ip_frag_queue), or drops it as a duplicate, or discards
// the whole datagram when b overlaps a queued fragment; it reports whether
// b was queued.
func (r *reasm) insert(q *fragQueue, b *mbuf.Buf, off, end int) bool {
	// From the back: fragments mostly arrive in order.
	prev := q.frags.Back()
	for prev != nil && int(fragCBOf(prev).off) > off {
		prev = q.frags.PrevOf(prev)
	}
	next := q.frags.Front()
	if prev != nil {
		pcb := fragCBOf(prev)
		if int(pcb.off) == off && int(pcb.end) == end {
			r.l.stats.ReasmFails.Inc()
			r.l.dev.Drop(b, stat.DropIPFragDuplicate)
			return false
		}
		if int(pcb.end) > off {
			r.overlap(q, b)
			return false
		}
		next = q.frags.NextOf(prev)
	}
	if next != nil && int(fragCBOf(next).off) < end {
		r.overlap(q, b)
		return false
	}
	cb := fragCBOf(b)
	cb.off, cb.end = int32(off), int32(end)
	q.frags.InsertAfter(prev, b)
	q.meat += end - off
	n := b.Segments()
	q.mbufs += n
	r.mem += n
	r.l.stats.ReasmMbufs.Add(int64(n))
	return true
}

// overlap discards q and b, whose data overlap (RFC 5722 §4's rule, which
// Linux applies to IPv4 too).
func (r *reasm) overlap(q *fragQueue, b *mbuf.Buf) {
	r.l.stats.ReasmOverlaps.Inc()
	r.fail(q, b, stat.DropIPFragOverlap)
}

// fail drops fragment b and discards q, if any, for reason: one failed
// datagram.
func (r *reasm) fail(q *fragQueue, b *mbuf.Buf, reason stat.DropReason) {
	r.l.stats.ReasmFails.Inc()
	r.l.dev.Drop(b, reason)
	if q != nil {
		r.kill(q, reason)
	}
}

// assemble chains the fragments of complete queue q into one datagram
// (ip_frag_reasm) and frees the queue. Nothing is copied: the first
// fragment's mbuf carries the header, and every fragment is a segment.
func (r *reasm) assemble(q *fragQueue) (*mbuf.Buf, header.IPv4, bool) {
	l := r.l
	first := q.frags.Front()
	ip := header.IPv4(first.Bytes())
	tl := ip.HeaderLen() + q.size
	if tl > maxTotalLen {
		l.stats.ReasmFails.Inc()
		r.kill(q, stat.DropIPFragTooBig)
		return nil, nil, false
	}
	r.release(q)
	// From the back, so that each Chain appends to a single segment. A
	// datagram has at most 65,535/8 fragments of one segment each, under
	// DPDK's limit of segments per packet.
	var tail *mbuf.Buf
	for f := q.frags.Back(); f != nil; f = q.frags.Back() {
		q.frags.Unlink(f)
		if tail != nil {
			f.Chain(tail)
		}
		tail = f
	}
	ip.SetTotalLen(uint16(tl))
	ip.SetFragmentOffset(0)
	ip.SetFlags(ip.Flags() &^ header.IPv4FlagMF)
	ip.SetChecksumFull()
	l.stats.ReasmOKs.Inc()
	if r.linear[q.key.proto] {
		if m := r.linearize(tail); m != nil {
			return m, header.IPv4(m.Bytes()), true
		}
	}
	return tail, ip, true
}

// Linearize makes the reassembled datagrams of protocol proto arrive in
// one segment, for a handler that reads only the first: each is copied
// into a fresh mbuf when it fits in one (skb_linearize), and comes as a
// chain otherwise.
func (l *Layer) Linearize(proto uint8) { l.reasm.linear[proto] = true }

// linearize copies datagram b into one fresh mbuf and frees b, or returns
// nil, leaving b alone, when it does not fit or no mbuf is left.
func (r *reasm) linearize(b *mbuf.Buf) *mbuf.Buf {
	m := r.l.dev.Alloc()
	if m == nil {
		return nil
	}
	p := m.Put(b.Len())
	if p == nil {
		r.l.dev.Free(m)
		return nil
	}
	b.ReadAt(p, 0)
	m.CopyRxTime(b)
	r.l.dev.Free(b)
	return m
}

// expire is q's timeout (ip_expire): the datagram is discarded, and when
// its first fragment had arrived the sender hears of it (RFC 792 Time
// Exceeded, code 1; RFC 1122 §3.3.2), quoting that fragment.
func (r *reasm) expire(q *fragQueue) {
	l := r.l
	l.stats.ReasmTimeout.Inc()
	l.stats.ReasmFails.Inc()
	if f := q.frags.Front(); f != nil && fragCBOf(f).off == 0 {
		l.SendError(header.IPv4(f.Bytes()), header.ICMPv4TimeExceeded, header.ICMPv4ReassemblyExceeded, 0)
	}
	r.kill(q, stat.DropIPFragTimeout)
}

// evict discards the oldest queues until the mbufs held are at the low
// threshold or under it, as Linux's inet_frag_evictor did before its 2018
// rework, so that fragments that will never complete cannot take the pool
// from TCP.
func (r *reasm) evict() {
	for r.mem > r.low && r.oldest != nil {
		r.l.stats.ReasmFails.Inc()
		r.kill(r.oldest, stat.DropIPFragEvicted)
	}
}

// find returns the queue of key k, or nil.
func (r *reasm) find(k fragKey) *fragQueue {
	for q := r.buckets[k.hash(r.seed)&uint32(len(r.buckets)-1)]; q != nil; q = q.hnext {
		if q.key == k {
			return q
		}
	}
	return nil
}

// create takes a free queue for key k (inet_frag_create), enters it in
// the table and the age list, and starts its timeout; nil when none is
// free.
func (r *reasm) create(k fragKey) *fragQueue {
	q := r.free
	if q == nil {
		return nil
	}
	r.free = q.hnext
	q.key, q.size, q.last, q.meat, q.mbufs = k, 0, false, 0, 0
	bk := &r.buckets[k.hash(r.seed)&uint32(len(r.buckets)-1)]
	q.hnext = *bk
	*bk = q
	q.older, q.newer = r.newest, nil
	if r.newest != nil {
		r.newest.newer = q
	} else {
		r.oldest = q
	}
	r.newest = q
	r.wheel.Schedule(&q.timer, r.l.clock.Add(r.timeout))
	return q
}

// kill discards q (inet_frag_kill): its fragments are dropped for reason.
func (r *reasm) kill(q *fragQueue, reason stat.DropReason) {
	r.release(q)
	for f := q.frags.PopFront(); f != nil; f = q.frags.PopFront() {
		r.l.dev.Drop(f, reason)
	}
}

// release takes q out of the table, the age list and the wheel, gives
// back its mbufs' account and puts it on the free list; its fragments stay
// on it for the caller.
func (r *reasm) release(q *fragQueue) {
	bk := &r.buckets[q.key.hash(r.seed)&uint32(len(r.buckets)-1)]
	for *bk != q {
		bk = &(*bk).hnext
	}
	*bk = q.hnext
	if q.older != nil {
		q.older.newer = q.newer
	} else {
		r.oldest = q.newer
	}
	if q.newer != nil {
		q.newer.older = q.older
	} else {
		r.newest = q.older
	}
	q.older, q.newer = nil, nil
	r.wheel.Cancel(&q.timer)
	r.mem -= q.mbufs
	r.l.stats.ReasmMbufs.Add(-int64(q.mbufs))
	q.hnext = r.free
	r.free = q
}

// FlushFragments frees every fragment waiting for reassembly, uncounted:
// at shutdown, so that the pool is whole again (inet_frags_exit_net).
func (l *Layer) FlushFragments() {
	r := &l.reasm
	for q := r.oldest; q != nil; q = r.oldest {
		r.release(q)
		q.frags.Purge(l.dev.Cache)
	}
}
