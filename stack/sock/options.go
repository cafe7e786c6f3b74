package sock

import (
	"fmt"
	"strconv"
	"syscall"
)

// Option names that Go's syscall package lacks (Linux values). The others
// are syscall's: SO_REUSEADDR, SO_RCVBUF, SO_SNDBUF, SO_KEEPALIVE,
// SO_LINGER, SO_ERROR, TCP_NODELAY, TCP_MAXSEG, TCP_KEEPIDLE,
// TCP_KEEPINTVL, TCP_KEEPCNT, TCP_QUICKACK, TCP_CONGESTION, IP_OPTIONS, at
// levels syscall.SOL_SOCKET, syscall.IPPROTO_TCP and syscall.IPPROTO_IP.
const (
	// SO_REUSEPORT lets sockets bind the same address and port
	// (include/uapi/asm-generic/socket.h).
	SO_REUSEPORT = 0xf
	// TCP_USER_TIMEOUT bounds how long transmitted data may stay
	// unacknowledged before the connection is aborted, in milliseconds
	// (RFC 5482; include/uapi/linux/tcp.h).
	TCP_USER_TIMEOUT = 0x12
	// IP_MULTICAST_ALL lets a socket receive the groups the host joined
	// for other sockets (include/uapi/linux/in.h).
	IP_MULTICAST_ALL = 0x31
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
// them; they are set through SetOption, SetOptionLinger and
// SetOptionString, which validate.
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
	// IPOptions is IP_OPTIONS: the options every IPv4 header of the
	// socket carries, checked and padded to a multiple of 4; nil for
	// none. SetOptionBytes replaces the slice and never writes into it,
	// so a copy of Options may share it.
	IPOptions []byte
}

// SetOption sets the integer-valued option name at level (setsockopt):
// syscall.SOL_SOCKET or syscall.IPPROTO_TCP. A bad value is EINVAL and
// changes nothing; an unknown level or name, or SO_ERROR (read-only), is
// ENOPROTOOPT. SO_LINGER, TCP_CONGESTION and IP_OPTIONS are not integers:
// they are EINVAL here, set through SetOptionLinger, SetOptionString and
// SetOptionBytes. Errors wrap a syscall.Errno.
//
// As in Linux, SO_RCVBUF and SO_SNDBUF cap the value at RmemMax/WmemMax,
// double it (for the bookkeeping overhead, since the limits count Truesize)
// and raise it to SockMinRcvBuf/SockMinSndBuf, and lock the size against
// automatic tuning (RcvBufLock, SndBufLock). Unlike Linux, which treats a
// negative size as a huge unsigned one, a negative size is EINVAL.
func (s *Sock) SetOption(level, name int, val int) error {
	if err := checkKind("setsockopt", level, name, optInt); err != nil {
		return err
	}
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
	default:
		return optError("setsockopt", level, name, syscall.ENOPROTOOPT)
	}
	return nil
}

// GetOption reads the integer-valued option name at level (getsockopt).
// Booleans read 0 or 1. SO_ERROR returns the pending error and clears it,
// as SockError, or else the soft error (ErrSoft), also cleared, as
// Linux's sock_getsockopt does. TCP_MAXSEG reads what was set (0 for none); the transport
// reports the MSS in use where it knows it. An unknown level or name is
// ENOPROTOOPT; SO_LINGER and TCP_CONGESTION are EINVAL here, read through
// GetOptionLinger and GetOptionString.
func (s *Sock) GetOption(level, name int) (int, error) {
	if err := checkKind("getsockopt", level, name, optInt); err != nil {
		return 0, err
	}
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
			if e == 0 {
				e, s.ErrSoft = s.ErrSoft, 0
			}
			return int(e), nil
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
		}
	}
	return 0, optError("getsockopt", level, name, syscall.ENOPROTOOPT)
}

// SetOptionLinger sets SO_LINGER (struct linger, syscall.Linger): with
// Onoff set, closing waits up to Linger seconds for unsent data to go, and
// 0 seconds aborts with a RST (RFC 9293 §3.10.4 ABORT). Turning it off
// keeps the old time, as Linux does. A negative time with Onoff set is
// EINVAL (Linux would read it as unsigned, i.e. for ever). Any other
// option is EINVAL (another kind) or ENOPROTOOPT (unknown).
func (s *Sock) SetOptionLinger(level, name int, l syscall.Linger) error {
	if err := checkKind("setsockopt", level, name, optLinger); err != nil {
		return err
	}
	if l.Onoff == 0 {
		s.Options.LingerOn = false
		return nil
	}
	if l.Linger < 0 {
		return valueError(level, name, int(l.Linger), "negative linger time")
	}
	s.Options.LingerOn = true
	s.Options.LingerSecs = int(l.Linger)
	return nil
}

// GetOptionLinger reads SO_LINGER: Onoff 1 or 0, and the time in seconds.
func (s *Sock) GetOptionLinger(level, name int) (syscall.Linger, error) {
	if err := checkKind("getsockopt", level, name, optLinger); err != nil {
		return syscall.Linger{}, err
	}
	return syscall.Linger{Onoff: int32(b2i(s.Options.LingerOn)), Linger: int32(s.Options.LingerSecs)}, nil
}

// SetOptionString sets a string-valued option: TCP_CONGESTION, the
// congestion control by name, where a name not registered is ENOENT
// (tcp_set_congestion_control) and changes nothing. The transport switches
// algorithms when it next looks at the name. Any other option is EINVAL
// (another kind) or ENOPROTOOPT (unknown).
func (s *Sock) SetOptionString(level, name int, val string) error {
	if err := checkKind("setsockopt", level, name, optString); err != nil {
		return err
	}
	if !CongestionRegistered(val) {
		return fmt.Errorf("sock: setsockopt TCP_CONGESTION=%q: no such algorithm: %w", val, syscall.ENOENT)
	}
	s.Options.Congestion = val
	return nil
}

// GetOptionString reads a string-valued option: TCP_CONGESTION.
func (s *Sock) GetOptionString(level, name int) (string, error) {
	if err := checkKind("getsockopt", level, name, optString); err != nil {
		return "", err
	}
	return s.Options.Congestion, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// optKind is the type of an option's value, what optval points at.
type optKind uint8

const (
	optInt    optKind = iota + 1 // int (booleans as 0 or 1)
	optString                    // a name: TCP_CONGESTION
	optLinger                    // struct linger: SO_LINGER
	optBytes                     // raw bytes: IP_OPTIONS
	optMReq                      // struct ip_mreqn, ip_mreq_source: MReq
)

// optKey is an option's level and name.
type optKey struct{ level, name int }

// options are the options dpstack knows, with their names for messages and
// the kind of their value.
var options = map[optKey]struct {
	name string
	kind optKind
}{
	{syscall.SOL_SOCKET, syscall.SO_REUSEADDR}:    {"SO_REUSEADDR", optInt},
	{syscall.SOL_SOCKET, SO_REUSEPORT}:            {"SO_REUSEPORT", optInt},
	{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE}:    {"SO_KEEPALIVE", optInt},
	{syscall.SOL_SOCKET, syscall.SO_RCVBUF}:       {"SO_RCVBUF", optInt},
	{syscall.SOL_SOCKET, syscall.SO_SNDBUF}:       {"SO_SNDBUF", optInt},
	{syscall.SOL_SOCKET, syscall.SO_ERROR}:        {"SO_ERROR", optInt},
	{syscall.SOL_SOCKET, syscall.SO_LINGER}:       {"SO_LINGER", optLinger},
	{syscall.IPPROTO_TCP, syscall.TCP_NODELAY}:    {"TCP_NODELAY", optInt},
	{syscall.IPPROTO_TCP, syscall.TCP_MAXSEG}:     {"TCP_MAXSEG", optInt},
	{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE}:   {"TCP_KEEPIDLE", optInt},
	{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL}:  {"TCP_KEEPINTVL", optInt},
	{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT}:    {"TCP_KEEPCNT", optInt},
	{syscall.IPPROTO_TCP, syscall.TCP_QUICKACK}:   {"TCP_QUICKACK", optInt},
	{syscall.IPPROTO_TCP, TCP_USER_TIMEOUT}:       {"TCP_USER_TIMEOUT", optInt},
	{syscall.IPPROTO_TCP, syscall.TCP_CONGESTION}: {"TCP_CONGESTION", optString},
	{syscall.IPPROTO_IP, syscall.IP_OPTIONS}:      {"IP_OPTIONS", optBytes},

	{syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP}:         {"IP_ADD_MEMBERSHIP", optMReq},
	{syscall.IPPROTO_IP, syscall.IP_DROP_MEMBERSHIP}:        {"IP_DROP_MEMBERSHIP", optMReq},
	{syscall.IPPROTO_IP, syscall.IP_ADD_SOURCE_MEMBERSHIP}:  {"IP_ADD_SOURCE_MEMBERSHIP", optMReq},
	{syscall.IPPROTO_IP, syscall.IP_DROP_SOURCE_MEMBERSHIP}: {"IP_DROP_SOURCE_MEMBERSHIP", optMReq},
	{syscall.IPPROTO_IP, syscall.IP_BLOCK_SOURCE}:           {"IP_BLOCK_SOURCE", optMReq},
	{syscall.IPPROTO_IP, syscall.IP_UNBLOCK_SOURCE}:         {"IP_UNBLOCK_SOURCE", optMReq},
	{syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF}:           {"IP_MULTICAST_IF", optMReq},
	{syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL}:          {"IP_MULTICAST_TTL", optInt},
	{syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP}:         {"IP_MULTICAST_LOOP", optInt},
	{syscall.IPPROTO_IP, IP_MULTICAST_ALL}:                  {"IP_MULTICAST_ALL", optInt},
}

// checkKind refuses an option the stack does not know (ENOPROTOOPT) and
// one whose value is of another kind than want (EINVAL, as Linux does for
// an optlen that does not fit).
func checkKind(op string, level, name int, want optKind) error {
	o, ok := options[optKey{level, name}]
	switch {
	case !ok:
		return optError(op, level, name, syscall.ENOPROTOOPT)
	case o.kind != want:
		return fmt.Errorf("sock: %s %s: %s-valued: %w", op, o.name, o.kind, syscall.EINVAL)
	}
	return nil
}

func (k optKind) String() string {
	switch k {
	case optInt:
		return "integer"
	case optString:
		return "string"
	case optBytes:
		return "bytes"
	case optMReq:
		return "ip_mreq"
	}
	return "struct linger"
}

// optName names an option for error messages.
func optName(level, name int) string {
	if o, ok := options[optKey{level, name}]; ok {
		return o.name
	}
	return "level " + strconv.Itoa(level) + " option " + strconv.Itoa(name)
}

func optError(op string, level, name int, e syscall.Errno) error {
	return fmt.Errorf("sock: %s %s: %w", op, optName(level, name), e)
}

func valueError(level, name, val int, why string) error {
	return fmt.Errorf("sock: setsockopt %s=%d: %s: %w", optName(level, name), val, why, syscall.EINVAL)
}
