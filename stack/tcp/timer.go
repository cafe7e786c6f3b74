package tcp

import (
	"time"
	"unsafe"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/stack/sock"
)

// The deadlines' timer callbacks are functions, not closures over the
// socket: each finds its socket from the timer (sockOfTimer), so that a
// socket's four timers cost no allocation.
func rtxTimer(t *ktime.Timer, now ktime.Time) {
	sockOfTimer(t, unsafe.Offsetof(Sock{}.rtxT)).rtxFired(now)
}

func delackTimer(t *ktime.Timer, now ktime.Time) {
	sockOfTimer(t, unsafe.Offsetof(Sock{}.delackT)).delackFired(now)
}

func keepTimer(t *ktime.Timer, now ktime.Time) {
	sockOfTimer(t, unsafe.Offsetof(Sock{}.keepT)).keepFired(now)
}

func lossTimer(t *ktime.Timer, now ktime.Time) {
	sockOfTimer(t, unsafe.Offsetof(Sock{}.lossT)).lossFired(now)
}

// sockOfTimer is the Sock whose deadline at offset off holds t (Linux's
// from_timer, container_of): the step back from t stays inside the Sock,
// as the unsafe.Add rules ask.
func sockOfTimer(t *ktime.Timer, off uintptr) *Sock {
	return (*Sock)(unsafe.Add(unsafe.Pointer(t), -int(off+unsafe.Offsetof(deadline{}.t))))
}

// delackFired runs the delayed-ACK timer (tcp_delack_timer_handler): the
// owed ACK goes out. A timer that fires in interactive mode means the
// reply did not come in time: interactive mode ends and the timeout
// shrinks back; otherwise the timeout grows.
func (s *Sock) delackFired(now ktime.Time) {
	if !s.due(&s.delackT, now) {
		return
	}
	if !s.ackPending || !s.synchronized() {
		return
	}
	if s.pingpong {
		s.setPingpong(false)
		s.ato = delackMin
	} else {
		s.ato = min(2*s.ato, s.rto, delackMax)
	}
	s.proto.stats.DelayedACKs.Inc()
	s.sendAck()
	s.proto.flushEvents()
}

// keepFired runs the keepalive timer (tcp_keepalive_timer), which also
// times FIN-WAIT-2 for orphans.
func (s *Sock) keepFired(now ktime.Time) {
	if !s.due(&s.keepT, now) {
		return
	}
	if s.Common.State == sock.FinWait2 && s.Dead {
		// The peer never sent its FIN: give the orphan up with a RST, as
		// Linux does when tcp_fin_timeout expires.
		s.proto.stats.FinWait2Timeouts.Inc()
		s.sendActiveReset()
		s.done()
		s.proto.flushEvents()
		return
	}
	s.keepalive(now)
	s.proto.flushEvents()
}

// keepaliveOn reports whether keepalives apply in the current state.
func (s *Sock) keepaliveOn() bool {
	if !s.Options.KeepAlive {
		return false
	}
	switch s.Common.State {
	case sock.Established, sock.CloseWait, sock.FinWait1, sock.FinWait2, sock.Closing, sock.LastAck:
		return true
	}
	return false
}

// armKeepalive starts the keepalive timer for a full idle period.
func (s *Sock) armKeepalive() {
	if s.keepaliveOn() {
		s.arm(&s.keepT, s.now().Add(secs(s.Options.KeepIdle)))
	}
}

// keepalive probes an idle connection (RFC 1122 §4.2.3.6): after
// TCP_KEEPIDLE seconds without anything received, a probe every
// TCP_KEEPINTVL seconds; after TCP_KEEPCNT unanswered probes, or once idle
// for TCP_USER_TIMEOUT with a probe out, the connection is reset with
// ETIMEDOUT. A connection with data in flight is left to its RTO.
func (s *Sock) keepalive(now ktime.Time) {
	if !s.keepaliveOn() {
		return
	}
	idleFor := secs(s.Options.KeepIdle)
	if s.packetsOut > 0 || s.sendHead != nil {
		s.arm(&s.keepT, now.Add(idleFor))
		return
	}
	last := max(s.lrcvTime, s.rcvTstamp)
	idle := now.Sub(last)
	if idle < idleFor {
		s.arm(&s.keepT, now.Add(idleFor-idle))
		return
	}
	ut := time.Duration(s.Options.UserTimeout) * time.Millisecond
	if ut > 0 && idle >= ut && s.probesOut > 0 || ut == 0 && s.probesOut >= s.Options.KeepCnt {
		s.sendActiveReset()
		s.writeErr()
		return
	}
	s.sendProbe()
	s.probesOut++
	s.proto.stats.KeepAliveProbes.Inc()
	s.arm(&s.keepT, now.Add(secs(s.Options.KeepIntvl)))
}

// secs is n seconds.
func secs(n int) time.Duration { return time.Duration(n) * time.Second }
