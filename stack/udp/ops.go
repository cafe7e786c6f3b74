package udp

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
)

// The operations below are the socket's proto_ops (inet_dgram_ops with
// udp_prot) and the datagram calls of sock.DgramOps. Each runs on the
// socket's core and never blocks: EAGAIN, returned bare so that it costs
// no allocation, where the Berkeley call would wait.

// sockAddr is an address and port as an AddrPort.
func sockAddr(a uint32, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(header.U32Addr(a), port)
}

// Bind gives the socket its local address and port (inet_bind,
// udp_v4_get_port): port 0 picks an ephemeral one, the unspecified
// address binds every local address; a broadcast or multicast address may
// be bound too, to receive only what is sent there. Errors: EAFNOSUPPORT,
// EINVAL when already bound, EADDRNOTAVAIL for an address not ours,
// EADDRINUSE (see bindConflict).
func (s *Sock) Bind(addr netip.AddrPort) error {
	if err := sock.CheckFamily(addr); err != nil {
		return err
	}
	addr = sock.Unmap(addr)
	if s.bucket != nil || s.released {
		return fmt.Errorf("udp: bind %v: already bound: %w", addr, syscall.EINVAL)
	}
	var laddr uint32
	if a := addr.Addr(); !a.IsUnspecified() {
		laddr = header.AddrU32(a)
		if s.proto.rt.AddrKind4(laddr) == 0 && !a.IsMulticast() {
			return fmt.Errorf("udp: bind %v: not a local address: %w", addr, syscall.EADDRNOTAVAIL)
		}
	}
	if err := s.proto.bindPort(s, laddr, addr.Port()); err != nil {
		return err
	}
	if laddr != 0 {
		s.UserLocks |= sock.BindAddrLock
	}
	if addr.Port() != 0 {
		s.UserLocks |= sock.BindPortLock
	}
	s.Local = sockAddr(laddr, s.lport)
	return nil
}

// Listen is EOPNOTSUPP: a datagram socket has no connections to accept.
func (s *Sock) Listen(int) error {
	return fmt.Errorf("udp: listen: %w", syscall.EOPNOTSUPP)
}

// Accept is EOPNOTSUPP, as Listen.
func (s *Sock) Accept() (sock.ProtoOps, error) {
	return nil, fmt.Errorf("udp: accept: %w", syscall.EOPNOTSUPP)
}

// Connect sets the socket's default peer (ip4_datagram_connect, RFC 1122
// §4.1.3.4 does not require it; BSD's connected UDP): sends without an
// address go there, and only datagrams from there are received. It does
// not wait and sends nothing. An unbound socket gets an ephemeral port,
// and one bound to the wildcard takes the route's source address. The
// zero AddrPort disconnects (AF_UNSPEC). Errors: EAFNOSUPPORT, the
// route's (ENETUNREACH), EACCES for a broadcast peer without SO_BROADCAST.
func (s *Sock) Connect(addr netip.AddrPort) error {
	if s.released {
		return fmt.Errorf("udp: connect: closed: %w", syscall.EBADF)
	}
	if !addr.IsValid() {
		// udp_disconnect: an address the connect chose goes too.
		s.connected, s.raddr, s.rport = false, 0, 0
		if s.UserLocks&sock.BindAddrLock == 0 {
			s.laddr = 0
		}
		s.Local, s.Remote = sockAddr(s.laddr, s.lport), netip.AddrPort{}
		s.Common.State = sock.Closed
		return nil
	}
	if err := sock.CheckFamily(addr); err != nil {
		return err
	}
	addr = sock.Unmap(addr)
	raddr := header.AddrU32(addr.Addr())
	d, err := s.route(raddr)
	if err != nil {
		return fmt.Errorf("udp: connect %v: %w", addr, err)
	}
	if d.Broadcast && !s.broadcast {
		return fmt.Errorf("udp: connect %v: broadcast without SO_BROADCAST: %w", addr, syscall.EACCES)
	}
	if err := s.autobind(); err != nil {
		return err
	}
	if s.laddr == 0 {
		s.laddr = header.AddrU32(d.Src)
	}
	s.raddr, s.rport, s.connected = raddr, addr.Port(), true
	s.Local, s.Remote = sockAddr(s.laddr, s.lport), addr
	s.Common.State = sock.Established
	return nil
}

// SendMsg sends p as one datagram to the connected peer (udp_sendmsg
// without an address): EDESTADDRREQ when not connected.
func (s *Sock) SendMsg(p []byte, flags int) (int, error) {
	return s.SendTo(p, flags, netip.AddrPort{})
}

// SendTo sends p as one datagram to addr, or to the connected peer when
// addr is the zero AddrPort (udp_sendmsg). It first returns the pending
// error, if any (sock_alloc_send_pskb's sock_error: an ICMP error that
// arrived since the last call), and EPIPE after shutdown for writing.
// See sendTo for the rest.
func (s *Sock) SendTo(p []byte, flags int, addr netip.AddrPort) (int, error) {
	if err := s.SockError(); err != nil {
		return 0, err
	}
	if s.Sock.Shutdown&sock.SendShutdown != 0 || s.released {
		return 0, fmt.Errorf("udp: send: shut down: %w", syscall.EPIPE)
	}
	if !addr.IsValid() {
		if !s.connected {
			return 0, fmt.Errorf("udp: send: not connected: %w", syscall.EDESTADDRREQ)
		}
		return s.sendTo(p, s.raddr, s.rport)
	}
	if err := sock.CheckFamily(addr); err != nil {
		return 0, err
	}
	return s.sendTo(p, header.AddrU32(sock.Unmap(addr).Addr()), addr.Port())
}

// SendBuffer lends room for a datagram of n bytes, in an mbuf, for the
// caller to fill in place; Commit or CommitTo sends it. n is at most what
// one mbuf holds (a larger datagram goes through SendTo). A second
// SendBuffer before the Commit takes the room back.
func (s *Sock) SendBuffer(n int) ([]byte, error) {
	if s.pending != nil {
		s.proto.dev.Free(s.pending)
		s.pending = nil
	}
	b := s.proto.dev.Alloc()
	if b == nil {
		s.proto.stats.SndbufErrors.Inc()
		return nil, fmt.Errorf("udp: send buffer: no mbuf: %w", syscall.ENOBUFS)
	}
	room := b.Put(n)
	if room == nil {
		s.proto.dev.Free(b)
		return nil, fmt.Errorf("udp: send buffer of %d bytes: more than an mbuf holds: %w", n, syscall.EMSGSIZE)
	}
	s.pending = b
	return room, nil
}

// Commit sends the first k bytes of the room SendBuffer lent to the
// connected peer; see CommitTo.
func (s *Sock) Commit(k int) int { return s.CommitTo(k, netip.AddrPort{}) }

// CommitTo sends the first k bytes of the room SendBuffer lent as one
// datagram to addr, or to the connected peer for the zero AddrPort, and
// returns k; 0 when no room is lent, or the datagram cannot go (not
// connected, no route, a broadcast without SO_BROADCAST, an error
// pending), and the room is given back either way.
func (s *Sock) CommitTo(k int, addr netip.AddrPort) int {
	b := s.pending
	if b == nil {
		return 0
	}
	s.pending = nil
	daddr, dport := s.raddr, s.rport
	if addr.IsValid() {
		addr = sock.Unmap(addr)
		daddr, dport = 0, addr.Port()
		if addr.Addr().Is4() {
			daddr = header.AddrU32(addr.Addr())
		}
	}
	d := s.commitRoute(k, b.Len(), daddr, dport)
	if d == nil {
		s.proto.dev.Free(b)
		return 0
	}
	b.Trim(k)
	s.xmit(b, d, daddr, dport)
	return k
}

// commitRoute checks a CommitTo of k bytes of the n lent to daddr:dport
// and returns the route to send along, or nil when the datagram cannot
// go.
func (s *Sock) commitRoute(k, n int, daddr uint32, dport uint16) *route.Dst {
	if k < 0 || k > n || daddr == 0 || dport == 0 || s.Err != 0 || s.autobind() != nil {
		return nil
	}
	d, err := s.route(daddr)
	if err != nil || d.Broadcast && !s.broadcast {
		return nil
	}
	return d
}

// PeekView offers the next queued datagram in place, without consuming
// it: its bytes when they lie in one segment (nil for a reassembled
// datagram, which RecvFrom copies out), its length and its source; ok is
// false when none is queued. The view is valid until the datagram is
// consumed (RecvFrom, with a nil buffer to copy nothing). Its receive
// time becomes the Stamp, as a peek's recvmsg reports it.
func (s *Sock) PeekView() (view []byte, n int, from netip.AddrPort, ok bool) {
	b := s.ReceiveQueue.Front()
	if b == nil {
		return nil, 0, netip.AddrPort{}, false
	}
	s.stamp, s.stampHW = b.RxTime()
	c := cbOf(b)
	if b.Segments() == 1 {
		view = b.Bytes()
	}
	return view, b.Len(), sockAddr(c.saddr, c.sport), true
}

// RecvMsg copies the next datagram into p (udp_recvmsg); see RecvFrom.
func (s *Sock) RecvMsg(p []byte, flags int) (int, error) {
	n, _, err := s.RecvFrom(p, flags)
	return n, err
}

// RecvFrom copies the next datagram into p and returns its length and
// source (udp_recvmsg): a datagram longer than p is cut, the rest of it
// discarded, unless MsgPeek leaves it queued. With MSG_TRUNC the length
// returned is the datagram's whole length, as Linux's. The pending error
// comes first (__skb_try_recv_datagram's sock_error); EAGAIN when nothing
// is queued; 0 and no error after shutdown for reading.
func (s *Sock) RecvFrom(p []byte, flags int) (int, netip.AddrPort, error) {
	if err := s.SockError(); err != nil {
		return 0, netip.AddrPort{}, err
	}
	b := s.ReceiveQueue.Front()
	if b == nil {
		if s.Sock.Shutdown&sock.RcvShutdown != 0 {
			return 0, netip.AddrPort{}, nil
		}
		return 0, netip.AddrPort{}, syscall.EAGAIN
	}
	c := cbOf(b)
	from := sockAddr(c.saddr, c.sport)
	n, dlen := b.ReadAt(p, 0), b.Len()
	s.stamp, s.stampHW = b.RxTime()
	if flags&sock.MsgPeek == 0 {
		s.ReceiveQueue.Unlink(b)
		s.UnchargeR(b)
		s.proto.dev.Free(b)
	}
	if flags&syscall.MSG_TRUNC != 0 {
		n = dlen
	}
	return n, from, nil
}

// Stamp is when the datagram RecvFrom or PeekView last returned was
// received (sock_get_timestamp, SIOCGSTAMP): Unix nanoseconds, and
// whether the port's hardware took it; 0 before the first.
func (s *Sock) Stamp() (ns int64, hw bool) { return s.stamp, s.stampHW }

// ReadView offers each queued datagram to fn, a segment at a time (one,
// unless it was reassembled), and consumes it whatever fn returns: a
// datagram is read once. It returns the bytes fn consumed.
func (s *Sock) ReadView(fn func(data []byte) int) int {
	total := 0
	for b := s.ReceiveQueue.PopFront(); b != nil; b = s.ReceiveQueue.PopFront() {
		for seg := b; seg != nil; seg = seg.Next() {
			total += fn(seg.Bytes())
		}
		s.UnchargeR(b)
		s.proto.dev.Free(b)
	}
	return total
}

// RecvEnd is what a read of the empty receive queue finds: ended after
// shutdown for reading, the pending error, or neither.
func (s *Sock) RecvEnd() (bool, error) {
	if err := s.SockError(); err != nil {
		return false, err
	}
	return s.Sock.Shutdown&sock.RcvShutdown != 0, nil
}

// Shutdown shuts one or both directions (inet_shutdown): the bits are set
// and waiters woken whatever the state, and an unconnected socket is
// ENOTCONN, as Linux answers.
func (s *Sock) Shutdown(how int) error {
	bits, err := sock.ShutdownHow(how)
	if err != nil {
		return err
	}
	s.Sock.Shutdown |= bits
	s.StateChange()
	s.DataReady()
	if !s.connected {
		return fmt.Errorf("udp: shutdown: not connected: %w", syscall.ENOTCONN)
	}
	return nil
}

// LocalAddr is the bound address and port.
func (s *Sock) LocalAddr() netip.AddrPort { return s.Local }

// RemoteAddr is the connected peer.
func (s *Sock) RemoteAddr() netip.AddrPort { return s.Remote }

// Sk is the socket's sock.
func (s *Sock) Sk() *sock.Sock { return &s.Sock }

// Info reports the state only: UDP has no connection state to describe.
func (s *Sock) Info() sock.TCPInfo { return sock.TCPInfo{State: s.Common.State} }

// Close releases the socket (udp_lib_close, udp_destroy_sock): it leaves
// its groups (ip_mc_drop_socket), its port goes back, its queued
// datagrams are freed. A group whose leave could not reach the host's
// membership (ENOBUFS: the speaker core's inbox full) stays joined on
// the host; nothing is there to report it to.
func (s *Sock) Close() {
	if s.released {
		return
	}
	s.released = true
	_ = s.proto.ip.DropSocket(&s.mc.ms)
	if s.pending != nil {
		s.proto.dev.Free(s.pending)
		s.pending = nil
	}
	s.proto.unbind(s)
	s.PurgeQueues(s.proto.dev.Free)
	s.Orphan()
	s.proto.mem.AddSocket(-1)
}
