package mbuf_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "mbuf", dpdk.EALConfig{}) }

// dataRoom is buf_len of an mbuf from a default pool.
const dataRoom = mbuf.DefaultDataRoom

// alloc takes one mbuf from p; the caller frees it.
func alloc(t testing.TB, p *mbuf.Pool) *mbuf.Buf {
	t.Helper()
	b := p.Alloc()
	require.NotNil(t, b, "pool %s exhausted", p.Name())
	return b
}

// fill appends n bytes 'base', 'base'+1, ... to b and returns them.
func fill(t testing.TB, b *mbuf.Buf, n int, base byte) []byte {
	t.Helper()
	d := b.Put(n)
	require.NotNil(t, d, "Put(%d)", n)
	for i := range d {
		d[i] = base + byte(i)
	}
	return d
}

// addr is the address of the first byte of s (valid for empty slices too).
func addr(s []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(s))) }

// bufAddr is buf_addr, recovered as the data start minus the data offset.
func bufAddr(b *mbuf.Buf) uintptr { return addr(b.Bytes()) - uintptr(b.Headroom()) }

func TestAllocFresh(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	b := alloc(t, p)
	defer b.Free()

	assert.Equal(t, mbuf.DefaultHeadroom, b.Headroom())
	assert.Equal(t, 0, b.Len())
	assert.Equal(t, 0, b.SegLen())
	assert.Empty(t, b.Bytes())
	assert.Equal(t, dataRoom-mbuf.DefaultHeadroom, b.Tailroom())
	assert.Equal(t, 1, b.Segments())
	assert.Nil(t, b.Next())
	assert.Equal(t, 1, b.RefCount())
	assert.Equal(t, uint64(0), b.OlFlags())
	assert.Equal(t, 1, p.InUse())
}

// TestHeadroomIsDataOffset: Push moves the data start down over the same
// memory, Pull moves it back up; buf_addr never moves.
func TestHeadroomIsDataOffset(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	b := alloc(t, p)
	defer b.Free()
	base := bufAddr(b)

	payload := fill(t, b, 10, 'a')
	before := b.Bytes()
	require.Equal(t, addr(payload), addr(before))
	require.Equal(t, base+uintptr(mbuf.DefaultHeadroom), addr(before))

	hdr := b.Push(4)
	require.Len(t, hdr, 14)
	assert.Equal(t, addr(before)-4, addr(hdr), "Push(4) starts 4 bytes earlier")
	assert.Equal(t, mbuf.DefaultHeadroom-4, b.Headroom())
	assert.Equal(t, base, bufAddr(b))
	assert.Equal(t, before, hdr[4:], "the old data follows the new header")
	copy(hdr, "HDR!")
	assert.Equal(t, []byte("HDR!abcdefghij"), b.Bytes(), "writes through Push's slice are the packet")

	rest := b.Pull(4)
	assert.Equal(t, addr(before), addr(rest))
	assert.Equal(t, mbuf.DefaultHeadroom, b.Headroom())
	assert.Equal(t, []byte("abcdefghij"), rest)
	assert.Equal(t, base, bufAddr(b))

	// The header bytes are still in the headroom: pushing again finds them.
	assert.Equal(t, []byte("HDR!"), b.Push(4)[:4])

	// Writes through Bytes land where Pull's view sees them.
	b.Bytes()[5] = 'X'
	assert.Equal(t, byte('X'), b.Pull(4)[1])
}

func TestPutTrimPullViews(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	b := alloc(t, p)
	defer b.Free()

	first := fill(t, b, 6, '0')
	second := b.Put(3)
	require.Len(t, second, 3)
	assert.Equal(t, addr(first)+6, addr(second), "Put returns the new tail")
	copy(second, "xyz")
	assert.Equal(t, []byte("012345xyz"), b.Bytes())

	rest := b.Pull(2)
	assert.Equal(t, addr(first)+2, addr(rest))
	assert.Equal(t, []byte("2345xyz"), rest)

	require.True(t, b.Trim(4))
	assert.Equal(t, []byte("2345"), b.Bytes())
	assert.Equal(t, 4, b.Len())
}

// TestBufOps drives each length operation from a fresh mbuf (with prep
// applied) and checks the result and the accounting; a refused operation
// changes nothing.
func TestBufOps(t *testing.T) {
	const (
		h  = mbuf.DefaultHeadroom
		tr = dataRoom - mbuf.DefaultHeadroom // tailroom of a fresh mbuf
	)
	put := func(n int) func(*mbuf.Buf) bool { return func(b *mbuf.Buf) bool { return b.Put(n) != nil } }
	push := func(n int) func(*mbuf.Buf) bool { return func(b *mbuf.Buf) bool { return b.Push(n) != nil } }
	pull := func(n int) func(*mbuf.Buf) bool { return func(b *mbuf.Buf) bool { return b.Pull(n) != nil } }
	trim := func(n int) func(*mbuf.Buf) bool { return func(b *mbuf.Buf) bool { return b.Trim(n) } }
	reserve := func(n int) func(*mbuf.Buf) bool { return func(b *mbuf.Buf) bool { return b.Reserve(n) } }

	tests := []struct {
		name     string
		prep     func(*mbuf.Buf) bool // nil: a fresh mbuf
		op       func(*mbuf.Buf) bool
		ok       bool
		headroom int // after op
		length   int // after op
	}{
		{"push 14", nil, push(14), true, h - 14, 14},
		{"push 0", nil, push(0), true, h, 0},
		{"push all headroom", nil, push(h), true, 0, h},
		{"push past headroom", nil, push(h + 1), false, h, 0},
		{"push negative", nil, push(-1), false, h, 0},
		{"push after reserve", reserve(64), push(h + 64), true, 0, h + 64},

		{"pull 40 of 100", put(100), pull(40), true, h + 40, 60},
		{"pull all", put(100), pull(100), true, h + 100, 0},
		{"pull 0", put(100), pull(0), true, h, 100},
		{"pull past data", put(100), pull(101), false, h, 100},
		{"pull negative", put(100), pull(-1), false, h, 100},
		{"pull empty", nil, pull(1), false, h, 0},

		{"put 100", nil, put(100), true, h, 100},
		{"put 0", nil, put(0), true, h, 0},
		{"put all tailroom", nil, put(tr), true, h, tr},
		{"put past tailroom", nil, put(tr + 1), false, h, 0},
		{"put past tailroom after put", put(tr - 10), put(11), false, h, tr - 10},
		{"put negative", nil, put(-1), false, h, 0},

		{"trim 100 to 50", put(100), trim(50), true, h, 50},
		{"trim to same", put(100), trim(100), true, h, 100},
		{"trim to 0", put(100), trim(0), true, h, 0},
		{"trim longer", put(100), trim(101), false, h, 100},
		{"trim negative", put(100), trim(-1), false, h, 100},

		{"reserve 64", nil, reserve(64), true, h + 64, 0},
		{"reserve 0", nil, reserve(0), true, h, 0},
		{"reserve all tailroom", nil, reserve(tr), true, h + tr, 0},
		{"reserve past tailroom", nil, reserve(tr + 1), false, h, 0},
		{"reserve negative", nil, reserve(-1), false, h, 0},
		{"reserve non-empty", put(1), reserve(8), false, h, 1},
		{"reserve after pull all", func(b *mbuf.Buf) bool { return put(10)(b) && pull(10)(b) }, reserve(8), true, h + 18, 0},
	}
	p := dpdktest.Pool(t, 15)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := alloc(t, p)
			defer b.Free()
			base := bufAddr(b)
			if tt.prep != nil {
				require.True(t, tt.prep(b), "prep")
			}
			assert.Equal(t, tt.ok, tt.op(b))
			assert.Equal(t, tt.headroom, b.Headroom(), "Headroom")
			assert.Equal(t, tt.length, b.Len(), "Len")
			assert.Equal(t, tt.length, b.SegLen(), "SegLen")
			assert.Len(t, b.Bytes(), tt.length)
			assert.Equal(t, dataRoom-tt.headroom-tt.length, b.Tailroom(), "Tailroom")
			assert.Equal(t, base, bufAddr(b), "buf_addr")
		})
	}
}

func TestCB(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	a, b := alloc(t, p), alloc(t, p)
	defer a.Free()
	defer b.Free()

	require.Len(t, a.CB(), 48)
	assert.Equal(t, 48, mbuf.CBSize)
	assert.Equal(t, uintptr(mbuf.CBSize), unsafe.Sizeof(*a.CB()))
	assert.NotEqual(t, uintptr(unsafe.Pointer(a.CB())), uintptr(unsafe.Pointer(b.CB())))
	assert.Same(t, a.CB(), a.CB(), "the same mbuf has one control block")

	// The control block is not in the data room.
	cb := uintptr(unsafe.Pointer(a.CB()))
	start := bufAddr(a)
	assert.True(t, cb+mbuf.CBSize <= start || cb >= start+dataRoom, "CB overlaps the data room")

	*a.CB() = [mbuf.CBSize]byte{}
	*b.CB() = [mbuf.CBSize]byte{}
	data := fill(t, a, 64, 0)
	for i := range a.CB() {
		a.CB()[i] = 0xa0 + byte(i)
	}
	assert.Equal(t, [mbuf.CBSize]byte{}, *b.CB(), "writing a's CB changed b's")
	for i, v := range data {
		require.Equal(t, byte(i), v, "writing the CB changed the data")
	}

	// The control block survives queueing (the links are elsewhere).
	want := *a.CB()
	var q mbuf.Queue
	q.PushBack(b)
	q.PushBack(a)
	q.PushFront(alloc(t, p))
	q.Unlink(b)
	assert.Equal(t, want, *a.CB())
	got := q.PopFront()
	got.Free()
	assert.Same(t, a, q.PopFront())
	assert.Equal(t, want, *a.CB())
	assert.True(t, q.Empty())
}

func TestOffloadFields(t *testing.T) {
	p := dpdktest.Pool(t, 15)
	b := alloc(t, p)
	defer b.Free()

	_, ok := b.RSSHash()
	assert.False(t, ok, "no RSS hash on a fresh mbuf")
	b.SetOlFlags(mbuf.RxRSSHash | mbuf.RxIPCksumGood)
	assert.Equal(t, mbuf.RxRSSHash|mbuf.RxIPCksumGood, b.OlFlags())
	_, ok = b.RSSHash()
	assert.True(t, ok)

	b.SetOlFlags(0)
	b.SetTxOffload(14, 20, 20, mbuf.TxIPv4|mbuf.TxIPCksum|mbuf.TxTCPCksum)
	assert.Equal(t, mbuf.TxIPv4|mbuf.TxIPCksum|mbuf.TxTCPCksum, b.OlFlags())
	b.SetTxOffload(14, 20, 8, mbuf.TxUDPCksum)
	assert.Equal(t, mbuf.TxIPv4|mbuf.TxIPCksum|mbuf.TxTCPCksum|mbuf.TxUDPCksum, b.OlFlags(), "flags are added")
}
