package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCapture captures a ping and a curl from a running stack, reads the
// file back with tcpdump -r (packets, directions, timestamps), and a
// second capture with a filter.
func TestCapture(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := startRun(t, ctx, "capture", "198.18.14")
	u, err := url.Parse(r.metricsURL)
	require.NoError(t, err)
	dir := t.TempDir()
	capture := func(file string, args ...string) *exec.Cmd {
		cmd := dpstack(ctx, append([]string{"capture", "--metrics", u.Host, "-w", filepath.Join(dir, file)}, args...)...)
		require.NoError(t, cmd.Start())
		time.Sleep(300 * time.Millisecond) // the taps go in
		return cmd
	}

	start := time.Now()
	all := capture("all.pcapng", "--duration", "2s")
	out, err := r.ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "198.18.14.2")
	require.NoError(t, err, out)
	out, err = r.ns.Output(ctx, "curl", "-sS", "--max-time", "5", "-o", "/dev/null", "http://198.18.14.2:8080/")
	require.NoError(t, err, out)
	require.NoError(t, all.Wait())

	read := func(file string, args ...string) []string {
		out, err := exec.Command("tcpdump", append([]string{"-nn", "-tt", "-r", filepath.Join(dir, file)}, args...)...).Output()
		require.NoError(t, err)
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	lines := read("all.pcapng")
	var requests, replies, syns, synacks int
	for _, l := range lines {
		switch {
		case strings.Contains(l, "198.18.14.1 > 198.18.14.2: ICMP echo request"):
			requests++
		case strings.Contains(l, "198.18.14.2 > 198.18.14.1: ICMP echo reply"):
			replies++
		case strings.Contains(l, "> 198.18.14.2.8080: Flags [S]"):
			syns++
		case strings.Contains(l, "198.18.14.2.8080 >") && strings.Contains(l, "Flags [S.]"):
			synacks++
		}
		var sec, frac int64
		_, err := fmt.Sscanf(l, "%d.%d", &sec, &frac)
		require.NoError(t, err, l)
		ts := time.Unix(sec, frac*1000)
		assert.WithinRange(t, ts, start.Add(-time.Second), time.Now(), "timestamp of %q", l)
	}
	assert.Equal(t, 2, requests, "%s", strings.Join(lines, "\n"))
	assert.Equal(t, 2, replies)
	assert.Equal(t, 1, syns)
	assert.Equal(t, 1, synacks)
	// Direction: each packet's epb_flags (tcpdump -r does not filter on
	// it) against its IPv4 source.
	b, err := os.ReadFile(filepath.Join(dir, "all.pcapng"))
	require.NoError(t, err)
	var inbound, outbound int
	for len(b) >= 12 {
		typ, n := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
		require.True(t, n >= 12 && int(n) <= len(b), "a whole block")
		if typ == pcapngEPB {
			capLen := binary.LittleEndian.Uint32(b[20:])
			pkt := b[28 : 28+capLen]
			opts := b[28+(capLen+3)&^3:]
			require.Equal(t, uint16(2), binary.LittleEndian.Uint16(opts), "epb_flags first")
			flags := binary.LittleEndian.Uint32(opts[4:]) & 3
			if binary.BigEndian.Uint16(pkt[12:]) == 0x0800 {
				fromUs := pkt[14+15] == 2 // 198.18.14.2
				assert.Equal(t, map[bool]uint32{true: 2, false: 1}[fromUs], flags, "direction of a packet from .%d", pkt[14+15])
			}
			if flags == 1 {
				inbound++
			} else {
				outbound++
			}
		}
		b = b[n:]
	}
	assert.Equal(t, len(lines), inbound+outbound)
	assert.Positive(t, inbound)
	assert.Positive(t, outbound)

	icmp := capture("icmp.pcapng", "-c", "2", "icmp")
	out, err = r.ns.Output(ctx, "curl", "-sS", "--max-time", "5", "-o", "/dev/null", "http://198.18.14.2:8080/")
	require.NoError(t, err, out)
	out, err = r.ns.Output(ctx, "ping", "-c", "1", "198.18.14.2")
	require.NoError(t, err, out)
	require.NoError(t, icmp.Wait())
	lines = read("icmp.pcapng")
	require.Len(t, lines, 2, "the filter keeps the echo and its reply only")
	for _, l := range lines {
		assert.Contains(t, l, "ICMP echo")
	}
	fi, err := os.Stat(filepath.Join(dir, "icmp.pcapng"))
	require.NoError(t, err)
	assert.Positive(t, fi.Size())
	r.stop(t)
}
