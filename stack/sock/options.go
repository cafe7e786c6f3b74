package sock

import (
	"fmt"
	"strconv"
	"syscall"
)

// Option names that Go's syscall package lacks (Linux values). The others
// are syscall's: SO_REUSEADDR, SO_RCVBUF, SO_SNDBUF, SO_KEEPALIVE,
// SO_LINGER, SO_ERROR, TCP_NODELAY, TCP_MAXSEG, TCP_KEEPIDLE,
// TCP_KEEPINTVL, TCP_KEEPCNT, TCP_QUICKACK, TCP_CONGESTION, at levels
// syscall.SOL_SOCKET and syscall.IPPROTO_TCP.
const (
	// SO_REUSEPORT lets sockets bind the same address and port
	// (include/uapi/asm-generic/socket.h).
	SO_REUSEPORT = 0xf
	// TCP_USER_TIMEOUT bounds how long transmitted data may stay
	// unacknowledged before the connection is aborted, in milliseconds
	// (RFC 5482; include/uapi/linux/tcp.h).
	TCP_USER_TIMEOUT = 0x12
)

// Buffer limits and defaults, Linux's.
const (
	// RmemMax caps SO_RCVBUF before doubling (net.core.rmem_max, default
	// SK_RMEM_MAX = 256 packets of SKB_TRUESIZE(256) = 212992).
	RmemMax = 212992
	// WmemMax caps SO_SNDBUF before doubling (net.core.wmem_max).
	WmemMax = 212992
	// SockMinRcvBuf is the smallest receive buffer (SOCK_MIN_RCVBUF =
	// TCP_SKB_MIN_TRUESIZE = 2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff))
	// on x86-64): room for one 2 KiB packet.
	SockMinRcvBuf = 2304
	// SockMinSndBuf is the smallest send buffer (SOCK_MIN_SNDBUF = 2 *
	// TCP_SKB_MIN_TRUESIZE).
	SockMinSndBuf = 2 * SockMinRcvBuf
	// DefaultRcvBuf is a new socket's receive buffer (tcp_rmem[1]).
	DefaultRcvBuf = 131072
	// DefaultSndBuf is a new socket's send buffer (tcp_wmem[1]).
	DefaultSndBuf = 16384
)

// TCP option limits and defaults, Linux's (include/net/tcp.h).
const (
	// MinUserMSS is the smallest TCP_MAXSEG (TCP_MIN_MSS).
	MinUserMSS = 88
	// MaxUserMSS is the largest TCP_MAXSEG (MAX_TCP_WINDOW: Linux's
	// do_tcp_setsockopt refuses more with EINVAL).
	MaxUserMSS = 32767
	// DefaultKeepIdle is the idle time before the first keepalive probe,
	// in seconds (TCP_KEEPALIVE_TIME, 2 hours; RFC 1122 §4.2.3.6).
	DefaultKeepIdle = 7200
	// DefaultKeepIntvl is the time between keepalive probes, in seconds
	// (TCP_KEEPALIVE_INTVL).
	DefaultKeepIntvl = 75
	// DefaultKeepCnt is the number of unanswered probes before the
	// connection is dropped (TCP_KEEPALIVE_PROBES).
	DefaultKeepCnt = 9
	// MaxKeepIdle is the largest TCP_KEEPIDLE (MAX_TCP_KEEPIDLE).
	MaxKeepIdle = 32767
	// MaxKeepIntvl is the largest TCP_KEEPINTVL (MAX_TCP_KEEPINTVL).
	MaxKeepIntvl = 32767
	// MaxKeepCnt is the largest TCP_KEEPCNT (MAX_TCP_KEEPCNT).
	MaxKeepCnt = 127
)

// Options are a socket's options other than SO_RCVBUF/SO_SNDBUF (Sock.RcvBuf,
// Sock.SndBuf) and SO_REUSEADDR/SO_REUSEPORT (Common). The transport reads
// them; they are set through SetOption, SetLinger and SetCongestion, which
// validate.
type Options struct {
	// KeepAlive is SO_KEEPALIVE (SOCK_KEEPOPEN).
	KeepAlive bool
	// LingerOn and LingerSecs are SO_LINGER (SOCK_LINGER, sk_lingertime
	// in seconds).
	LingerOn   bool
	LingerSecs int
	// NoDelay is TCP_NODELAY: Nagle's algorithm (RFC 896, RFC 1122
	// §4.2.3.4) off.
	NoDelay bool
	// MaxSeg is TCP_MAXSEG, the user's MSS clamp (user_mss); 0 for none.
	MaxSeg int
	// KeepIdle, KeepIntvl and KeepCnt are TCP_KEEPIDLE, TCP_KEEPINTVL
	// (seconds) and TCP_KEEPCNT.
	KeepIdle  int
	KeepIntvl int
	KeepCnt   int
	// QuickAck is TCP_QUICKACK: acknowledge at once rather than delay.
	// As in Linux it is a hint that the transport may clear again.
	QuickAck bool
	// UserTimeout is TCP_USER_TIMEOUT in milliseconds; 0 for the system
	// default.
	UserTimeout int
	// Congestion is TCP_CONGESTION, the congestion control's name.
	Congestion string
}

// SetOption sets the integer-valued option name at level (setsockopt):
// syscall.SOL_SOCKET or syscall.IPPROTO_TCP. A bad value is EINVAL and
// changes nothing; an unknown level or name, or SO_ERROR (read-only), is
// ENOPROTOOPT. SO_LINGER and TCP_CONGESTION are not integers: they are
// EINVAL here, set through SetLinger and SetCongestion. Errors wrap a
// syscall.Errno.
//
// As in Linux, SO_RCVBUF and SO_SNDBUF cap the value at RmemMax/WmemMax,
// double it (for the bookkeeping overhead, since the limits count Truesize)
// and raise it to SockMinRcvBuf/SockMinSndBuf, and lock the size against
// automatic tuning (RcvBufLock, SndBufLock). Unlike Linux, which treats a
// negative size as a huge unsigned one, a negative size is EINVAL.
func (s *Sock) SetOption(level, name int, val int) error {
	switch level {
	case syscall.SOL_SOCKET:
		return s.setSocketOption(name, val)
	case syscall.IPPROTO_TCP:
		return s.setTCPOption(name, val)
	}
	return optError("setsockopt", level, name, syscall.ENOPROTOOPT)
}

func (s *Sock) setSocketOption(name, val int) error {
	const level = syscall.SOL_SOCKET
	switch name {
	case syscall.SO_REUSEADDR:
		s.ReuseAddr = val != 0
	case SO_REUSEPORT:
		s.ReusePort = val != 0
	case syscall.SO_KEEPALIVE:
		s.Options.KeepAlive = val != 0
	case syscall.SO_RCVBUF:
		if val < 0 {
			return valueError(level, name, val, "negative size")
		}
		s.UserLocks |= RcvBufLock
		s.RcvBuf = max(min(val, RmemMax)*2, SockMinRcvBuf)
	case syscall.SO_SNDBUF:
		if val < 0 {
			return valueError(level, name, val, "negative size")
		}
		s.UserLocks |= SndBufLock
		s.SndBuf = max(min(val, WmemMax)*2, SockMinSndBuf)
	case syscall.SO_LINGER:
		return valueError(level, name, val, "struct-valued, use SetLinger")
	default:
		return optError("setsockopt", level, name, syscall.ENOPROTOOPT)
	}
	return nil
}

func (s *Sock) setTCPOption(name, val int) error {
	const level = syscall.IPPROTO_TCP
	o := &s.Options
	switch name {
	case syscall.TCP_NODELAY:
		o.NoDelay = val != 0
	case syscall.TCP_MAXSEG:
		if val != 0 && (val < MinUserMSS || val > MaxUserMSS) {
			return valueError(level, name, val, "out of range 88..32767")
		}
		o.MaxSeg = val
	case syscall.TCP_KEEPIDLE:
		if val < 1 || val > MaxKeepIdle {
			return valueError(level, name, val, "out of range 1..32767")
		}
		o.KeepIdle = val
	case syscall.TCP_KEEPINTVL:
		if val < 1 || val > MaxKeepIntvl {
			return valueError(level, name, val, "out of range 1..32767")
		}
		o.KeepIntvl = val
	case syscall.TCP_KEEPCNT:
		if val < 1 || val > MaxKeepCnt {
			return valueError(level, name, val, "out of range 1..127")
		}
		o.KeepCnt = val
	case syscall.TCP_QUICKACK:
		o.QuickAck = val != 0
	case TCP_USER_TIMEOUT:
		if val < 0 {
			return valueError(level, name, val, "negative timeout")
		}
		o.UserTimeout = val
	case syscall.TCP_CONGESTION:
		return valueError(level, name, val, "string-valued, use SetCongestion")
	default:
		return optError("setsockopt", level, name, syscall.ENOPROTOOPT)
	}
	return nil
}

// GetOption reads the integer-valued option name at level (getsockopt).
// Booleans read 0 or 1. SO_ERROR returns the pending error and clears it,
// as SockError. TCP_MAXSEG reads what was set (0 for none); the transport
// reports the MSS in use where it knows it. An unknown level or name is
// ENOPROTOOPT; SO_LINGER and TCP_CONGESTION are EINVAL here, read through
// Linger and Congestion.
func (s *Sock) GetOption(level, name int) (int, error) {
	switch level {
	case syscall.SOL_SOCKET:
		switch name {
		case syscall.SO_REUSEADDR:
			return b2i(s.ReuseAddr), nil
		case SO_REUSEPORT:
			return b2i(s.ReusePort), nil
		case syscall.SO_KEEPALIVE:
			return b2i(s.Options.KeepAlive), nil
		case syscall.SO_RCVBUF:
			return s.RcvBuf, nil
		case syscall.SO_SNDBUF:
			return s.SndBuf, nil
		case syscall.SO_ERROR:
			e := s.Err
			s.Err = 0
			return int(e), nil
		case syscall.SO_LINGER:
			return 0, optError("getsockopt", level, name, syscall.EINVAL)
		}
	case syscall.IPPROTO_TCP:
		o := &s.Options
		switch name {
		case syscall.TCP_NODELAY:
			return b2i(o.NoDelay), nil
		case syscall.TCP_MAXSEG:
			return o.MaxSeg, nil
		case syscall.TCP_KEEPIDLE:
			return o.KeepIdle, nil
		case syscall.TCP_KEEPINTVL:
			return o.KeepIntvl, nil
		case syscall.TCP_KEEPCNT:
			return o.KeepCnt, nil
		case syscall.TCP_QUICKACK:
			return b2i(o.QuickAck), nil
		case TCP_USER_TIMEOUT:
			return o.UserTimeout, nil
		case syscall.TCP_CONGESTION:
			return 0, optError("getsockopt", level, name, syscall.EINVAL)
		}
	}
	return 0, optError("getsockopt", level, name, syscall.ENOPROTOOPT)
}

// SetLinger sets SO_LINGER (struct linger): with on, closing waits up to
// secs seconds for unsent data to go, and 0 seconds aborts with a RST (RFC
// 9293 §3.10.4 ABORT). Turning it off keeps the old time, as Linux does. A
// negative secs with on is EINVAL (Linux would read it as unsigned, i.e.
// for ever).
func (s *Sock) SetLinger(on bool, secs int) error {
	if !on {
		s.Options.LingerOn = false
		return nil
	}
	if secs < 0 {
		return valueError(syscall.SOL_SOCKET, syscall.SO_LINGER, secs, "negative linger time")
	}
	s.Options.LingerOn = true
	s.Options.LingerSecs = secs
	return nil
}

// Linger reads SO_LINGER: whether it is on and its time in seconds.
func (s *Sock) Linger() (bool, int) {
	return s.Options.LingerOn, s.Options.LingerSecs
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// optName names an option for error messages.
func optName(level, name int) string {
	switch level {
	case syscall.SOL_SOCKET:
		switch name {
		case syscall.SO_REUSEADDR:
			return "SO_REUSEADDR"
		case SO_REUSEPORT:
			return "SO_REUSEPORT"
		case syscall.SO_KEEPALIVE:
			return "SO_KEEPALIVE"
		case syscall.SO_RCVBUF:
			return "SO_RCVBUF"
		case syscall.SO_SNDBUF:
			return "SO_SNDBUF"
		case syscall.SO_ERROR:
			return "SO_ERROR"
		case syscall.SO_LINGER:
			return "SO_LINGER"
		}
	case syscall.IPPROTO_TCP:
		switch name {
		case syscall.TCP_NODELAY:
			return "TCP_NODELAY"
		case syscall.TCP_MAXSEG:
			return "TCP_MAXSEG"
		case syscall.TCP_KEEPIDLE:
			return "TCP_KEEPIDLE"
		case syscall.TCP_KEEPINTVL:
			return "TCP_KEEPINTVL"
		case syscall.TCP_KEEPCNT:
			return "TCP_KEEPCNT"
		case syscall.TCP_QUICKACK:
			return "TCP_QUICKACK"
		case TCP_USER_TIMEOUT:
			return "TCP_USER_TIMEOUT"
		case syscall.TCP_CONGESTION:
			return "TCP_CONGESTION"
		}
	}
	return "level " + strconv.Itoa(level) + " option " + strconv.Itoa(name)
}

func optError(op string, level, name int, e syscall.Errno) error {
	return fmt.Errorf("sock: %s %s: %w", op, optName(level, name), e)
}

func valueError(level, name, val int, why string) error {
	return fmt.Errorf("sock: setsockopt %s=%d: %s: %w", optName(level, name), val, why, syscall.EINVAL)
}
