package ipv4

import (
	"time"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// igmpInput receives an IGMP message (igmp_rcv), whose IP datagram went to
// one of our addresses, all-systems, or a group the host joined. A core
// that does not speak IGMP hands it to the one that does (core 0). Queries
// are answered (igmp_heard_query); other hosts' reports stop a pending
// IGMPv2 report of the same group (RFC 2236 §3); reports and leaves are
// otherwise only counted, as routers are their audience.
func (l *Layer) igmpInput(b *mbuf.Buf, ip header.IPv4) {
	if l.mc.speaker != l && l.reasm.handoff != nil {
		// Back to the IP header, which the speaker's Input reads again.
		b.Push(ip.HeaderLen())
		if !l.reasm.handoff(b, 0) {
			l.dev.Drop(b, stat.DropHandoffFull)
			return
		}
		l.stats.IGMPHandoffs.Inc()
		return
	}
	l.stats.IGMPInMsgs.Inc()
	if b.Len() != b.SegLen() {
		// IGMP messages are small: a reassembled one is made up.
		l.stats.IGMPInErrors.Inc()
		l.dev.Drop(b, stat.DropIGMPBadQuery)
		return
	}
	m, ok := header.ParseIGMP(b.Bytes())
	if !ok {
		l.stats.IGMPInErrors.Inc()
		l.dev.Drop(b, stat.DropIGMPTruncated)
		return
	}
	if !m.ChecksumValid() {
		l.stats.IGMPInCsumErrors.Inc()
		l.dev.Drop(b, stat.DropIGMPBadChecksum)
		return
	}
	switch m.Type() {
	case header.IGMPMembershipQuery:
		if !l.igmpQuery(m) {
			l.stats.IGMPInErrors.Inc()
			l.dev.Drop(b, stat.DropIGMPBadQuery)
			return
		}
	case header.IGMPv1MembershipReport, header.IGMPv2MembershipReport:
		if m.Type() == header.IGMPv1MembershipReport {
			l.stats.IGMPInV1Reports.Inc()
		} else {
			l.stats.IGMPInV2Reports.Inc()
		}
		l.igmpHeardReport(m.Group())
	case header.IGMPv3MembershipReport:
		l.stats.IGMPInV3Reports.Inc()
	case header.IGMPv2LeaveGroup:
		l.stats.IGMPInLeaves.Inc()
	default:
		l.stats.IGMPInErrors.Inc()
		l.dev.Drop(b, stat.DropIGMPUnknownType)
		return
	}
	l.dev.Free(b)
}

// igmpQuery takes a Membership Query, telling its version by its length
// and Max Resp Code (RFC 3376 §7.1), and reports whether it was
// well-formed. An IGMPv1 or v2 query puts the host in IGMPv2 mode (§7.2.1;
// dpstack answers an IGMPv1 querier as an IGMPv2 one, with IGMPv2
// reports); in that mode every query is answered the IGMPv2 way.
func (l *Layer) igmpQuery(m header.IGMP) bool {
	group := m.Group()
	if group != 0 && group>>28 != 0xe {
		return false
	}
	switch {
	case len(m) == header.IGMPMinLen:
		maxResp := time.Duration(m.MaxRespCode()) * 100 * time.Millisecond
		if m.MaxRespCode() == 0 {
			l.stats.IGMPInQueriesV1.Inc()
			maxResp = igmpV1MaxResp
		} else {
			l.stats.IGMPInQueriesV2.Inc()
		}
		l.igmpV2Heard()
		l.igmpV2Query(group, maxResp)
	case m.IsV3Query():
		n := m.NumSources()
		if header.IGMPv3QueryMinLen+4*n > len(m) || group == 0 && n != 0 {
			return false
		}
		l.stats.IGMPInQueriesV3.Inc()
		// Max Resp Code is in units of 1/10 s (§4.1.1).
		maxResp := time.Duration(header.IGMPv3Code(m.MaxRespCode())) * 100 * time.Millisecond
		if l.igmpV2() {
			l.igmpV2Query(group, maxResp)
		} else {
			l.igmpV3Query(m, group, maxResp)
		}
	default:
		// 9 to 11 bytes: no version (§7.1 says to ignore it).
		return false
	}
	return true
}

// igmpHeardReport is another host's IGMPv1 or v2 report of group: in
// IGMPv2 mode it answers for the link, and ours is not sent (RFC 2236 §3,
// igmp_heard_report). IGMPv3 has no such suppression (RFC 3376 §5.2).
func (l *Layer) igmpHeardReport(group uint32) {
	if !l.igmpV2() {
		return
	}
	if grp := l.mc.find(group); grp != nil {
		l.igmp.wheel.Cancel(&grp.igmp.respTimer)
	}
}
