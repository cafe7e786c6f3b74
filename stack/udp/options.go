package udp

import (
	"fmt"
	"syscall"

	"github.com/dpstack/dpstack/stack/ipv4"
)

// SetSockOpt sets an integer option (udp_setsockopt, ip_setsockopt,
// sock_setsockopt). UDP's own: SO_BROADCAST (sending to a broadcast
// address, RFC 1122 §4.1.3.6 leaves it to the application), IP_TOS (the
// TOS octet of every datagram, RFC 791 §3.1; unlike Linux a value past a
// byte is EINVAL rather than cut) and IP_TTL (1 to 255, or -1 for the
// default, as Linux), and the multicast ones (IP_MULTICAST_TTL,
// IP_MULTICAST_LOOP, IP_MULTICAST_ALL: setMcastInt). The rest are the socket's (sock.Sock.SetOption):
// SO_RCVBUF, SO_SNDBUF, SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE; TCP's
// level is ENOPROTOOPT.
//
// SO_SNDBUF is kept and read back but bounds nothing: a datagram goes to
// the port's transmit batch when sent, and no socket holds it.
func (s *Sock) SetSockOpt(level, name, val int) error {
	switch {
	case level == syscall.SOL_SOCKET && name == syscall.SO_BROADCAST:
		s.broadcast = val != 0
	case level == syscall.IPPROTO_IP && name == syscall.IP_TOS:
		if val < 0 || val > 0xff {
			return fmt.Errorf("udp: setsockopt IP_TOS=%d: out of range 0..255: %w", val, syscall.EINVAL)
		}
		s.tos = uint8(val)
	case level == syscall.IPPROTO_IP && name == syscall.IP_TTL:
		if val != -1 && (val < 1 || val > 0xff) {
			return fmt.Errorf("udp: setsockopt IP_TTL=%d: out of range 1..255: %w", val, syscall.EINVAL)
		}
		s.ttl = uint8(max(val, 0))
	case level == syscall.IPPROTO_TCP:
		return fmt.Errorf("udp: setsockopt level IPPROTO_TCP: %w", syscall.ENOPROTOOPT)
	case level == syscall.IPPROTO_IP:
		if ok, err := s.setMcastInt(name, val); ok {
			return err
		}
		return s.SetOption(level, name, val)
	default:
		return s.SetOption(level, name, val)
	}
	return nil
}

// GetSockOpt reads an integer option: those SetSockOpt sets, IP_TTL as the
// TTL datagrams leave with.
func (s *Sock) GetSockOpt(level, name int) (int, error) {
	switch {
	case level == syscall.SOL_SOCKET && name == syscall.SO_BROADCAST:
		if s.broadcast {
			return 1, nil
		}
		return 0, nil
	case level == syscall.IPPROTO_IP && name == syscall.IP_TOS:
		return int(s.tos), nil
	case level == syscall.IPPROTO_IP && name == syscall.IP_TTL:
		if s.ttl == 0 {
			return ipv4.DefaultTTL, nil
		}
		return int(s.ttl), nil
	case level == syscall.IPPROTO_TCP:
		return 0, fmt.Errorf("udp: getsockopt level IPPROTO_TCP: %w", syscall.ENOPROTOOPT)
	case level == syscall.IPPROTO_IP:
		if v, ok := s.mcastInt(name); ok {
			return v, nil
		}
	}
	return s.GetOption(level, name)
}

// SetSockOptString is ENOPROTOOPT: UDP has no string option.
func (s *Sock) SetSockOptString(level, name int, val string) error {
	return fmt.Errorf("udp: setsockopt level %d option %d: %w", level, name, syscall.ENOPROTOOPT)
}

// GetSockOptString is ENOPROTOOPT, as SetSockOptString.
func (s *Sock) GetSockOptString(level, name int) (string, error) {
	return "", fmt.Errorf("udp: getsockopt level %d option %d: %w", level, name, syscall.ENOPROTOOPT)
}

// SetSockOptLinger sets SO_LINGER, which Linux keeps on any socket and
// which changes nothing for UDP: nothing waits to be sent at close.
func (s *Sock) SetSockOptLinger(level, name int, l syscall.Linger) error {
	return s.SetOptionLinger(level, name, l)
}

// GetSockOptLinger reads SO_LINGER.
func (s *Sock) GetSockOptLinger(level, name int) (syscall.Linger, error) {
	return s.GetOptionLinger(level, name)
}

// SetSockOptBytes is ENOPROTOOPT: IP_OPTIONS on datagrams is not done.
func (s *Sock) SetSockOptBytes(level, name int, val []byte) error {
	return fmt.Errorf("udp: setsockopt level %d option %d: %w", level, name, syscall.ENOPROTOOPT)
}

// GetSockOptBytes is ENOPROTOOPT, as SetSockOptBytes.
func (s *Sock) GetSockOptBytes(level, name int) ([]byte, error) {
	return nil, fmt.Errorf("udp: getsockopt level %d option %d: %w", level, name, syscall.ENOPROTOOPT)
}
