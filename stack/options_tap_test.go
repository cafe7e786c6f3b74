package stack_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKernelPingOptions: the kernel's ping with Record Route and with
// Timestamp (RFC 791 §3.1) gets replies in which dpstack recorded its
// address and stamped its time, on the request's way in and the reply's
// way out, as a Linux host answers (RFC 1122 §3.2.2.6).
func TestKernelPingOptions(t *testing.T) {
	h, ns, _ := kernelPeer(t, "opts", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target := tapAddr.Addr().String()
	peer := peerAddr.Addr().String()

	t.Run("ping -R", func(t *testing.T) {
		out, err := ns.Output(ctx, "ping", "-c", "1", "-W", "2", "-R", target)
		require.NoError(t, err, out)
		require.Contains(t, out, "1 received")
		assert.Equal(t, []string{peer, target, target, peer}, optionLines(out, "RR:"), out)
	})
	t.Run("ping -T tsonly", func(t *testing.T) {
		out, err := ns.Output(ctx, "ping", "-c", "1", "-W", "2", "-T", "tsonly", target)
		require.NoError(t, err, out)
		require.Contains(t, out, "1 received")
		// The kernel's stamp as the request leaves ("N absolute"), then
		// dpstack's two and the kernel's last, each as the difference
		// from the one before in ms: dpstack's clock is the wall clock.
		ts := optionLines(out, "TS:")
		require.Len(t, ts, 4, out)
		for _, d := range ts[1:3] {
			ms, err := strconv.Atoi(d)
			require.NoError(t, err, out)
			assert.Less(t, abs(ms), 60_000, "dpstack's timestamp is within a minute of the kernel's:\n%s", out)
		}
	})
	st := h.Stacks()[0].IPv4().Stats()
	assert.Equal(t, uint64(1), st.InRecordRoutes.Load())
	assert.Equal(t, uint64(1), st.InTimestamps.Load())
	assert.Equal(t, uint64(2), st.OutOptions.Load())
}

// optionLines returns the entries ping prints after tag: the rest of the
// tag's line and each tab-indented line after it.
func optionLines(out, tag string) []string {
	_, rest, ok := strings.Cut(out, tag)
	if !ok {
		return nil
	}
	var entries []string
	for i, line := range strings.Split(rest, "\n") {
		if i > 0 && !strings.HasPrefix(line, "\t") {
			break
		}
		entries = append(entries, strings.TrimSuffix(strings.TrimSpace(line), " absolute"))
	}
	return entries
}

func abs(v int) int { return max(v, -v) }
