package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunJumbo: "dpstack run --mtu 9000" on net_tap gives the TAP's kernel
// side MTU 9000 too; from its namespace an 8,000-byte ping with DF set is
// answered in one packet each way, and 64 MiB go through the echo service
// and back byte-exact; the port's counters show that the frames were
// jumbo frames both ways; and dpstack exits 0 (every mbuf back).
func TestRunJumbo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	r := startRun(t, ctx, "xjumbo", "198.18.26", "--mtu", "9000")
	out, err := r.ns.Output(ctx, "ip", "link", "show", r.iface)
	require.NoError(t, err, out)
	assert.Contains(t, out, " mtu 9000 ")

	out, err = r.ns.Output(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "5", "-M", "do", "-s", "8000", "198.18.26.2")
	require.NoError(t, err, out)
	assert.Contains(t, out, "3 received")
	assert.Contains(t, out, "8008 bytes from")

	echoBytes(t, ctx, r.ns, "198.18.26.2", 64<<20)
	body := r.metrics(t)
	for _, dir := range []string{"rx", "tx"} {
		labels := `{dir="` + dir + `",port="net_tap0"}`
		bytes := metricValue(body, "dpstack_port_bytes_total"+labels)
		pkts := metricValue(body, "dpstack_port_packets_total"+labels)
		require.Positive(t, pkts)
		t.Logf("%s: %.0f frames, %.0f bytes a frame", dir, pkts, bytes/pkts)
		assert.Greater(t, bytes/pkts, 1514.0, "%s: jumbo frames (a mean no smaller frames reach)", dir)
	}
	assert.Equal(t, 0.0, metricValue(body, `dpstack_drops_total{core="0",port="net_tap0",reason="tcp_split_header"}`))
	r.stop(t)
}
