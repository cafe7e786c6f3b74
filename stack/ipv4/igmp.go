package ipv4

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/header"
)

// IGMP's timing (RFC 3376 §8, RFC 2236 §8): the defaults, until an
// IGMPv3 query brings the querier's own Robustness Variable (QRV) and
// Query Interval (QQIC), as Linux takes them (mr_qrv, mr_qi, mr_qri).
const (
	igmpRobustness        = 2                 // §8.1
	igmpQueryInterval     = 125 * time.Second // §8.2
	igmpQueryRespInterval = 10 * time.Second  // §8.3
	// Unsolicited Report Interval: between the retransmissions of a
	// state change (RFC 3376 §8.11) and of an IGMPv2 join (RFC 2236
	// §8.10).
	igmpV3UnsolicitedInterval = time.Second
	igmpV2UnsolicitedInterval = 10 * time.Second
	// Older Version Querier Present Timeout (§8.12) with the defaults:
	// how long an IGMPv2 querier keeps the host in IGMPv2 mode after its
	// last query.
	igmpOlderQuerierTimeout = igmpRobustness*igmpQueryInterval + igmpQueryRespInterval
	// IGMPv1 queries have no Max Response Time: 10 s (RFC 2236 §4).
	igmpV1MaxResp = 10 * time.Second
)

// igmpHost is the interface's IGMP state, on the speaker's core
// (in_device's mr_* fields).
type igmpHost struct {
	wheel *ktime.Wheel
	// The querier's Robustness Variable, Query Interval and Query
	// Response Interval, as its last query said (§4.1.6, §4.1.7, §8).
	qrv int
	qi  time.Duration
	qri time.Duration
	// v2Timer runs while an IGMPv2 (or v1) querier is present: the Host
	// Compatibility Mode is IGMPv2 until it fires (RFC 3376 §7.2.1,
	// mr_v2_seen).
	v2Timer ktime.Timer
	// genTimer is the pending answer to an IGMPv3 General Query (§5.2,
	// the interface timer; mr_gq_timer).
	genTimer ktime.Timer
}

// igmpGroup is a group's IGMP state (ip_mc_list's timer, crcount and
// tomb fields).
type igmpGroup struct {
	// respTimer is the pending answer to a query about the group (§5.2;
	// RFC 2236 §3); respAll says it covers the whole group, else respSrcs
	// lists the sources queried.
	respTimer ktime.Timer
	respAll   bool
	respSrcs  []uint32
	// chTimer paces the retransmissions of a state change (§5.1) or of an
	// IGMPv2 join, crcount of them left. chMode says the filter mode
	// changed (a TO_IN / TO_EX record of the current state goes out);
	// otherwise allow and block are the pending source-list changes.
	chTimer ktime.Timer
	crcount int
	chMode  bool
	allow   []uint32
	block   []uint32
}

func (l *Layer) igmpInit(cfg Config) {
	l.igmp.wheel = cfg.Wheel
	l.igmp.qrv, l.igmp.qi, l.igmp.qri = igmpRobustness, igmpQueryInterval, igmpQueryRespInterval
	l.igmp.v2Timer.Init(func(_ *ktime.Timer, now ktime.Time) { l.igmpV2Expired(now) })
	l.igmp.genTimer.Init(func(*ktime.Timer, ktime.Time) { l.igmpAnswerGeneral() })
}

func (ig *igmpGroup) init(l *Layer, grp *mcGroup) {
	ig.respTimer.Init(func(*ktime.Timer, ktime.Time) { l.igmpAnswerGroup(grp) })
	ig.chTimer.Init(func(*ktime.Timer, ktime.Time) { l.igmpRetransmit(grp) })
}

// busy reports whether the group has state changes left to send.
func (ig *igmpGroup) busy() bool { return ig.crcount > 0 }

// stop cancels the group's timers on w and forgets what they were for.
func (ig *igmpGroup) stop(w *ktime.Wheel) {
	w.Cancel(&ig.respTimer)
	ig.respSrcs, ig.respAll = nil, false
	w.Cancel(&ig.chTimer)
	ig.crcount, ig.chMode, ig.allow, ig.block = 0, false, nil, nil
}

// igmpV2 reports whether the Host Compatibility Mode is IGMPv2.
func (l *Layer) igmpV2() bool { return l.igmp.v2Timer.Pending() }

// reportable reports whether IGMP speaks of the group: never of the
// all-systems group (RFC 3376 §5; RFC 2236 §6).
func (g *mcGroup) reportable() bool { return g.addr != allHosts }

// member reports whether the interface state is anything but INCLUDE {},
// which is what IGMPv2 knows of (RFC 3376 §7.3.2).
func member(mode FilterMode, state []uint32) bool {
	return mode == ModeExclude || len(state) > 0
}

// randDelay is a random delay in [0, max) (RFC 3376 §5.2, RFC 2236 §3).
func randDelay(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// igmpStateChange has IGMP report that the interface state of grp changed
// from (omode, ostate) (igmp_group_added / igmp_group_dropped /
// igmp_ifc_event): in IGMPv3 mode a State-Change Report now and
// retransmissions after it (RFC 3376 §5.1); in IGMPv2 mode a report on
// join and a Leave Group on leave (§7.3.2, RFC 2236 §3).
func (l *Layer) igmpStateChange(grp *mcGroup, omode FilterMode, ostate []uint32) {
	if !grp.reportable() {
		return
	}
	ig := &grp.igmp
	if l.igmpV2() {
		was, is := member(omode, ostate), member(grp.mode, grp.state)
		switch {
		case is && !was:
			l.igmpV2Send(header.IGMPv2MembershipReport, grp.addr)
			if ig.crcount = l.igmp.qrv - 1; ig.crcount > 0 {
				l.igmp.wheel.Schedule(&ig.chTimer, l.clock.Add(randDelay(igmpV2UnsolicitedInterval)))
			}
		case was && !is:
			ig.stop(l.igmp.wheel)
			l.igmpV2Send(header.IGMPv2LeaveGroup, grp.addr)
		}
		return
	}
	switch {
	case grp.mode != omode:
		ig.chMode, ig.allow, ig.block = true, nil, nil
	case !ig.chMode:
		added, removed := minus(grp.state, ostate), minus(ostate, grp.state)
		if grp.mode == ModeExclude {
			added, removed = removed, added
		}
		// RFC 3376 §5.1: a source newly allowed is no longer blocked,
		// and the reverse.
		ig.allow = union(minus(ig.allow, removed), added)
		ig.block = union(minus(ig.block, added), removed)
	}
	ig.crcount = l.igmp.qrv
	l.igmpSendChange(grp)
}

// igmpSendChange sends the group's pending State-Change Report and
// schedules the next retransmission, or ends them (igmpv3_send_cr).
func (l *Layer) igmpSendChange(grp *mcGroup) {
	ig := &grp.igmp
	r := igmpReport{l: l}
	switch {
	case ig.chMode && grp.mode == ModeExclude:
		r.add(header.IGMPChangeToExclude, grp.addr, grp.state)
	case ig.chMode:
		r.add(header.IGMPChangeToInclude, grp.addr, grp.state)
	default:
		if len(ig.allow) > 0 {
			r.add(header.IGMPAllowNewSources, grp.addr, ig.allow)
		}
		if len(ig.block) > 0 {
			r.add(header.IGMPBlockOldSources, grp.addr, ig.block)
		}
	}
	r.flush()
	l.igmpNextRetransmit(grp, igmpV3UnsolicitedInterval)
}

// igmpNextRetransmit counts one transmission of a state change and
// schedules the next within interval, or, with none left, forgets the
// change and, for a group nobody is in any more, the group.
func (l *Layer) igmpNextRetransmit(grp *mcGroup, interval time.Duration) {
	ig := &grp.igmp
	if ig.crcount > 0 {
		ig.crcount--
	}
	if ig.crcount > 0 {
		l.igmp.wheel.Schedule(&ig.chTimer, l.clock.Add(randDelay(interval)))
		return
	}
	ig.chMode, ig.allow, ig.block = false, nil, nil
	if grp.users() == 0 {
		l.mc.forget(grp)
	}
}

// igmpRetransmit is the chTimer: the next State-Change Report, or the
// next IGMPv2 join report (RFC 2236 §3: "repeat once or twice").
func (l *Layer) igmpRetransmit(grp *mcGroup) {
	if l.igmpV2() {
		if member(grp.mode, grp.state) {
			l.igmpV2Send(header.IGMPv2MembershipReport, grp.addr)
		}
		l.igmpNextRetransmit(grp, igmpV2UnsolicitedInterval)
		return
	}
	l.igmpSendChange(grp)
}

// igmpV2Heard enters (or stays in) IGMPv2 mode on a v1 or v2 query (RFC
// 3376 §7.2.1). Entering it cancels the IGMPv3 answers and
// retransmissions pending, as the mode change asks.
func (l *Layer) igmpV2Heard() {
	if !l.igmpV2() {
		l.stats.IGMPV2QuerierSeen.Inc()
		l.igmp.wheel.Cancel(&l.igmp.genTimer)
		for _, grp := range slices.Clone(l.mc.groups) {
			grp.igmp.stop(l.igmp.wheel)
			if grp.users() == 0 {
				l.mc.forget(grp)
			}
		}
	}
	// §8.12: Robustness Variable times Query Interval plus one Query
	// Response Interval.
	ovqpt := time.Duration(l.igmp.qrv)*l.igmp.qi + l.igmp.qri
	l.igmp.wheel.Schedule(&l.igmp.v2Timer, l.clock.Add(ovqpt))
}

// igmpV2Expired ends IGMPv2 mode: no IGMPv2 querier was heard for the
// Older Version Querier Present Timeout, and the host speaks IGMPv3 again.
func (l *Layer) igmpV2Expired(ktime.Time) {
	l.stats.IGMPV3Resumed.Inc()
}

// igmpV2Query answers an IGMPv2 query (or any query in IGMPv2 mode): each
// queried group's report goes out after a random delay up to maxResp, and
// a timer already running later than maxResp is brought forward (RFC 2236
// §3; igmp_heard_query, igmp_mod_timer).
func (l *Layer) igmpV2Query(group uint32, maxResp time.Duration) {
	deadline := l.clock.Add(maxResp)
	for _, grp := range l.mc.groups {
		if !grp.reportable() || grp.users() == 0 || group != 0 && grp.addr != group {
			continue
		}
		t := &grp.igmp.respTimer
		if !t.Pending() || t.Expires() > deadline {
			l.igmp.wheel.Schedule(t, l.clock.Add(randDelay(maxResp)))
		}
	}
}

// igmpV3Query answers an IGMPv3 query in IGMPv3 mode (RFC 3376 §5.2):
// a General Query with the interface timer, a Group-Specific or
// Group-and-Source-Specific Query with the group's, its sources added to
// what the group's answer will cover.
func (l *Layer) igmpV3Query(m header.IGMP, group uint32, maxResp time.Duration) {
	l.igmpQuerierTimers(m, maxResp)
	at := l.clock.Add(randDelay(maxResp))
	if group == 0 {
		t := &l.igmp.genTimer
		if !t.Pending() || t.Expires() > at {
			l.igmp.wheel.Schedule(t, at)
		}
		return
	}
	grp := l.mc.find(group)
	if grp == nil || grp.users() == 0 || !grp.reportable() {
		return
	}
	ig := &grp.igmp
	n := m.NumSources()
	switch {
	case !ig.respTimer.Pending():
		ig.respAll, ig.respSrcs = n == 0, nil
	case n == 0:
		ig.respAll, ig.respSrcs = true, nil
	}
	if !ig.respAll {
		for i := range n {
			if s := m.Source(i); !slices.Contains(ig.respSrcs, s) {
				ig.respSrcs = append(ig.respSrcs, s)
			}
		}
	}
	if !ig.respTimer.Pending() || ig.respTimer.Expires() > at {
		l.igmp.wheel.Schedule(&ig.respTimer, at)
	}
}

// igmpQuerierTimers takes the querier's Robustness Variable and Query
// Interval from an IGMPv3 query, when it gives them (non-zero, §4.1.6,
// §4.1.7), and its Max Resp Time as the Query Response Interval
// (igmp_heard_query's mr_qrv, mr_qi, mr_qri).
func (l *Layer) igmpQuerierTimers(m header.IGMP, maxResp time.Duration) {
	if qrv := m.QRV(); qrv != 0 {
		l.igmp.qrv = int(qrv)
	}
	if qqic := m.QQIC(); qqic != 0 {
		l.igmp.qi = time.Duration(header.IGMPv3Code(qqic)) * time.Second
	}
	l.igmp.qri = maxResp
}

// igmpAnswerGeneral is the interface timer: a Current-State Report with
// one record for every group (RFC 3376 §5.2).
func (l *Layer) igmpAnswerGeneral() {
	if l.igmpV2() {
		return
	}
	r := igmpReport{l: l}
	for _, grp := range l.mc.groups {
		if grp.reportable() && grp.users() > 0 {
			r.add(currentStateType(grp.mode), grp.addr, grp.state)
		}
	}
	r.flush()
}

// igmpAnswerGroup is a group's query timer: in IGMPv2 mode a Membership
// Report; in IGMPv3 mode the group's current state, or, for a
// Group-and-Source-Specific Query, which of the queried sources the host
// wants (RFC 3376 §5.2: IS_IN(A*B) in INCLUDE mode, IS_IN(B-A) in
// EXCLUDE), nothing when none.
func (l *Layer) igmpAnswerGroup(grp *mcGroup) {
	ig := &grp.igmp
	all, srcs := ig.respAll, ig.respSrcs
	ig.respAll, ig.respSrcs = false, nil
	if grp.users() == 0 {
		return
	}
	if l.igmpV2() {
		l.igmpV2Send(header.IGMPv2MembershipReport, grp.addr)
		return
	}
	r := igmpReport{l: l}
	switch {
	case all:
		r.add(currentStateType(grp.mode), grp.addr, grp.state)
	case grp.mode == ModeInclude:
		if want := intersect(grp.state, srcs); len(want) > 0 {
			r.add(header.IGMPModeIsInclude, grp.addr, want)
		}
	default:
		if want := minus(srcs, grp.state); len(want) > 0 {
			r.add(header.IGMPModeIsInclude, grp.addr, want)
		}
	}
	r.flush()
}

// currentStateType is the Current-State Record type of a filter mode
// (RFC 3376 §4.2.12).
func currentStateType(mode FilterMode) uint8 {
	if mode == ModeExclude {
		return header.IGMPModeIsExclude
	}
	return header.IGMPModeIsInclude
}

// minus is a - b, union a ∪ b, intersect a ∩ b, for short source lists;
// each returns a new slice.
func minus(a, b []uint32) []uint32 {
	var out []uint32
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func union(a, b []uint32) []uint32 {
	return append(slices.Clone(a), minus(b, a)...)
}

func intersect(a, b []uint32) []uint32 {
	var out []uint32
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}
