package api_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
)

// Jumbo frames over net_tap (dpdk/tapmtu.go): MTU 9000 both ways between
// the kernel and dpstack, with the host's own pool (one mbuf holds a
// frame) and with a pool of 2 KiB mbufs (the port scatters each frame
// over several, and TCP takes the chains).

// TestJumboTap: at MTU 9000 the kernel's side of the TAP has MTU 9000
// too; an 8,000-byte ping with DF set is answered, unfragmented; 64 MiB
// go each way byte-exact; the MSS follows the MTU; and the port's
// counters show frames larger than a 1,500-byte MTU's crossed both ways.
func TestJumboTap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		small bool // a pool of default 2 KiB mbufs: scattered receive
	}{{"whole frames", false}, {"scattered", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := stack.Config{MTU: 9000}
			if tc.small {
				cfg.Pool = dpdktest.Pool(t, 8191)
			}
			p := newPeerWith(t, cfg)
			if tc.small {
				assert.Equal(t, mbuf.DefaultDataRoom, p.h.Pool().DataRoom())
			}
			jumboTap(t, p, !tc.small)
		})
	}
}

// jumboTap is TestJumboTap's checks on p; bigTx: the host's mbufs hold a
// jumbo frame, so it sends them too (with 2 KiB mbufs a segment is one
// mbuf's worth: tcp's txRoom).
func jumboTap(t *testing.T, p *peer, bigTx bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out, err := p.ns.Output(ctx, "ip", "link", "show", p.iface)
	require.NoError(t, err, out)
	assert.Contains(t, out, " mtu 9000 ", "the kernel side's MTU")

	ip0 := p.h.Stacks()[0].IPv4().Stats()
	out, err = p.ns.Output(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "5", "-M", "do", "-s", "8000", hostAddr.Addr().String())
	require.NoError(t, err, out)
	assert.Contains(t, out, "3 received")
	assert.Contains(t, out, "8008 bytes from", "the whole reply in one packet")
	assert.Zero(t, ip0.ReasmReqds.Load()+ip0.FragCreates.Load(), "nothing fragmented")

	mss := make(chan int, 1)
	ln := listen(t, p.h, ":5003")
	serve(t, ln, func(c net.Conn) error {
		info, err := c.(*api.TCPConn).Info()
		mss <- info.MSS
		return err
	})
	require.NoError(t, p.ns.Exec(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+hostAddr.Addr().String()+"/5003; sleep 0.2"))
	// 9000 less the IP and TCP headers and the timestamp option.
	assert.Equal(t, 9000-40-12, <-mss, "the MSS follows the MTU")

	before, err := p.h.Port().Stats()
	require.NoError(t, err)
	transfer64MiB(t, p)
	after, err := p.h.Port().Stats()
	require.NoError(t, err)
	rx := float64(after.RxBytes-before.RxBytes) / float64(after.RxPackets-before.RxPackets)
	tx := float64(after.TxBytes-before.TxBytes) / float64(after.TxPackets-before.TxPackets)
	t.Logf("mean frame: rx %.0f bytes, tx %.0f bytes", rx, tx)
	assert.Greater(t, rx, 1514.0, "jumbo frames received (a mean no smaller frames reach)")
	if bigTx {
		assert.Greater(t, tx, 1514.0, "jumbo frames sent")
	}
}
