package stack_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// linkSocket is an AF_PACKET socket in the kernel's namespace, bound to
// the TAP's kernel side: it sees every IPv4 frame that crosses the link,
// whatever groups the kernel joined, and sends IPv4 packets the test
// writes whole to the Ethernet address it is given.
type linkSocket struct {
	fd, ifindex int
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func linkSocketIn(t *testing.T, ns *netns.NS, iface string) *linkSocket {
	t.Helper()
	ls := &linkSocket{}
	require.NoError(t, ns.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		ls.ifindex = ifi.Index
		if ls.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP))); err != nil {
			return err
		}
		return unix.Bind(ls.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ls.ifindex})
	}))
	t.Cleanup(func() { unix.Close(ls.fd) })
	setRcvTimeout(t, ls.fd)
	return ls
}

// send sends the IPv4 packet pkt to the Ethernet address of its
// destination group.
func (ls *linkSocket) send(t *testing.T, pkt []byte) {
	t.Helper()
	mac := route.MulticastMAC(binary.BigEndian.Uint32(pkt[16:20]))
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ls.ifindex, Halen: 6}
	copy(to.Addr[:], mac[:])
	require.NoError(t, unix.Sendto(ls.fd, pkt, 0, to))
}

// awaitIGMP reads frames until dpstack sends an IGMP message that match
// takes, for at most 10 s, and returns its IP destination and the message.
func (ls *linkSocket) awaitIGMP(t *testing.T, match func(dst netip.Addr, m header.IGMP) bool) header.IGMP {
	t.Helper()
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(ls.fd, buf, 0)
		if err != nil {
			continue // the receive timeout
		}
		ip, perr := header.ParseIPv4(buf[:n])
		if perr != header.IPv4OK || ip.Src() != tapAddr.Addr() || ip.Protocol() != header.IPProtoIGMP {
			continue
		}
		require.Equal(t, uint8(1), ip.TTL())
		require.Equal(t, []byte{header.IPOptionRA, 4, 0, 0}, []byte(ip[20:24]))
		m, ok := header.ParseIGMP(ip.Payload())
		require.True(t, ok)
		require.True(t, m.ChecksumValid())
		if match(ip.Dst(), m) {
			return slices.Clone(m)
		}
	}
	t.Fatal("no such IGMP message from dpstack within 10 s")
	return nil
}

// mcastPacket is an IPv4 packet from the kernel's side to dst.
func mcastPacket(dst netip.Addr, proto uint8, payload []byte) []byte {
	opts := []byte{}
	if proto == header.IPProtoIGMP {
		opts = []byte{header.IPOptionRA, 4, 0, 0}
	}
	hl := header.IPv4MinLen + len(opts)
	b := make([]byte, hl+len(payload))
	ip := header.IPv4(b)
	ip.Encode(header.IPv4Fields{TotalLen: uint16(len(b)), ID: 1, TTL: 1, Protocol: proto,
		Src: peerAddr.Addr(), Dst: dst})
	ip.SetHeaderLen(hl)
	copy(b[header.IPv4MinLen:], opts)
	copy(b[hl:], payload)
	ip.SetChecksumFull()
	return b
}

// TestKernelMulticast: over net_tap, the kernel's side of the link sees
// dpstack's IGMPv3 report when a socket joins a group and its state
// change when it leaves; a datagram the kernel sends to the group reaches
// IPv4's delivery while joined, and is dropped after. Then an IGMPv2
// querier puts dpstack in IGMPv2 mode: its query is answered with a v2
// report, and a leave sends a Leave Group.
func TestKernelMulticast(t *testing.T) {
	h, ns, iface := kernelPeer(t, "mcast", 1)
	ls := linkSocketIn(t, ns, iface)
	group := netip.MustParseAddr("239.18.0.7")
	const testProto = 253
	var delivered atomic.Int32
	var ms ipv4.MCSock
	on := func(fn func(s *stack.Stack)) { require.NoError(t, h.Do(0, fn)) }
	on(func(s *stack.Stack) {
		s.IPv4().RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) {
			delivered.Add(1)
			s.Device().Free(b)
		})
		require.NoError(t, s.IPv4().JoinGroup(&ms, group))
	})
	m := ls.awaitIGMP(t, func(dst netip.Addr, m header.IGMP) bool {
		return dst == netip.MustParseAddr("224.0.0.22") && m.Type() == header.IGMPv3MembershipReport
	})
	assert.Equal(t, []byte{0, 1, header.IGMPChangeToExclude, 0, 0, 0, 239, 18, 0, 7}, []byte(m[6:16]))
	t.Logf("port all-multicast after the join: %v", h.Port().AllMulticastEnabled())

	notJoined := func() (n uint64) {
		on(func(s *stack.Stack) { n = s.Device().Drops.Get(stat.DropIPMcastNotJoined) })
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			require.True(t, time.Now().Before(deadline), what)
		}
	}
	ls.send(t, mcastPacket(group, testProto, []byte("tick")))
	waitFor("the datagram to the joined group is delivered", func() bool { return delivered.Load() == 1 })

	on(func(s *stack.Stack) { require.NoError(t, s.IPv4().LeaveGroup(&ms, group)) })
	m = ls.awaitIGMP(t, func(dst netip.Addr, m header.IGMP) bool {
		return m.Type() == header.IGMPv3MembershipReport && m[8] == header.IGMPChangeToInclude
	})
	assert.Equal(t, []byte{0, 1, header.IGMPChangeToInclude, 0, 0, 0, 239, 18, 0, 7}, []byte(m[6:16]))
	// The port's filter no longer lists the group, and net_tap filters
	// nothing: the frame comes in and IPv4 drops it.
	before := notJoined()
	ls.send(t, mcastPacket(group, testProto, []byte("tock")))
	waitFor("the datagram after the leave is dropped", func() bool { return notJoined() == before+1 })
	assert.Equal(t, int32(1), delivered.Load())

	// An IGMPv2 General Query, Max Response Time 1 s.
	query := []byte{header.IGMPMembershipQuery, 10, 0, 0, 0, 0, 0, 0}
	header.IGMP(query).SetChecksum()
	on(func(s *stack.Stack) { require.NoError(t, s.IPv4().JoinGroup(&ms, group)) })
	ls.send(t, mcastPacket(netip.MustParseAddr("224.0.0.1"), header.IPProtoIGMP, query))
	m = ls.awaitIGMP(t, func(dst netip.Addr, m header.IGMP) bool {
		return dst == group && m.Type() == header.IGMPv2MembershipReport
	})
	assert.Equal(t, []byte{239, 18, 0, 7}, []byte(m[4:8]))
	on(func(s *stack.Stack) { require.NoError(t, s.IPv4().LeaveGroup(&ms, group)) })
	m = ls.awaitIGMP(t, func(dst netip.Addr, m header.IGMP) bool {
		return dst == netip.MustParseAddr("224.0.0.2") && m.Type() == header.IGMPv2LeaveGroup
	})
	assert.Equal(t, []byte{239, 18, 0, 7}, []byte(m[4:8]))
	on(func(s *stack.Stack) {
		st := s.IPv4().Stats()
		assert.Equal(t, uint64(1), st.IGMPInQueriesV2.Load())
		assert.Equal(t, uint64(1), st.IGMPV2QuerierSeen.Load())
		assert.GreaterOrEqual(t, st.IGMPOutV3Reports.Load(), uint64(2))
	})
	m2 := scrape(t, h)
	labels := `{core="0",port="net_tap_mcast"}`
	assert.Equal(t, 1.0, m2["dpstack_igmp_in_queries_v2_total"+labels])
	assert.GreaterOrEqual(t, m2["dpstack_igmp_out_v2_reports_total"+labels], 1.0)
	assert.Equal(t, 1.0, m2["dpstack_igmp_out_leaves_total"+labels])
	assert.GreaterOrEqual(t, m2["dpstack_ip_in_mcast_pkts_total"+labels], 2.0, "the datagram and the query")
	assert.GreaterOrEqual(t, m2[`dpstack_drops_total{core="0",port="net_tap_mcast",reason="ip_mcast_not_joined"}`], 1.0)
}
