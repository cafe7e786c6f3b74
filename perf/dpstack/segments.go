package dpstack

import "github.com/dpstack/dpstack/stack"

// segments is the number of TCP segments both hosts have sent, on every
// core, retransmissions included (as gVisor's SegmentsSent counts them).
func (p *pair) segments() uint64 {
	var n uint64
	for _, h := range []*stack.Host{p.server, p.client} {
		for _, s := range h.Stacks() {
			st := s.TCP().Stats()
			n += st.OutSegs.Load() + st.RetransSegs.Load()
		}
	}
	return n
}
