package tcp

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// The operations below are the socket's proto_ops (inet_stream_ops with
// tcp_prot). Each runs on the socket's core, never blocks, and reports
// through an error wrapping a syscall.Errno. Where the Berkeley call would
// wait, they return EAGAIN (EINPROGRESS for Connect) and the socket's
// callbacks say when to try again. The frequent EAGAIN and EINPROGRESS are
// returned bare, so that they cost no allocation.

// Bind gives the socket its local address and port (inet_bind): a port of
// 0 picks a free ephemeral one; the unspecified address binds every local
// address. Errors: EAFNOSUPPORT for an address not IPv4, EINVAL when
// already bound, EADDRNOTAVAIL for an address that is not ours,
// EADDRINUSE when the port is taken (see bindConflict for SO_REUSEADDR and
// SO_REUSEPORT).
func (s *Sock) Bind(addr netip.AddrPort) error {
	if err := sock.CheckFamily(addr); err != nil {
		return err
	}
	addr = sock.Unmap(addr)
	if s.bucket != nil || s.Common.State != sock.Closed || s.released {
		return fmt.Errorf("tcp: bind %v: already bound: %w", addr, syscall.EINVAL)
	}
	a := addr.Addr()
	var laddr uint32
	if !a.IsUnspecified() {
		if !s.proto.rt.IsLocal(a) {
			return fmt.Errorf("tcp: bind %v: not a local address: %w", addr, syscall.EADDRNOTAVAIL)
		}
		laddr = header.AddrU32(a)
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
	s.Local = netip.AddrPortFrom(header.U32Addr(laddr), s.tuple.lport)
	return nil
}

// Listen makes the socket accept connections, at most backlog+1 of them
// waiting for Accept and backlog in the SYN queue (inet_listen); backlog
// is capped at SoMaxConn. An unbound socket gets an ephemeral port
// first. Listening again changes the backlog. Errors: EINVAL when the
// socket is connected or closed; EADDRINUSE when another socket listens on
// an overlapping address without SO_REUSEPORT on both.
func (s *Sock) Listen(backlog int) error {
	if backlog < 0 || backlog > SoMaxConn {
		backlog = SoMaxConn
	}
	switch {
	case s.Common.State == sock.Listen:
		s.lq.backlog = backlog
		return nil
	case s.Common.State != sock.Closed || s.released || s.Remote.IsValid():
		return fmt.Errorf("tcp: listen: socket is %v: %w", s.Common.State, syscall.EINVAL)
	}
	p := s.proto
	if s.bucket == nil {
		if err := p.bindPort(s, 0, 0); err != nil {
			return err
		}
		s.Local = netip.AddrPortFrom(netip.IPv4Unspecified(), s.tuple.lport)
	} else {
		// inet_csk_listen_start checks the port again as a listener.
		s.Common.State = sock.Listen
		conflict := bindConflict(s, s.bucket, s.tuple.laddr)
		s.Common.State = sock.Closed
		if conflict {
			return fmt.Errorf("tcp: listen %v: %w", s.Local, syscall.EADDRINUSE)
		}
	}
	if s.lq == nil {
		s.lq = &listenQueue{}
	}
	s.lq.backlog = backlog
	p.listen(s)
	s.setState(sock.Listen)
	return nil
}

// Accept is accept for the socket layer (sock.ProtoOps).
func (s *Sock) Accept() (sock.ProtoOps, error) {
	c, err := s.accept()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// accept takes the oldest established connection off the accept queue
// (inet_csk_accept): a socket holding one reference for the caller, with
// no callbacks yet. Errors: EAGAIN when the queue is empty (DataReady on
// the listener says when it is not); EINVAL when not listening.
func (s *Sock) accept() (*Sock, error) {
	if s.Common.State != sock.Listen {
		return nil, fmt.Errorf("tcp: accept: not listening: %w", syscall.EINVAL)
	}
	q := s.lq.accept
	if len(q) == 0 {
		return nil, syscall.EAGAIN
	}
	c := q[0]
	copy(q, q[1:])
	q[len(q)-1] = nil
	s.lq.accept = q[:len(q)-1]
	return c, nil
}

// wmemMax caps the send buffer's automatic growth (net.ipv4.tcp_wmem[2]).
const wmemMax = 4 << 20

// expandSndBuf grows the send buffer to hold two congestion windows of
// segments, at least initialCwnd (tcp_sndbuf_expand), unless the user set
// SO_SNDBUF or the core is under memory pressure, and up to wmemMax: a connection can keep its window full
// while the oldest segments wait for their ACK.
func (s *Sock) expandSndBuf() {
	if s.UserLocks&sock.SndBufLock != 0 || s.Mem.UnderPressure() {
		return // tcp_should_expand_sndbuf
	}
	per := s.proto.truesize
	if per == 0 {
		per = mbuf.DefaultDataRoom
	}
	if want := min(2*int(max(s.cwnd, initialCwnd))*per, wmemMax); s.SndBuf < want {
		s.SndBuf = want
	}
}

// SendMsg queues bytes of p for sending (tcp_sendmsg) and returns how many
// it took: it fills the unsent tail segment, then new segments of up to
// one MSS, while the send buffer has room, and pushes them out. Errors,
// checked in Linux's order: the pending error (ECONNRESET ...) once, then
// EPIPE after shutdown for writing, close or reset; ENOTCONN before
// Connect; EAGAIN while connecting or when the buffer is full with nothing
// taken (NoSpace is then set and WriteSpace follows). With sock.MsgForce
// it takes all of p, past the buffer's limit, while there are mbufs.
func (s *Sock) SendMsg(p []byte, flags int) (int, error) {
	if err := s.sendCheck(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	force := flags&sock.MsgForce != 0
	q := &s.WriteQueue
	s.currentMSS()
	goal := s.sizeGoal()
	n := 0
	for n < len(p) {
		if tail := q.Back(); tail != nil && s.sendHead != nil && tail != s.pend {
			c := cbOf(tail)
			if room := appendRoom(tail, goal); room > 0 && c.flags&(flagSYN|flagFIN) == 0 {
				k := min(room, len(p)-n)
				copy(tail.Put(k), p[n:n+k])
				q.Adjust(k)
				c.endSeq = c.endSeq.Add(seqSize(k))
				s.snd.writeSeq = s.snd.writeSeq.Add(seqSize(k))
				n += k
				continue
			}
		}
		b := s.newSegment(force)
		if b == nil {
			break
		}
		k := min(goal, len(p)-n, b.Tailroom())
		copy(b.Put(k), p[n:n+k])
		s.appendSegment(b, k)
		n += k
	}
	if n > 0 {
		s.push()
		s.proto.flushEvents()
		return n, nil
	}
	return 0, syscall.EAGAIN
}

// sendCheck is SendMsg's state check.
func (s *Sock) sendCheck() error {
	if s.Err != 0 {
		return s.SockError()
	}
	if s.Sock.Shutdown&sock.SendShutdown != 0 || s.released {
		return syscall.EPIPE
	}
	switch s.Common.State {
	case sock.Established, sock.CloseWait:
		return nil
	case sock.SynSent, sock.SynRecv:
		return syscall.EAGAIN
	case sock.Closed:
		if s.connected {
			return syscall.EPIPE
		}
	}
	return fmt.Errorf("tcp: send: socket is %v: %w", s.Common.State, syscall.ENOTCONN)
}

// newSegment allocates an empty segment for the write queue when the send
// buffer has room for it (always, with force, while there are mbufs), or
// sets NoSpace and returns nil.
func (s *Sock) newSegment(force bool) *mbuf.Buf {
	p := s.proto
	if force || p.truesize == 0 || s.WmemSchedule(p.truesize) {
		if b := p.alloc(); b != nil {
			p.truesize = sock.Truesize(b)
			if force || s.WmemSchedule(p.truesize) {
				return b
			}
			p.free(b)
		}
	}
	s.NoSpace = true
	return nil
}

// appendRoom is how many bytes a send may add to the unsent tail segment
// of the write queue: up to goal, in its tailroom, and none when its
// buffer is shared (a segment spliced in from a receive queue whose
// sender still holds a clone of it), whose tail another may still write.
func appendRoom(tail *mbuf.Buf, goal int) int {
	if tail.RefCount() != 1 {
		return 0
	}
	return min(goal-tail.Len(), tail.Tailroom())
}

// appendSegment puts a new segment of n bytes at the tail of the write
// queue.
func (s *Sock) appendSegment(b *mbuf.Buf, n int) { s.queueSegment(b, seqSize(n), 0) }

// queueSegment puts b at the tail of the write queue, taking size
// sequence numbers with flags (data, or the FIN's one), charged to the
// send buffer.
func (s *Sock) queueSegment(b *mbuf.Buf, size seqnum.Size, flags uint8) {
	c := cbOf(b)
	*c = cb{seq: s.snd.writeSeq, endSeq: s.snd.writeSeq.Add(size), flags: flags}
	s.snd.writeSeq = c.endSeq
	s.ChargeW(b)
	s.WriteQueue.PushBack(b)
	if s.sendHead == nil {
		s.sendHead = b
	}
}

// SendBuffer returns a writable region of up to n bytes at the tail of the
// write queue, for the zero-copy callback API: the room left in the unsent
// tail segment, or a new segment's (at most one MSS). Commit queues what
// was written; until then the region is the caller's. Errors are
// SendMsg's.
func (s *Sock) SendBuffer(n int) ([]byte, error) {
	if err := s.sendCheck(); err != nil {
		return nil, err
	}
	s.abandonPending()
	if n <= 0 {
		return nil, nil
	}
	s.currentMSS()
	goal := s.sizeGoal()
	if tail := s.WriteQueue.Back(); tail != nil && s.sendHead != nil {
		c := cbOf(tail)
		if room := appendRoom(tail, goal); room > 0 && c.flags&(flagSYN|flagFIN) == 0 {
			k := min(room, n)
			s.pend, s.pendLen, s.pendNew = tail, k, false
			return tail.Put(k), nil
		}
	}
	b := s.newSegment(false)
	if b == nil {
		return nil, syscall.EAGAIN
	}
	k := min(goal, n, b.Tailroom())
	s.pend, s.pendLen, s.pendNew = b, k, true
	return b.Put(k), nil
}

// Commit queues the first k bytes of the region SendBuffer returned and
// pushes them out; the rest of the region is released. It returns how
// many bytes it queued.
func (s *Sock) Commit(k int) int {
	b := s.pend
	if b == nil {
		return 0
	}
	k = min(max(k, 0), s.pendLen)
	b.Trim(b.Len() - (s.pendLen - k))
	isNew := s.pendNew
	s.pend, s.pendLen, s.pendNew = nil, 0, false
	if isNew {
		if k == 0 {
			s.proto.free(b)
			return 0
		}
		s.appendSegment(b, k)
	} else if k > 0 {
		s.WriteQueue.Adjust(k)
		c := cbOf(b)
		c.endSeq = c.endSeq.Add(seqSize(k))
		s.snd.writeSeq = s.snd.writeSeq.Add(seqSize(k))
	}
	if k > 0 && s.sendCheck() == nil {
		s.push()
		s.proto.flushEvents()
	}
	return k
}

// RecvMsg copies received bytes into p (tcp_recvmsg), consuming them
// unless flags has sock.MsgPeek, and sends a window update when reading
// opened the window enough. With nothing to read it returns, in Linux's
// order: (0, nil) at end of stream (the peer's FIN, once the data is
// read); the pending error (ECONNRESET ...) once; (0, nil) after a reset
// or shutdown for reading; ENOTCONN when not connected (or listening);
// EAGAIN otherwise (DataReady follows).
func (s *Sock) RecvMsg(p []byte, flags int) (int, error) {
	if s.Common.State == sock.Listen {
		return 0, fmt.Errorf("tcp: recv: listening: %w", syscall.ENOTCONN)
	}
	if len(p) == 0 {
		return 0, nil
	}
	peek := flags&sock.MsgPeek != 0
	if n := s.CopyFromReceiveQueue(p, peek, s.proto.freeFn); n > 0 {
		if !peek {
			s.cleanupRbuf(n)
			s.proto.flushEvents()
		}
		return n, nil
	}
	if ended, err := s.RecvEnd(); ended || err != nil {
		return 0, err
	}
	return 0, syscall.EAGAIN
}

// RecvEnd is what a read of the empty receive queue finds, without the
// read: ended, with a nil error, at the end of the stream (the peer's FIN
// or a shutdown for reading); the error pending on the socket, or
// ENOTCONN once it is closed; neither while more data may come (where
// RecvMsg says EAGAIN). The callback API asks it after each delivery.
func (s *Sock) RecvEnd() (ended bool, err error) {
	switch {
	case s.Done:
		return true, nil
	case s.Err != 0:
		return false, s.SockError()
	case s.Sock.Shutdown&sock.RcvShutdown != 0:
		return true, nil
	case s.Common.State == sock.Closed:
		return false, fmt.Errorf("tcp: recv: %w", syscall.ENOTCONN)
	}
	return false, nil
}

// ReadView is the zero-copy receive of the callback API: it calls fn with
// the contiguous bytes at the head of the receive queue, one segment's
// worth at a time, while fn consumes all it is given and more is queued;
// fn returns how many bytes it consumed. It returns the total consumed,
// and sends a window update when reading opened the window enough. The
// slice is valid only during fn. A segment that arrived as a chain was
// queued one mbuf at a time (chain.go), so fn gets one slice per mbuf;
// the queue holds nothing else.
func (s *Sock) ReadView(fn func(data []byte) int) int {
	q := &s.ReceiveQueue
	total := 0
	for b := q.Front(); b != nil && b.Segments() == 1; b = q.Front() {
		data := b.Bytes()
		k := min(max(fn(data), 0), len(data))
		total += k
		if k < len(data) {
			b.Pull(k)
			q.Adjust(-k)
			break
		}
		q.Unlink(b)
		s.UnchargeR(b)
		s.proto.free(b)
	}
	if total > 0 {
		s.cleanupRbuf(total)
		s.proto.flushEvents()
	}
	return total
}

// SetSockOpt sets an integer option (setsockopt) through sock.Sock's
// validation and applies what takes effect at once: TCP_NODELAY pushes
// what Nagle held back; TCP_QUICKACK on sends an owed ACK and leaves
// interactive mode, off enters it; SO_KEEPALIVE and the TCP_KEEP* times
// (re)start the keepalive timer; TCP_MAXSEG before connecting clamps the
// MSS advertised.
func (s *Sock) SetSockOpt(level, name, val int) error {
	if err := s.SetOption(level, name, val); err != nil {
		return err
	}
	if level == syscall.IPPROTO_TCP {
		switch name {
		case syscall.TCP_NODELAY:
			if val != 0 {
				s.push()
			}
		case syscall.TCP_QUICKACK:
			if val != 0 {
				s.setPingpong(false)
				s.quick = maxQuickAcks
				if s.ackPending && s.synchronized() {
					s.sendAck()
				}
			} else {
				s.setPingpong(true)
			}
		case syscall.TCP_KEEPIDLE, syscall.TCP_KEEPINTVL, syscall.TCP_KEEPCNT:
			s.armKeepalive()
		}
	}
	if level == syscall.SOL_SOCKET && name == syscall.SO_KEEPALIVE {
		if val != 0 {
			s.armKeepalive()
		} else {
			s.keepT.on = false
		}
	}
	s.proto.flushEvents()
	return nil
}

// SetSockOptBytes sets a bytes option (setsockopt): IP_OPTIONS, validated
// by sock.Sock.SetOptionBytes. Every segment the socket sends from then on
// carries them, and a socket with a route (connecting or connected)
// settles its MSS again at once, as Linux's do_ip_setsockopt calls
// tcp_sync_mss; segments cut to the old MSS, unsent or to be sent again,
// are cut to the new one as they go out (fitMSS).
func (s *Sock) SetSockOptBytes(level, name int, val []byte) error {
	if err := s.SetOptionBytes(level, name, val); err != nil {
		return err
	}
	if s.dst != nil {
		s.setMSS()
	}
	return nil
}

// GetSockOptBytes reads a bytes option: IP_OPTIONS.
func (s *Sock) GetSockOptBytes(level, name int) ([]byte, error) {
	return s.GetOptionBytes(level, name)
}

// SetSockOptLinger sets SO_LINGER; Close reads it.
func (s *Sock) SetSockOptLinger(level, name int, l syscall.Linger) error {
	return s.SetOptionLinger(level, name, l)
}

// GetSockOptLinger reads SO_LINGER.
func (s *Sock) GetSockOptLinger(level, name int) (syscall.Linger, error) {
	return s.GetOptionLinger(level, name)
}

// GetSockOpt reads an integer option (getsockopt). TCP_MAXSEG reads the
// MSS in use once connected, as Linux does.
func (s *Sock) GetSockOpt(level, name int) (int, error) {
	if level == syscall.IPPROTO_TCP && name == syscall.TCP_MAXSEG && s.connected {
		return s.mss, nil
	}
	return s.GetOption(level, name)
}
