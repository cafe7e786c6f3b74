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
		laddr = addrU32(a)
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
	s.Local = netip.AddrPortFrom(u32Addr(laddr), s.tuple.lport)
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
		s.backlog = backlog
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
	s.backlog = backlog
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
	if len(s.acceptQ) == 0 {
		return nil, syscall.EAGAIN
	}
	c := s.acceptQ[0]
	copy(s.acceptQ, s.acceptQ[1:])
	s.acceptQ[len(s.acceptQ)-1] = nil
	s.acceptQ = s.acceptQ[:len(s.acceptQ)-1]
	return c, nil
}

// Connect starts an active open to addr (inet_stream_connect, tcp_v4_connect):
// it picks the route, the source address (the bound one, or the route's),
// the source port (the bound one, or one by RFC 6056), the ISS (RFC
// 6528), sends the SYN and returns EINPROGRESS. The handshake's end is
// signalled by StateChange: ESTABLISHED, or CLOSED with SockError set
// (ECONNREFUSED, ETIMEDOUT ...). Errors: EAFNOSUPPORT, EISCONN (connected,
// or listening), EALREADY (connecting), ENETUNREACH (no route; also our
// own addresses and broadcasts: there is no loopback), EADDRNOTAVAIL (no
// free port, or the bound port already has this 4-tuple), ENOBUFS; after
// a failed attempt, its error (or ECONNABORTED): a socket connects once.
func (s *Sock) Connect(addr netip.AddrPort) error {
	if err := sock.CheckFamily(addr); err != nil {
		return err
	}
	addr = sock.Unmap(addr)
	switch st := s.Common.State; {
	case st == sock.SynSent:
		return fmt.Errorf("tcp: connect %v: %w", addr, syscall.EALREADY)
	case st != sock.Closed || s.connected || s.released:
		return fmt.Errorf("tcp: connect %v: %w", addr, syscall.EISCONN)
	case s.active:
		// A socket connects once. After a failed attempt Linux answers
		// the next connect with the pending error (or ECONNABORTED) and
		// only then lets the socket try again; dpstack stops at the
		// answer: open a new socket to retry.
		if err := s.SockError(); err != nil {
			return fmt.Errorf("tcp: connect %v: %w", addr, err)
		}
		return fmt.Errorf("tcp: connect %v: %w", addr, syscall.ECONNABORTED)
	}
	p := s.proto
	p.fl.Dst, p.fl.Src = addr.Addr(), netip.Addr{}
	if s.tuple.laddr != 0 {
		p.fl.Src = u32Addr(s.tuple.laddr)
	}
	p.fl.Proto, p.fl.DstPort, p.fl.SrcPort, p.fl.TOS = header.IPProtoTCP, addr.Port(), 0, 0
	d, err := p.rt.Lookup(&p.fl)
	if err == nil && (d.Local || d.Broadcast || d.Multicast) {
		err = syscall.ENETUNREACH
	}
	if err != nil {
		return fmt.Errorf("tcp: connect %v: %w", addr, err)
	}
	laddr := addrU32(d.Src)
	raddr := addrU32(addr.Addr())
	if s.bucket != nil {
		t := fourTuple{laddr, raddr, s.tuple.lport, addr.Port()}
		if p.tupleInUse(t) || !p.flowAdd(t) {
			return fmt.Errorf("tcp: connect %v from port %d: %w", addr, t.lport, syscall.EADDRNOTAVAIL)
		}
		s.tuple.laddr = laddr
	} else {
		port, ok := p.connectPort(laddr, raddr, addr.Port())
		if !ok {
			return fmt.Errorf("tcp: connect %v: no free local port: %w", addr, syscall.EADDRNOTAVAIL)
		}
		p.bindConnect(s, laddr, port)
	}
	syn := p.alloc()
	if syn == nil {
		p.flowDel(fourTuple{laddr, raddr, s.tuple.lport, addr.Port()})
		if s.UserLocks&sock.BindPortLock == 0 {
			p.unbind(s)
		}
		return fmt.Errorf("tcp: connect %v: %w", addr, syscall.ENOBUFS)
	}
	s.tuple.raddr, s.tuple.rport = raddr, addr.Port()
	s.Local = netip.AddrPortFrom(d.Src, s.tuple.lport)
	s.Remote = addr
	s.dst = d
	s.active = true
	s.connectInit(mtuOf(d))
	c := cbOf(syn)
	*c = cb{seq: s.iss, endSeq: s.iss.Add(1), flags: flagSYN}
	s.ChargeW(syn)
	s.WriteQueue.PushBack(syn)
	s.sendHead = syn
	s.hash()
	s.setState(sock.SynSent)
	p.stats.ActiveOpens.Inc()
	if !s.transmit(syn) {
		s.arm(&s.rtxT, s.now().Add(s.currentRTO()))
	}
	p.flushEvents()
	return syscall.EINPROGRESS
}

// connectInit sets up the sequence numbers and options of an active open
// (tcp_connect_init).
func (s *Sock) connectInit(mtu int) {
	p := s.proto
	s.iss = seqFrom(p.isn(s.tuple))
	s.tsOff = p.tsOffset(s.tuple)
	s.sndUna = s.iss
	s.sndNxt = s.iss
	s.writeSeq = s.iss.Add(1)
	s.sndSml = s.iss
	s.advMSS = advMSSFor(mtu, s.Options.MaxSeg)
	s.peerMSS = defaultMSS
	s.rcvWscale = rcvWscaleFor(s.RcvBuf)
	s.rcvWnd = min(winFromSpace(s.RcvBuf), 0xffff)
	s.rcvMSS = min(s.advMSS, defaultMSS)
	s.rto = initialRTO
	s.setMSS()
}

// setMSS settles the send MSS (tcp_sync_mss): the peer's MSS, the route's
// MTU less 40 and TCP_MAXSEG, less the option space every segment carries
// (RFC 6691 §2: the MSS counts data only), and the window clamp.
func (s *Sock) setMSS() {
	mtu := 1500
	if d := s.route(); d != nil {
		mtu = mtuOf(d)
	}
	m := min(s.peerMSS, mtu-ipTCPHeaders)
	if s.Options.MaxSeg > 0 {
		m = min(m, s.Options.MaxSeg)
	}
	s.mss = max(m-s.tsLen(), minMSS)
	if s.advMSS == 0 {
		s.advMSS = advMSSFor(mtu, s.Options.MaxSeg)
	}
	if s.rcvMSS == 0 {
		s.rcvMSS = min(s.advMSS, defaultMSS)
	}
	s.rcvClamp = min(winFromSpace(max(s.RcvBuf, 2*sock.RmemMax)), 0xffff<<s.rcvWscale)
}

// initTransfer starts data transfer on entering ESTABLISHED
// (tcp_init_transfer): the congestion control, the RTO after a
// retransmitted SYN (RFC 6298 §5.7), keepalives.
func (s *Sock) initTransfer() {
	s.connected = true
	s.initCongestion()
	s.recover = s.iss // RFC 6582 §3.2: "initialized to the initial send sequence number"
	s.inRecovery = false
	if s.synRetrans && s.srtt == 0 {
		s.rto = fallbackRTO
	}
	s.rcvTstamp = s.now()
	s.expandSndBuf()
	s.armKeepalive()
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
	goal := s.sizeGoal()
	n := 0
	for n < len(p) {
		if tail := q.Back(); tail != nil && s.sendHead != nil && tail != s.pend {
			c := cbOf(tail)
			if room := min(goal-tail.Len(), tail.Tailroom()); room > 0 && c.flags&(flagSYN|flagFIN) == 0 {
				k := min(room, len(p)-n)
				copy(tail.Put(k), p[n:n+k])
				q.Adjust(k)
				c.endSeq = c.endSeq.Add(seqSize(k))
				s.writeSeq = s.writeSeq.Add(seqSize(k))
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

// appendSegment puts a new segment of n bytes at the tail of the write
// queue.
func (s *Sock) appendSegment(b *mbuf.Buf, n int) { s.queueSegment(b, seqSize(n), 0) }

// queueSegment puts b at the tail of the write queue, taking size
// sequence numbers with flags (data, or the FIN's one), charged to the
// send buffer.
func (s *Sock) queueSegment(b *mbuf.Buf, size seqnum.Size, flags uint8) {
	c := cbOf(b)
	*c = cb{seq: s.writeSeq, endSeq: s.writeSeq.Add(size), flags: flags}
	s.writeSeq = c.endSeq
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
	goal := s.sizeGoal()
	if tail := s.WriteQueue.Back(); tail != nil && s.sendHead != nil {
		c := cbOf(tail)
		if room := min(goal-tail.Len(), tail.Tailroom()); room > 0 && c.flags&(flagSYN|flagFIN) == 0 {
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
		s.writeSeq = s.writeSeq.Add(seqSize(k))
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
// slice is valid only during fn. (Received segments are single mbufs; a
// multi-segment packet, which TCP never queues, would stop the walk.)
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

// Shutdown shuts one or both directions (inet_shutdown, tcp_shutdown): how
// is syscall.SHUT_RD, SHUT_WR or SHUT_RDWR. Shutting the write side sends
// a FIN after the queued data (RFC 9293 §3.10.4 CLOSE); shutting the read
// side makes RecvMsg return end of stream once the queue is read. A
// listener shut for reading stops listening; a connect in progress is
// abandoned. Errors: EINVAL for a bad how; ENOTCONN when not connected.
func (s *Sock) Shutdown(how int) error {
	bits, err := sock.ShutdownHow(how)
	if err != nil {
		return err
	}
	switch s.Common.State {
	case sock.Closed:
		return fmt.Errorf("tcp: shutdown: %w", syscall.ENOTCONN)
	case sock.Listen:
		if bits&sock.RcvShutdown != 0 {
			s.stopListen()
			s.setState(sock.Closed)
		}
	case sock.SynSent:
		s.Err = syscall.ECONNRESET
		s.done()
	default:
		s.Sock.Shutdown |= bits
		if bits&sock.SendShutdown != 0 {
			s.abandonPending()
			if s.closeState() {
				s.sendFin()
			}
		}
		s.wake(evState)
	}
	s.proto.flushEvents()
	return nil
}

// closeState moves to the state after a close of the sending side
// (tcp_close_state, RFC 9293 §3.10.4) and reports whether a FIN is due:
// SYN-RECEIVED and ESTABLISHED to FIN-WAIT-1, CLOSE-WAIT to LAST-ACK;
// SYN-SENT to CLOSED without one.
func (s *Sock) closeState() bool {
	switch s.Common.State {
	case sock.SynRecv, sock.Established:
		s.setState(sock.FinWait1)
		return true
	case sock.CloseWait:
		s.setState(sock.LastAck)
		return true
	case sock.SynSent:
		s.done()
	}
	return false
}

// sendFin queues our FIN after the data (tcp_send_fin): on the unsent
// tail segment when there is one, else on a segment of its own; then
// pushes. Without an mbuf the FIN stays due and goes with the next push.
func (s *Sock) sendFin() {
	if s.finQueued {
		return
	}
	s.finPending = true
	s.queueFin()
	s.push()
}

// queueFin puts the pending FIN on the write queue.
func (s *Sock) queueFin() {
	if !s.finPending {
		return
	}
	if tail := s.WriteQueue.Back(); tail != nil && s.sendHead != nil && tail != s.pend {
		c := cbOf(tail)
		if c.flags&(flagSYN|flagFIN) == 0 {
			c.flags |= flagFIN
			c.endSeq = c.endSeq.Add(1)
			s.writeSeq = s.writeSeq.Add(1)
			s.finPending, s.finQueued = false, true
			return
		}
	}
	b := s.proto.alloc()
	if b == nil {
		if !s.rtxT.on {
			s.arm(&s.rtxT, s.now().Add(s.currentRTO()))
		}
		return
	}
	s.queueSegment(b, 1, flagFIN)
	s.finPending, s.finQueued = false, true
}

// Close is close(2) (tcp_close): the user gives the socket up and must
// not touch it again. The socket is orphaned (no more callbacks) and the
// connection finishes alone: a FIN after the queued data, then the rest
// of the close handshake with its timers (FIN-WAIT-2 times out after
// Config.FinTimeout). It is aborted with a RST instead (RFC 9293 §3.10.4
// ABORT, RFC 2525 §2.17) when unread data is discarded, with SO_LINGER
// on and a time of 0, or when the sockets are at their memory limit; one
// orphan more than Config.MaxOrphans resets the oldest (trimOrphans). (A non-zero linger time, which makes a blocking
// close wait, is the API layer's to honour.) A listener resets the
// connections it never handed out.
func (s *Sock) Close() {
	if s.released {
		return
	}
	p := s.proto
	s.released = true
	s.abandonPending()
	s.Sock.Shutdown = sock.ShutdownMask
	s.orphan()
	s.events = 0
	unread := s.ReceiveQueue.Bytes() > 0
	s.purgeReceive()
	switch st := s.Common.State; {
	case st == sock.Closed:
	case st == sock.Listen:
		s.stopListen()
		s.setState(sock.Closed)
	case unread:
		p.stats.AbortOnClose.Inc()
		s.abort()
	case s.Options.LingerOn && s.Options.LingerSecs == 0:
		p.stats.AbortOnLinger.Inc()
		s.abort()
	case p.memExhausted():
		p.stats.AbortOnMemory.Inc()
		s.abort()
	default:
		if s.closeState() {
			s.sendFin()
		}
		if s.Common.State == sock.FinWait2 {
			s.arm(&s.keepT, s.now().Add(p.finTimeout))
		}
	}
	if s.Common.State == sock.Closed {
		s.destroy()
	}
	p.trimOrphans()
	p.flushEvents()
}

// abort resets the connection from our side (tcp_disconnect): a RST when
// the peer may still think it connected (tcp_need_reset), then CLOSED.
func (s *Sock) abort() {
	switch s.Common.State {
	case sock.Established, sock.CloseWait, sock.FinWait1, sock.FinWait2, sock.SynRecv:
		s.sendActiveReset()
	}
	s.done()
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

// GetSockOpt reads an integer option (getsockopt). TCP_MAXSEG reads the
// MSS in use once connected, as Linux does.
func (s *Sock) GetSockOpt(level, name int) (int, error) {
	if level == syscall.IPPROTO_TCP && name == syscall.TCP_MAXSEG && s.connected {
		return s.mss, nil
	}
	return s.GetOption(level, name)
}
