package udp

import "github.com/dpstack/dpstack/stack/sock"

// Dump calls fn with every bound socket of the core (udp_dump): connected
// ones as Established, the others as Closed (ss's UNCONN), with the bytes
// waiting to be read as Recv-Q. It runs on the core; fn must not keep d
// past its call.
func (p *Proto) Dump(fn func(d *sock.Diag)) {
	var d sock.Diag
	for _, b := range p.binds {
		for _, s := range b.socks {
			d = sock.Diag{Proto: "udp", State: sock.Closed, Local: s.Local, Remote: s.Remote,
				RecvQ: s.ReceiveQueue.Bytes()}
			if s.connected {
				d.State = sock.Established
			}
			fn(&d)
		}
	}
}
