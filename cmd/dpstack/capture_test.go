package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
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

// TestCaptureUnderLoad: a capture whose reader has stopped reading fills
// its ring; the stack then drops what it has no room for and counts it,
// and the traffic it carries goes on: 64 MiB into the discard service
// arrive while the capture is stuck, and the file written afterwards is
// whole, its drop count in the Interface Statistics as tcpdump reads it.
func TestCaptureUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := startRun(t, ctx, "kload", "198.18.15")
	u, err := url.Parse(r.metricsURL)
	require.NoError(t, err)
	const size = 64 << 20
	load := func() time.Duration {
		start := time.Now()
		out, err := r.ns.Output(ctx, "bash", "-c", fmt.Sprintf("head -c %d /dev/zero > /dev/tcp/198.18.15.2/9", size))
		require.NoError(t, err, out)
		return time.Since(start)
	}
	alone := load()

	// The capture's stdout is a pipe nobody reads until the load is over.
	capture := dpstack(ctx, "capture", "--metrics", u.Host, "-w", "-", "--duration", "4s", "tcp port 9")
	stdout, err := capture.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	capture.Stderr = &stderr
	require.NoError(t, capture.Start())
	time.Sleep(300 * time.Millisecond) // the taps go in
	captured := load()
	t.Logf("64 MiB into discard: %v alone, %v with the stuck capture", alone, captured)

	file := filepath.Join(t.TempDir(), "load.pcapng")
	f, err := os.Create(file)
	require.NoError(t, err)
	_, err = io.Copy(f, stdout)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, capture.Wait(), stderr.String())
	var n, dropped int
	_, err = fmt.Sscanf(stderr.String()[strings.Index(stderr.String(), "\n")+1:],
		"%d packets captured\n%d packets dropped by the capture", &n, &dropped)
	require.NoError(t, err, stderr.String())
	assert.Positive(t, n)
	assert.Positive(t, dropped, "the ring filled while nobody read")
	out, err := exec.Command("tcpdump", "-nn", "-r", file).Output()
	require.NoError(t, err, "tcpdump reads the file whole")
	assert.Equal(t, n, strings.Count(string(out), "\n"))

	var drops uint64
	for _, l := range strings.Split(r.metrics(t), "\n") {
		if strings.HasPrefix(l, "dpstack_capture_drops_total") {
			var v float64
			_, err := fmt.Sscanf(l[strings.LastIndex(l, " ")+1:], "%g", &v)
			require.NoError(t, err, l)
			drops += uint64(v)
		}
	}
	assert.Equal(t, uint64(dropped), drops, "the metrics count what the file says was dropped")
	r.stop(t)
}
