package sock_test

import (
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/sock"
)

// ts is the truesize of one mbuf of a default pool.
const ts = mbuf.DefaultDataRoom

func TestTruesize(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		b    *mbuf.Buf
		want int
	}{
		{"empty", e.pkt(""), ts},
		{"one byte", e.pkt("x"), ts},
		{"full-size frame", e.pkt(strings.Repeat("f", 1500)), ts},
		{"two segments", e.chain("ab", "cd"), 2 * ts},
		{"three segments, one empty", e.chain("ab", "", "cd"), 3 * ts},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, sock.Truesize(c.b), c.name)
		c.b.Pull(min(1, c.b.SegLen()))
		assert.Equal(t, c.want, sock.Truesize(c.b), "%s: Pull leaves it", c.name)
		e.cache.Free(c.b)
	}
	assert.Zero(t, e.inUse())
}

func TestQueueRcvLimit(t *testing.T) {
	cases := []struct {
		name     string
		rcvbuf   int    // set directly; 0 for SO_RCVBUF=3264 (6528, three mbufs)
		segs     []int  // segments of each packet offered, in order
		accepted []bool // whether each is taken
	}{
		{"three fit, the fourth does not", 0, []int{1, 1, 1, 1}, []bool{true, true, true, false}},
		{"a chain fits exactly", 0, []int{1, 2, 1}, []bool{true, true, false}},
		{"a chain over the limit", 0, []int{1, 1, 2, 1}, []bool{true, true, false, true}},
		{"an empty queue takes one packet whatever its size", 100, []int{1, 1}, []bool{true, false}},
		{"even a chain larger than the buffer", 2304, []int{3, 1}, []bool{true, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := sock.New()
			if c.rcvbuf == 0 {
				require.NoError(t, s.SetOption(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 3264))
				require.Equal(t, 3*ts, s.RcvBuf)
			} else {
				s.RcvBuf = c.rcvbuf
			}
			charged, queued := 0, 0
			for i, n := range c.segs {
				segs := make([]string, n)
				for j := range segs {
					segs[j] = "data"
				}
				b := e.chain(segs...)
				ok := s.QueueRcv(b)
				assert.Equal(t, c.accepted[i], ok, "packet %d", i)
				if ok {
					charged += n * ts
					queued++
				} else {
					e.cache.Free(b) // the caller still owns a refused packet
				}
				assert.Equal(t, charged, s.RmemAlloc, "packet %d", i)
				assert.Equal(t, queued, s.ReceiveQueue.Len(), "packet %d", i)
				assert.LessOrEqual(t, s.RmemAlloc, max(s.RcvBuf, c.segs[0]*ts))
			}
			s.PurgeQueues(e.free)
			assert.Zero(t, s.RmemAlloc)
			assert.Zero(t, e.inUse())
		})
	}
}

func TestQueueRcvAfterRead(t *testing.T) {
	e := newEnv(t)
	s := sock.New()
	s.RcvBuf = 2 * ts
	require.True(t, s.QueueRcv(e.pkt("one")))
	require.True(t, s.QueueRcv(e.pkt("two")))
	over := e.pkt("three")
	require.False(t, s.QueueRcv(over), "full")
	buf := make([]byte, 3)
	require.Equal(t, 3, s.CopyFromReceiveQueue(buf, false, e.free))
	assert.Equal(t, ts, s.RmemAlloc, "the read packet is uncharged")
	require.True(t, s.QueueRcv(over), "room again")
	s.PurgeQueues(e.free)
	assert.Zero(t, e.inUse())
}

func TestWmem(t *testing.T) {
	e := newEnv(t)
	s := sock.New()
	require.NoError(t, s.SetOption(syscall.SOL_SOCKET, syscall.SO_SNDBUF, 3264)) // 3 mbufs
	require.Equal(t, 3*ts, s.SndBuf)
	assert.True(t, s.WmemSchedule(10*ts), "an empty write queue takes one packet")
	var bs []*mbuf.Buf
	for range 3 {
		require.True(t, s.WmemSchedule(ts))
		b := e.pkt("data")
		s.ChargeW(b)
		s.WriteQueue.PushBack(b)
		bs = append(bs, b)
	}
	assert.Equal(t, 3*ts, s.WmemQueued)
	assert.False(t, s.WmemSchedule(ts))
	assert.True(t, s.WmemSchedule(0))
	assert.False(t, s.Writable())

	s.WriteQueue.Unlink(bs[0])
	s.UnchargeW(bs[0])
	e.cache.Free(bs[0])
	assert.Equal(t, 2*ts, s.WmemQueued)
	assert.True(t, s.WmemSchedule(ts))
	assert.True(t, s.Writable(), "a third free, half the queued amount, is enough")

	s.PurgeQueues(e.free)
	assert.Zero(t, s.WmemQueued)
	assert.True(t, s.Writable())
	assert.Zero(t, e.inUse())
}

func TestChargeR(t *testing.T) {
	e := newEnv(t)
	s := sock.New()
	b := e.chain("ab", "cd")
	s.ChargeR(b)
	assert.Equal(t, 2*ts, s.RmemAlloc)
	b.Pull(2)
	s.UnchargeR(b)
	assert.Zero(t, s.RmemAlloc, "uncharged what was charged")
	e.cache.Free(b)
	assert.Zero(t, e.inUse())
}

// rxStream queues, in order: a single-segment packet, a two-segment chain,
// an empty packet, a small packet and a three-segment chain with an empty
// middle segment. It returns the bytes they hold.
func rxStream(e *env, s *sock.Sock) string {
	e.t.Helper()
	for _, b := range []*mbuf.Buf{
		e.pkt("hello"),
		e.chain("ABCD", "efghij"),
		e.pkt(""),
		e.pkt("xyz"),
		e.chain("12", "", "345"),
	} {
		require.True(e.t, s.QueueRcv(b))
	}
	return "helloABCDefghijxyz12345"
}

const rxPackets = 5

// chargedTruesize sums the truesize of the packets on the receive queue.
func chargedTruesize(s *sock.Sock) int {
	n := 0
	for b := s.ReceiveQueue.Front(); b != nil; b = s.ReceiveQueue.NextOf(b) {
		n += sock.Truesize(b)
	}
	return n
}

func TestCopyFromReceiveQueue(t *testing.T) {
	ones := make([]int, 23)
	for i := range ones {
		ones[i] = 1
	}
	cases := []struct {
		name  string
		reads []int
	}{
		{"all at once", []int{23}},
		{"more than there is", []int{100}},
		{"byte by byte", ones},
		{"packet by packet", []int{5, 10, 3, 5}},
		{"across packets and segments", []int{2, 4, 5, 2, 3, 10}},
		{"inside the second segment", []int{4, 2, 7, 1, 1, 8}},
		{"sevens", []int{7, 7, 7, 7}},
		{"to the empty packet, then past it", []int{15, 8}},
		{"into an empty segment", []int{20, 1, 1, 1}},
		{"empty reads in between", []int{0, 6, 0, 17}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := sock.New()
			stream := rxStream(e, s)
			require.Equal(t, len(stream), s.ReceiveQueue.Bytes())
			var got []byte
			for i, k := range c.reads {
				rest := stream[len(got):]
				want := rest[:min(k, len(rest))]

				// Peek first: the same bytes, nothing changes.
				qlen, qbytes, rmem := s.ReceiveQueue.Len(), s.ReceiveQueue.Bytes(), s.RmemAlloc
				peek := make([]byte, k)
				n := s.CopyFromReceiveQueue(peek, true, nil)
				require.Equal(t, want, string(peek[:n]), "peek %d (%d bytes)", i, k)
				require.Equal(t, qlen, s.ReceiveQueue.Len())
				require.Equal(t, qbytes, s.ReceiveQueue.Bytes())
				require.Equal(t, rmem, s.RmemAlloc)

				// Then consume.
				p := make([]byte, k)
				n = s.CopyFromReceiveQueue(p, false, e.free)
				require.Equal(t, want, string(p[:n]), "read %d (%d bytes)", i, k)
				got = append(got, p[:n]...)

				// The queue counts exactly the unread bytes, and the
				// charge is the truesize of the packets still queued.
				require.Equal(t, len(stream)-len(got), s.ReceiveQueue.Bytes(), "read %d", i)
				require.Equal(t, chargedTruesize(s), s.RmemAlloc, "read %d", i)
				require.Equal(t, rxPackets, e.frees+s.ReceiveQueue.Len(), "read %d", i)
			}
			assert.Equal(t, stream, string(got))
			assert.True(t, s.ReceiveQueue.Empty())
			assert.Zero(t, s.RmemAlloc)
			assert.Equal(t, rxPackets, e.frees, "each packet freed once")
			assert.Zero(t, s.CopyFromReceiveQueue(make([]byte, 8), false, e.free), "nothing left")
			assert.Zero(t, e.inUse(), "every mbuf is back")
		})
	}
}

func TestCopyFromEmptyQueue(t *testing.T) {
	s := sock.New()
	p := make([]byte, 8)
	assert.Zero(t, s.CopyFromReceiveQueue(p, true, nil))
	assert.Zero(t, s.CopyFromReceiveQueue(p, false, func(*mbuf.Buf) { t.Fatal("nothing to free") }))
}

func TestPurgeQueues(t *testing.T) {
	e := newEnv(t)
	s := sock.New()
	rxStream(e, s)
	// Leave the chain read beyond its first segment.
	p := make([]byte, 11)
	require.Equal(t, 11, s.CopyFromReceiveQueue(p, false, e.free))
	require.Equal(t, "helloABCDef", string(p))
	for range 2 {
		b := e.pkt("out")
		s.ChargeW(b)
		s.WriteQueue.PushBack(b)
	}
	s.Backlog.PushBack(e.pkt("later"))

	s.PurgeQueues(e.free)
	for _, q := range []*mbuf.Queue{&s.ReceiveQueue, &s.WriteQueue, &s.Backlog} {
		assert.True(t, q.Empty())
		assert.Zero(t, q.Bytes())
	}
	assert.Zero(t, s.RmemAlloc)
	assert.Zero(t, s.WmemQueued)
	assert.Equal(t, rxPackets+3, e.frees)
	assert.Zero(t, e.inUse())

	// A purged socket reads new data from its start.
	require.True(t, s.QueueRcv(e.pkt("fresh")))
	n := s.CopyFromReceiveQueue(p, false, e.free)
	assert.Equal(t, "fresh", string(p[:n]))
	assert.Zero(t, e.inUse())
}

// ARCHITECTURE.md §5: queueing and reading allocate nothing.
func TestZeroAllocs(t *testing.T) {
	e := newEnv(t)
	s := sock.New()
	free := e.free
	p := make([]byte, 64)
	cases := []struct {
		name string
		run  func()
	}{
		{"queue and read whole", func() {
			b := e.cache.Get()
			b.Put(100)
			s.QueueRcv(b)
			s.CopyFromReceiveQueue(p, false, free)
			s.CopyFromReceiveQueue(p, false, free)
		}},
		{"queue, peek, read in parts", func() {
			for range 3 {
				b := e.cache.Get()
				b.Put(50)
				s.QueueRcv(b)
			}
			s.CopyFromReceiveQueue(p[:30], true, nil)
			for s.CopyFromReceiveQueue(p[:30], false, free) > 0 {
			}
		}},
		{"multi-segment", func() {
			b := e.cache.Get()
			b.Put(20)
			c := e.cache.Get()
			c.Put(40)
			b.Chain(c)
			s.QueueRcv(b)
			s.CopyFromReceiveQueue(p[:25], false, free)
			s.CopyFromReceiveQueue(p[:10], true, nil)
			s.CopyFromReceiveQueue(p, false, free)
		}},
		{"refused", func() {
			s.RcvBuf = 0
			s.RmemAlloc = 1
			b := e.cache.Get()
			if !s.QueueRcv(b) {
				e.cache.Free(b)
			}
			s.RmemAlloc = 0
			s.RcvBuf = sock.DefaultRcvBuf
		}},
	}
	for _, c := range cases {
		c.run() // warm up
		assert.Zero(t, testing.AllocsPerRun(100, c.run), c.name)
		assert.True(t, s.ReceiveQueue.Empty(), c.name)
		assert.Zero(t, s.RmemAlloc, c.name)
	}
	assert.Zero(t, e.inUse())
}

// TestMemAccount: sockets charge a shared account. A socket that holds
// SockMinRcvBuf or more stops at Pressure, and under pressure at its
// fair share of it; one that holds less (an mbuf) may go on up to Max; nothing goes
// past Max, not even into an empty queue. Pressure lasts until the
// account is back below Min.
func TestMemAccount(t *testing.T) {
	e := newEnv(t)
	m := &sock.Mem{Limits: sock.MemLimits{Min: 4 * ts, Pressure: 6 * ts, Max: 8 * ts}}
	newSock := func() *sock.Sock {
		s := sock.New()
		s.RcvBuf = 100 * ts
		s.Mem = m
		m.AddSocket(1)
		return s
	}
	big, small := newSock(), newSock()
	take := func(s *sock.Sock) bool {
		b := e.pkt("data")
		if s.QueueRcv(b) {
			return true
		}
		e.cache.Free(b)
		return false
	}
	for i := range 6 {
		require.True(t, take(big), "packet %d: below Pressure", i)
	}
	assert.False(t, m.UnderPressure(), "at Pressure, not past it")
	assert.False(t, take(big), "a big socket stops at Pressure")
	require.True(t, take(small), "a socket that holds less than SockMinRcvBuf gets a packet")
	assert.True(t, m.UnderPressure(), "past Pressure now")
	assert.Equal(t, uint64(1), m.Stats.Pressures.Load())
	require.True(t, take(small), "one mbuf is less than SockMinRcvBuf: another")
	assert.Equal(t, 8*ts, m.Held())
	third := newSock()
	assert.False(t, take(third), "not past Max, even into an empty queue")
	small.PurgeQueues(e.free)
	assert.True(t, m.UnderPressure(), "not yet below Min")
	require.True(t, take(third), "room below Max again")
	assert.False(t, take(big), "but not for a big socket over its share")

	for _, s := range []*sock.Sock{big, third} {
		s.PurgeQueues(e.free)
	}
	assert.Zero(t, m.Held())
	assert.False(t, m.UnderPressure(), "below Min again")
	assert.Zero(t, m.Stats.Held.Load())
	assert.Equal(t, int64(3), m.Stats.Sockets.Load())
	assert.Zero(t, e.inUse())
}
