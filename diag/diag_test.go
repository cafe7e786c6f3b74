package diag

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testState() *State {
	return &State{Port: Port{Name: "net_tap0"}, Cores: []Core{
		{Core: 0, Sockets: []Socket{
			{Netid: "tcp", State: "LISTEN", SendQ: 128, Local: "*:80", Peer: "*:*"},
			{Netid: "tcp", State: "ESTAB", RecvQ: 5, Local: "198.18.0.2:80", Peer: "198.18.0.1:40000",
				Timer: "on", Expires: 200, Info: &Info{CC: "cubic", SndWscale: 7, RcvWscale: 7, RTO: 201, RTT: 0.0314,
					RTTVar: 0.0157, MSS: 1448, RcvMSS: 536, AdvMSS: 1460, Cwnd: 10, Ssthresh: 1<<31 - 1, SndWnd: 65535, RcvWnd: 64240}},
			{Netid: "udp", State: "UNCONN", Local: "*:7", Peer: "*:*"},
		}, Neighbours: []Neighbour{{Addr: "198.18.0.1", LLAddr: "02:00:00:00:00:01", State: "REACHABLE"}, {Addr: "198.18.0.9", State: "INCOMPLETE", Queued: 1}},
			Routes: []Route{{Prefix: "198.18.0.0/24", Src: "198.18.0.2", Connected: true}, {Prefix: "0.0.0.0/0", Via: "198.18.0.1", Src: "198.18.0.2"}}},
		{Core: 1, Error: "stack: core 1 did not answer within 1s"},
	}}
}

func ss(t *testing.T, o SSOptions, filter ...string) string {
	t.Helper()
	f, err := ParseFilter(filter)
	require.NoError(t, err)
	o.Filter = f
	var b strings.Builder
	require.NoError(t, WriteSS(&b, testState(), o))
	return b.String()
}

func TestWriteSS(t *testing.T) {
	out := ss(t, SSOptions{TCP: true, Info: true, Timers: true, Process: true})
	lines := strings.Split(out, "\n")
	require.Len(t, lines, 4, out) // header, connection, info, ""
	assert.Equal(t, []string{"State", "Recv-Q", "Send-Q", "Local", "Address:Port", "Peer", "Address:Port", "Process"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"ESTAB", "5", "0", "198.18.0.2:80", "198.18.0.1:40000", "timer:(on,200ms,0)", "core:0"}, strings.Fields(lines[1]))
	assert.Equal(t, "\t cubic wscale:7,7 rto:201 rtt:0.031/0.016 mss:1448 rcvmss:536 advmss:1460 cwnd:10 snd_wnd:65535 rcv_wnd:64240", lines[2],
		"no ssthresh while it is infinite, as ss")
	assert.Equal(t, strings.Index(lines[0], "Address:Port")+len("Address:Port"), strings.Index(lines[1], "198.18.0.2:80")+len("198.18.0.2:80"),
		"the local address right-aligned under its title")

	listening := ss(t, SSOptions{Listening: true})
	assert.True(t, strings.HasPrefix(listening, "Netid "), "both protocols: the Netid column")
	assert.Contains(t, listening, "LISTEN")
	assert.Contains(t, listening, "UNCONN")
	assert.NotContains(t, listening, "ESTAB")
	assert.Equal(t, 4, strings.Count(ss(t, SSOptions{All: true}), "\n"))
	assert.Equal(t, 1, strings.Count(ss(t, SSOptions{TCP: true, All: true}, "state", "established", "and", "dport", "=", ":40000"), "ESTAB"))
	assert.Equal(t, 0, strings.Count(ss(t, SSOptions{All: true}, "dst", "198.18.0.7"), "ESTAB"))
	assert.Equal(t, 1, strings.Count(ss(t, SSOptions{All: true}, "src", "198.18.0.2:80"), "ESTAB"))
}

func TestParseFilterErrors(t *testing.T) {
	for _, words := range [][]string{{"state"}, {"state", "dancing"}, {"sport", "=", "http"}, {"src", "nowhere"}, {"proto", "tcp"}} {
		_, err := ParseFilter(words)
		assert.Error(t, err, "%q", words)
	}
}

func TestWriteTables(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteNeigh(&b, testState(), 0))
	assert.Equal(t, "198.18.0.1 dev net_tap0 lladdr 02:00:00:00:00:01 REACHABLE\n198.18.0.9 dev net_tap0 INCOMPLETE\n", b.String())
	b.Reset()
	require.NoError(t, WriteRoute(&b, testState(), 0))
	assert.Equal(t, "198.18.0.0/24 dev net_tap0 proto kernel scope link src 198.18.0.2\ndefault via 198.18.0.1 dev net_tap0 src 198.18.0.2\n", b.String())
	assert.ErrorContains(t, WriteRoute(&b, testState(), 1), "did not answer")
	assert.ErrorContains(t, WriteRoute(&b, testState(), 5), "no core 5")
}

func TestStatsDelta(t *testing.T) {
	d := Delta(map[string]uint64{"a": 5, "b": 7, "c": 9}, map[string]uint64{"a": 8, "b": 7, "c": 2, "d": 1})
	assert.Equal(t, map[string]uint64{"a": 3, "b": 0, "c": 2, "d": 1}, d, "c went down: the stack restarted")
	var b strings.Builder
	require.NoError(t, WriteStats(&b, d, false))
	assert.Equal(t, []string{"#dpstack", "a", "3", "c", "2", "d", "1"}, strings.Fields(b.String()))
	b.Reset()
	require.NoError(t, WriteStats(&b, d, true))
	assert.Contains(t, b.String(), "b ")
}
