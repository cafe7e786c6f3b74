package ipv4

import (
	"encoding/binary"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// Addresses IGMP sends to: IGMPv3 reports go to all IGMPv3-capable
// routers (RFC 3376 §4.2.14), IGMPv2 leaves to all routers (RFC 2236 §3).
const (
	allV3Routers uint32 = 0xe0000016 // 224.0.0.22
	allRouters   uint32 = 0xe0000002 // 224.0.0.2
)

// igmpTOS is the Type of Service of every IGMP message, precedence
// Internetwork Control (RFC 3376 §4; Linux sends 0xc0 for every version).
const igmpTOS = 0xc0

// routerAlert is the Router Alert option every IGMP message carries (RFC
// 2113; RFC 2236 §2, RFC 3376 §4), with value 0.
var routerAlert = [4]byte{header.IPOptionRA, 4, 0, 0}

// igmpOutput sends the IGMP message in b to daddr (igmp_send_report,
// igmpv3_sendpack): checksum, then an IP header with TTL 1 (RFC 2236 §2,
// RFC 3376 §4) and the Router Alert option, out of the group's route.
func (l *Layer) igmpOutput(b *mbuf.Buf, daddr uint32) {
	header.IGMP(b.Bytes()).SetChecksum()
	l.fl = route.Flow4{Dst: header.U32Addr(daddr), Proto: header.IPProtoIGMP}
	dst, err := l.rt.Lookup(&l.fl)
	if err != nil {
		l.stats.IGMPOutErrors.Inc()
		l.dev.Drop(b, stat.DropNoRoute)
		return
	}
	l.stats.OutMcastPkts.Inc()
	l.OutputOptions(b, dst, header.IPProtoIGMP, dst.Src, l.fl.Dst, igmpTOS, 1, routerAlert[:])
}

// igmpV2Send sends an IGMPv2 message of type typ about group (RFC 2236
// §2): a Membership Report goes to the group, a Leave Group to all
// routers.
func (l *Layer) igmpV2Send(typ uint8, group uint32) {
	b := l.dev.Alloc()
	if b == nil {
		l.stats.IGMPOutErrors.Inc()
		return
	}
	p := b.Put(header.IGMPMinLen)
	p[0], p[1], p[2], p[3] = typ, 0, 0, 0
	binary.BigEndian.PutUint32(p[4:8], group)
	daddr := group
	if typ == header.IGMPv2LeaveGroup {
		daddr = allRouters
		l.stats.IGMPOutLeaves.Inc()
	} else {
		l.stats.IGMPOutV2Reports.Inc()
	}
	l.igmpOutput(b, daddr)
}

// igmpReport builds IGMPv3 Membership Reports (RFC 3376 §4.2), as many as
// their records need (igmpv3_newpack, add_grec).
type igmpReport struct {
	l *Layer
	b *mbuf.Buf
}

// limit is the largest report: the device's MTU less the IP header and
// its Router Alert option.
func (r *igmpReport) limit() int {
	return r.l.dev.MTU - header.IPv4MinLen - len(routerAlert)
}

// add appends a group record of type typ for group with sources srcs,
// sending the current report first when the record does not fit. A source
// list too long for one report is split over several records for the
// INCLUDE-side types and cut short for the EXCLUDE ones (RFC 3376
// §4.2.16: a shorter exclude list only makes the router forward more).
func (r *igmpReport) add(typ uint8, group uint32, srcs []uint32) {
	for {
		room := (r.limit() - header.IGMPv3ReportMinLen - header.IGMPv3RecordMinLen) / 4
		n := min(len(srcs), room)
		need := header.IGMPv3RecordMinLen + 4*n
		if r.b != nil && r.b.Len()+need > r.limit() {
			r.flush()
		}
		if r.b == nil && !r.start() {
			return
		}
		p := r.b.Put(need)
		p[0], p[1] = typ, 0
		binary.BigEndian.PutUint16(p[2:4], uint16(n))
		binary.BigEndian.PutUint32(p[4:8], group)
		for i, s := range srcs[:n] {
			binary.BigEndian.PutUint32(p[8+4*i:], s)
		}
		h := r.b.Bytes()
		binary.BigEndian.PutUint16(h[6:8], binary.BigEndian.Uint16(h[6:8])+1)
		srcs = srcs[n:]
		if len(srcs) == 0 || typ == header.IGMPModeIsExclude || typ == header.IGMPChangeToExclude {
			return
		}
	}
}

// start allocates the next report and writes its fixed part.
func (r *igmpReport) start() bool {
	r.b = r.l.dev.Alloc()
	if r.b == nil {
		r.l.stats.IGMPOutErrors.Inc()
		return false
	}
	p := r.b.Put(header.IGMPv3ReportMinLen)
	p[0] = header.IGMPv3MembershipReport
	clear(p[1:])
	return true
}

// flush sends the report built so far, if any.
func (r *igmpReport) flush() {
	if r.b == nil {
		return
	}
	b := r.b
	r.b = nil
	r.l.stats.IGMPOutV3Reports.Inc()
	r.l.igmpOutput(b, allV3Routers)
}
