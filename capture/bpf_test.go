package capture

import (
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frame is an Ethernet frame with an IPv4 header (protocol proto, TTL
// ttl) and 20 bytes of transport header with the given ports and, for
// TCP, flags.
func frame(proto, ttl byte, sport, dport uint16, flags byte) []byte {
	b := make([]byte, 14+20+20)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, ttl, proto
	binary.BigEndian.PutUint16(ip[2:], 40)
	copy(ip[12:], []byte{198, 18, 0, 1})
	copy(ip[16:], []byte{198, 18, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	ip[20+13] = flags
	return b
}

func compile(t *testing.T, expr string) *Filter {
	t.Helper()
	out, err := exec.Command("tcpdump", append([]string{"-ddd", "-y", "EN10MB"}, strings.Fields(expr)...)...).CombinedOutput()
	require.NoError(t, err, "tcpdump (make setup installs it): %s", out)
	f, err := ParseFilter(string(out))
	require.NoError(t, err)
	return f
}

// TestFilterMatchesTcpdump runs programs tcpdump compiled over frames
// whose verdict is known.
func TestFilterMatchesTcpdump(t *testing.T) {
	icmp := frame(1, 64, 0, 0, 0)
	http := frame(6, 64, 40000, 80, 0x18)
	syn := frame(6, 3, 40000, 22, 0x02)
	dns := frame(17, 64, 5353, 53, 0)
	for _, c := range []struct {
		expr string
		yes  [][]byte
		no   [][]byte
	}{
		{"icmp", [][]byte{icmp}, [][]byte{http, dns}},
		{"tcp port 80", [][]byte{http}, [][]byte{syn, icmp, dns}},
		{"udp and dst port 53", [][]byte{dns}, [][]byte{http}},
		{"ip[8] < 10", [][]byte{syn}, [][]byte{http}},
		{"tcp[tcpflags] & tcp-syn != 0", [][]byte{syn}, [][]byte{http, icmp}},
		{"host 198.18.0.2 and not icmp", [][]byte{http, dns}, [][]byte{icmp}},
	} {
		f := compile(t, c.expr)
		for _, p := range c.yes {
			assert.True(t, f.Match(p, len(p)), "%q accepts", c.expr)
		}
		for _, p := range c.no {
			assert.False(t, f.Match(p, len(p)), "%q rejects", c.expr)
		}
		assert.False(t, f.Match(http[:10], 60), "%q: a load past the captured bytes rejects", c.expr)
	}
	f := compile(t, "tcp port 80")
	assert.Zero(t, testing.AllocsPerRun(100, func() { f.Match(http, len(http)) }), "Match allocates nothing")
}

func TestParseFilterRejects(t *testing.T) {
	for _, prog := range []string{
		"", "x", "2\n6 0 0 1\n", // count and instructions disagree
		"1\n21 0 0 0\n",           // no return at the end
		"2\n21 5 0 0\n6 0 0 1\n",  // a jump out of the program
		"2\n96 0 0 16\n6 0 0 1\n", // scratch index 16
		"2\n52 0 0 0\n6 0 0 1\n",  // division by the constant 0
	} {
		_, err := ParseFilter(prog)
		assert.Error(t, err, "%q", prog)
	}
}
