package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/internal/sockperf"
)

// TestRunSockperf runs the real sockperf client (Debian's sockperf 3.7)
// from the kernel's namespace against "dpstack run": ping-pong over UDP,
// over TCP and to a multicast group the server joined (--join) must come
// back with every message answered, under-load with its sampled replies,
// throughput with none. Malformed messages are dropped and counted (a TCP
// one resets its connection), and the command still exits clean.
func TestRunSockperf(t *testing.T) {
	if _, err := exec.LookPath("sockperf"); err != nil {
		t.Skip("no sockperf (make setup installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := startRun(t, ctx, "sockperf", "198.18.12", "--sockperf", "11111", "--join", "239.18.12.100")
	out, err := r.ns.Output(ctx, "ping", "-c", "1", "-W", "2", "198.18.12.2")
	require.NoError(t, err, out)

	client := func(args ...string) sockperf.Summary {
		t.Helper()
		args = append(append([]string{"20", "sockperf"}, args...), "-i", "198.18.12.2", "-p", "11111", "-t", "1")
		out, err := r.ns.Output(ctx, "timeout", args...)
		require.NoError(t, err, out)
		s, err := sockperf.Parse(out)
		require.NoError(t, err)
		return s
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ping-pong/udp", []string{"ping-pong"}},
		{"ping-pong/tcp", []string{"ping-pong", "--tcp"}},
		{"under-load/udp", []string{"under-load", "--mps", "2000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := client(tc.args...)
			assert.True(t, s.HasLatency, "%+v", s)
			assert.Positive(t, s.Received, "replies came back: %+v", s)
			if tc.args[0] == "ping-pong" {
				// All but the one in flight when the time ran out.
				assert.LessOrEqual(t, s.Sent-s.Received, 1, "every message answered: %+v", s)
			} else {
				assert.Less(t, s.Received, s.Sent, "under-load asks for a sample of replies only")
			}
			assert.Positive(t, s.P50)
			assert.LessOrEqual(t, s.P50, s.P99)
			assert.LessOrEqual(t, s.P99, s.P999)
		})
	}
	t.Run("ping-pong/multicast", func(t *testing.T) {
		// To the group the server joined (--join), from the namespace's
		// address on the link; the replies come back unicast.
		out, err := r.ns.Output(ctx, "timeout", "20", "sockperf", "ping-pong", "-i", "239.18.12.100", "-p", "11111",
			"--mc-tx-if", "198.18.12.1", "--mc-rx-if", "198.18.12.1", "-t", "1")
		require.NoError(t, err, out)
		s, err := sockperf.Parse(out)
		require.NoError(t, err)
		assert.Positive(t, s.Received, "replies came back: %+v", s)
		assert.LessOrEqual(t, s.Sent-s.Received, 1, "every message answered: %+v", s)
	})
	t.Run("throughput/tcp", func(t *testing.T) {
		s := client("throughput", "--tcp")
		assert.True(t, s.HasRate, "%+v", s)
		assert.Positive(t, s.Sent)
	})

	// TCP framing: a message that asks for no reply, then one that does
	// with its header split across two segments; only the second comes
	// back, with the client flag cleared.
	out, err = r.ns.Output(ctx, "bash", "-c", `
exec 3<>/dev/tcp/198.18.12.2/11111
printf '\0\0\0\0\0\0\0\1\0\1\0\0\0\x10xy\0\0\0\0\0' >&3; sleep 0.05
printf '\0\0\2\0\3\0\0\0\x10ab' >&3
timeout 10 head -c 16 <&3 | od -An -tx1`)
	require.NoError(t, err, out)
	assert.Equal(t, "00 00 00 00 00 00 00 02 00 02 00 00 00 10 61 62", strings.TrimSpace(out))

	// Malformed: a datagram shorter than the header, one whose length
	// disagrees with its size, and a TCP header with a length below 14
	// (the connection is reset).
	out, err = r.ns.Output(ctx, "bash", "-c", `
printf 'short' >/dev/udp/198.18.12.2/11111
printf '\0\0\0\0\0\0\0\1\0\3\0\0\0\x40' >/dev/udp/198.18.12.2/11111
exec 3<>/dev/tcp/198.18.12.2/11111
printf '\0\0\0\0\0\0\0\1\0\3\0\0\0\1' >&3
timeout 10 cat <&3 2>/dev/null || true`)
	require.NoError(t, err, out)
	assert.Empty(t, out, "no reply to a malformed message")
	require.Eventually(t, func() bool {
		return strings.Contains(r.metrics(t), "dpstack_sockperf_malformed_total 3\n")
	}, 10*time.Second, 50*time.Millisecond, "malformed messages counted")

	r.stop(t)
}
