package tcp_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stat"
)

// TestMbufExhaustion: a sender whose pool runs dry degrades (its write
// queue stops growing, transmissions that find no mbuf are counted) and
// recovers as the peer frees what it received: 2 MiB still arrive
// byte-exact, and every mbuf is back at the end (the pair's cleanup
// checks both pools). Running out of mbufs degrades and recovers; the
// stack never wedges (ARCHITECTURE.md §5).
func TestMbufExhaustion(t *testing.T) {
	p := newPairPool(t, 127)
	c := p.connect(4400)
	data := pattern(2<<20, 11)
	out := make([]byte, 0, len(data))
	buf := make([]byte, 65536)
	rest, idle, stalls := data, 0, 0
	for len(out) < len(data) {
		require.Less(t, stalls, 1000, "wedged after %d of %d bytes", len(out), len(data))
		if len(rest) > 0 {
			n, err := c.cl.SendMsg(rest, 0)
			if err != syscall.EAGAIN {
				require.NoError(t, err)
				rest = rest[n:]
			}
		}
		p.Pump(1)
		k, err := c.sv.RecvMsg(buf, 0)
		if err == syscall.EAGAIN {
			// Nothing moved: what could not be sent for want of an
			// mbuf goes out when a timer retries (the clock is
			// manual).
			if idle++; idle == 8 {
				idle = 0
				stalls++
				p.Advance(10 * time.Millisecond)
			}
			continue
		}
		require.NoError(t, err)
		idle = 0
		out = append(out, buf[:k]...)
	}
	assert.Equal(t, data, out)
	drops := &p.A.Stacks()[0].Device().Drops
	assert.Positive(t, p.ta().Stats().NoMbuf.Load(), "transmissions without an mbuf are counted")
	assert.Positive(t, drops.Get(stat.DropNoMbuf), "as drops for want of an mbuf")
}
