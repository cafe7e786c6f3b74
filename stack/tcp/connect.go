package tcp

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
)

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
		p.fl.Src = header.U32Addr(s.tuple.laddr)
	}
	p.fl.Proto, p.fl.DstPort, p.fl.SrcPort, p.fl.TOS = header.IPProtoTCP, addr.Port(), 0, 0
	d, err := p.rt.Lookup(&p.fl)
	if err == nil && (d.Local || d.Broadcast || d.Multicast) {
		err = syscall.ENETUNREACH
	}
	if err != nil {
		return fmt.Errorf("tcp: connect %v: %w", addr, err)
	}
	laddr := header.AddrU32(d.Src)
	raddr := header.AddrU32(addr.Addr())
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
	*c = cb{seq: s.snd.iss, endSeq: s.snd.iss.Add(1), flags: flagSYN}
	s.ChargeW(syn)
	s.WriteQueue.PushBack(syn)
	s.sendHead = syn
	s.hash()
	s.setState(sock.SynSent)
	p.stats.ActiveOpens.Inc()
	if !s.transmitNew(syn) {
		s.arm(&s.rtxT, s.now().Add(s.currentRTO()))
	}
	p.flushEvents()
	return syscall.EINPROGRESS
}

// connectInit sets up the sequence numbers and options of an active open
// (tcp_connect_init).
func (s *Sock) connectInit(mtu int) {
	p := s.proto
	s.snd.iss = seqFrom(p.isn(s.tuple))
	s.tsOff = p.tsOffset(s.tuple)
	s.snd.una = s.snd.iss
	s.snd.nxt = s.snd.iss
	s.snd.writeSeq = s.snd.iss.Add(1)
	s.snd.sml = s.snd.iss
	s.advMSS = advMSSFor(mtu, s.Options.MaxSeg)
	s.peerMSS = defaultMSS
	s.rcvWscale = p.rcvWscaleFor(&s.Sock)
	s.rcv.wnd = min(winFromSpace(s.RcvBuf), 0xffff)
	s.rcvMSS = min(s.advMSS, defaultMSS)
	s.rto = initialRTO
	s.setMSS()
}

// setMSS settles the send MSS (tcp_sync_mss): the peer's MSS, the route's
// MTU (the path MTU, route.Table.UpdatePMTU) less 40 and TCP_MAXSEG, less
// the option space every segment carries, TCP's and IP's (RFC 6691 §2: the
// MSS counts data only; Linux's icsk_ext_hdr_len), no more than
// packetization-layer PMTUD allows (mtu.go), and the window clamp. The MTU
// it used is remembered (icsk_pmtu_cookie), so that output notices when
// the route's changes (currentMSS).
func (s *Sock) setMSS() {
	mtu := 1500
	if d := s.route(); d != nil {
		mtu = mtuOf(d)
	}
	s.pmtuCookie = mtu
	m := min(s.peerMSS, mtu-ipTCPHeaders)
	if s.Options.MaxSeg > 0 {
		m = min(m, s.Options.MaxSeg)
	}
	m -= s.tsLen() + s.extHdrLen()
	if s.mtup.enabled {
		s.mtup.searchHigh = min(s.mtup.searchHigh, mtu)
		m = min(m, s.mtuToMSS(s.mtup.searchLow))
	}
	s.mss = max(m, minMSS)
	if s.advMSS == 0 {
		s.advMSS = advMSSFor(mtu, s.Options.MaxSeg)
	}
	if s.rcvMSS == 0 {
		s.rcvMSS = min(s.advMSS, defaultMSS)
	}
	s.rcv.clamp = min(winFromSpace(s.proto.rcvSpaceMax(&s.Sock)), 0xffff<<s.rcvWscale)
}

// initTransfer starts data transfer on entering ESTABLISHED
// (tcp_init_transfer): the congestion control, the RTO after a
// retransmitted SYN (RFC 6298 §5.7), the buffers' autotuning, keepalives.
func (s *Sock) initTransfer() {
	s.connected = true
	s.initCongestion()
	s.recover = s.snd.iss // RFC 6582 §3.2: "initialized to the initial send sequence number"
	s.inRecovery = false
	if s.synRetrans && s.srtt == 0 {
		s.rto = fallbackRTO
	}
	s.rcvTstamp = s.now()
	s.expandSndBuf()
	s.initRcvSpace()
	s.armKeepalive()
}
