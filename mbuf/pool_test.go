package mbuf_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
)

func TestNewPoolErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  mbuf.PoolConfig
		want syscall.Errno
	}{
		{"zero size", mbuf.PoolConfig{Size: 0}, syscall.EINVAL},
		{"negative size", mbuf.PoolConfig{Size: -1}, syscall.EINVAL},
		{"data room below headroom", mbuf.PoolConfig{Size: 15, DataRoom: mbuf.DefaultHeadroom - 1}, syscall.EINVAL},
		{"data room only headroom", mbuf.PoolConfig{Size: 15, DataRoom: mbuf.DefaultHeadroom}, syscall.EINVAL},
		{"data room over 64 KiB", mbuf.PoolConfig{Size: 15, DataRoom: 65536}, syscall.EINVAL},
		{"negative cache", mbuf.PoolConfig{Size: 15, CacheSize: -1}, syscall.EINVAL},
		{"cache over DPDK's maximum", mbuf.PoolConfig{Size: 4095, CacheSize: 513}, syscall.EINVAL},
		{"cache too big for the pool", mbuf.PoolConfig{Size: 15, CacheSize: 64}, syscall.EINVAL},
		{"name too long", mbuf.PoolConfig{Size: 15, Name: strings.Repeat("n", 64)}, syscall.ENAMETOOLONG},
		{"unknown mempool handler", mbuf.PoolConfig{Size: 15, Ops: "no_such_handler"}, syscall.EINVAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Socket = -1
			if cfg.Name == "" {
				cfg.Name = "bad"
			}
			p, err := mbuf.NewPool(cfg)
			if p != nil {
				p.Close()
			}
			require.Error(t, err)
			assert.Nil(t, p)
			assert.True(t, errors.Is(err, tt.want), "%v is not %v", err, tt.want)
		})
	}
}

func TestNewPoolDuplicateName(t *testing.T) {
	p, err := mbuf.NewPool(mbuf.PoolConfig{Name: "dup", Size: 15, Socket: -1})
	require.NoError(t, err)
	defer p.Close()
	q, err := mbuf.NewPool(mbuf.PoolConfig{Name: "dup", Size: 15, Socket: -1})
	assert.Nil(t, q)
	assert.True(t, errors.Is(err, syscall.EEXIST), "%v", err)
}

// TestPoolPageObjects checks the layout an AF_XDP UMEM needs: every
// mbuf exactly one page, page-aligned, in one chunk, so that n mbufs span
// exactly n pages, which is all the UMEM that net_af_xdp registers. The
// mbufs with the default layout need not: DPDK keeps each from crossing a
// page, which without hugepages leaves a 2.4 KB mbuf a page of its own.
func TestPoolPageObjects(t *testing.T) {
	const n = 1023
	page := os.Getpagesize()
	p, err := mbuf.NewPool(mbuf.PoolConfig{Name: "paged", Size: n, Socket: -1, PageObjects: true, DataRoom: 9000})
	require.NoError(t, err)
	defer p.Close()
	assert.Equal(t, page, p.ObjectSize())
	assert.Equal(t, 1, p.Chunks())
	assert.Greater(t, p.DataRoom(), mbuf.DefaultDataRoom, "the data room fills the page, whatever DataRoom says")

	bufs := make([]*mbuf.Buf, n)
	require.True(t, p.AllocBulk(bufs))
	defer mbuf.FreeBulk(bufs)
	addrs := make([]uintptr, n)
	for i, b := range bufs {
		addrs[i] = uintptr(unsafe.Pointer(b))
		assert.Equal(t, p.DataRoom()-mbuf.DefaultHeadroom, b.Tailroom())
	}
	slices.Sort(addrs)
	for i, a := range addrs {
		require.Equal(t, addrs[0]%uintptr(page), a%uintptr(page), "mbuf %d is not at the same place in its page", i)
		if i > 0 {
			require.Equal(t, uintptr(page), a-addrs[i-1], "mbufs %d and %d are not a page apart", i-1, i)
		}
	}
}

// TestPoolAccounting runs on each mempool handler a pool may choose.
func TestPoolAccounting(t *testing.T) {
	for _, ops := range []string{"", mbuf.OpsLockFree, "ring_mt_rts"} {
		t.Run("ops="+ops, func(t *testing.T) {
			p, err := mbuf.NewPool(mbuf.PoolConfig{Name: "acct_" + ops, Size: 63, Socket: -1, Ops: ops})
			require.NoError(t, err)
			defer p.Close()
			if ops != "" {
				assert.Equal(t, ops, p.Ops())
			} else {
				assert.NotEmpty(t, p.Ops())
			}
			testPoolAccounting(t, p)
		})
	}
}

func testPoolAccounting(t *testing.T, p *mbuf.Pool) {
	const size = 63
	assert.Equal(t, size, p.Size())
	assert.NotEmpty(t, p.Name())
	assert.NotNil(t, p.Ptr())
	assert.Equal(t, 0, p.InUse())
	assert.Equal(t, size, p.Available())

	one := alloc(t, p)
	assert.Equal(t, 1, p.InUse())
	assert.Equal(t, size-1, p.Available())

	bulk := make([]*mbuf.Buf, 10)
	require.True(t, p.AllocBulk(bulk))
	for _, b := range bulk {
		require.NotNil(t, b)
		assert.Equal(t, mbuf.DefaultHeadroom, b.Headroom())
		assert.Equal(t, 0, b.Len())
	}
	assert.Equal(t, 11, p.InUse())
	assert.Equal(t, size-11, p.Available())

	// All or nothing: a bulk the pool cannot fill takes none.
	tooMany := make([]*mbuf.Buf, size-10)
	assert.False(t, p.AllocBulk(tooMany))
	assert.Equal(t, 11, p.InUse())
	assert.Equal(t, make([]*mbuf.Buf, size-10), tooMany)
	assert.True(t, p.AllocBulk(nil))

	mbuf.FreeBulk(bulk)
	mbuf.FreeBulk(nil)
	assert.Equal(t, 1, p.InUse())
	one.Free()
	assert.Equal(t, 0, p.InUse())
	assert.Equal(t, size, p.Available())

	// Exhaust it; Alloc returns nil, and recovers after a free.
	all := make([]*mbuf.Buf, size)
	require.True(t, p.AllocBulk(all))
	assert.Equal(t, 0, p.Available())
	assert.Nil(t, p.Alloc())
	all[0].Free()
	all[0] = p.Alloc()
	require.NotNil(t, all[0])
	mbuf.FreeBulk(all)
	assert.Equal(t, 0, p.InUse())
}

func TestPoolDataRoom(t *testing.T) {
	const room = mbuf.DefaultHeadroom + 256
	p, err := mbuf.NewPool(mbuf.PoolConfig{Name: "room", Size: 7, DataRoom: room, Socket: -1})
	require.NoError(t, err)
	defer p.Close()
	b := p.Alloc()
	require.NotNil(t, b)
	assert.Equal(t, 256, b.Tailroom())
	assert.NotNil(t, b.Put(256))
	assert.Nil(t, b.Put(1))
	b.Free()
	assert.Equal(t, 0, p.InUse())
}
