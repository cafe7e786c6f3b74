package sock_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "sock", dpdk.EALConfig{}) }

// env is a fresh pool and cache for tests that queue real mbufs; frees
// counts the mbufs handed to free.
type env struct {
	t     testing.TB
	pool  *mbuf.Pool
	cache *mbuf.Cache
	frees int
	free  func(*mbuf.Buf)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	pool := dpdktest.Pool(t, 255)
	e := &env{t: t, pool: pool, cache: mbuf.NewCache(pool)}
	// Registered after the pool's leak check, so it runs before it.
	t.Cleanup(e.cache.Drain)
	e.free = func(b *mbuf.Buf) {
		e.frees++
		e.cache.Free(b)
	}
	return e
}

// pkt returns a fresh single-segment mbuf holding data.
func (e *env) pkt(data string) *mbuf.Buf {
	e.t.Helper()
	b := e.cache.Get()
	require.NotNil(e.t, b)
	p := b.Put(len(data))
	require.NotNil(e.t, p)
	copy(p, data)
	return b
}

// chain returns a multi-segment mbuf whose segments hold segs.
func (e *env) chain(segs ...string) *mbuf.Buf {
	e.t.Helper()
	head := e.pkt(segs[0])
	for _, s := range segs[1:] {
		require.True(e.t, head.Chain(e.pkt(s)))
	}
	return head
}

// inUse is the number of mbufs out of the pool once the cache is drained.
func (e *env) inUse() int {
	e.cache.Drain()
	return e.pool.InUse()
}
