package stacktest

import (
	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
)

// ringSize is the depth of each ring of a link, in packets.
const ringSize = 1024

// Link joins two ports: a ring pair, or a fault wire (two ring pairs and
// the wire's Poll between them).
type Link struct {
	Rings *dpdk.RingPair  // the direct link, or nil
	Wire  *faultwire.Wire // the faulty link, or nil
}

// NewRings returns a direct link. With csumOffload its ports offer TCP
// checksum offload, as Linux leaves TCP checksums to loopback and veth:
// nothing in between can change a packet.
func NewRings(name string, csumOffload bool) (*Link, error) {
	rp, err := dpdk.NewRingPair(name, ringSize)
	if err != nil {
		return nil, err
	}
	if csumOffload {
		rp.OffloadTCPChecksums()
	}
	return &Link{Rings: rp}, nil
}

// NewWire returns a fault wire with faults ab from A to B and ba back,
// its copies taken from pool, its random decisions drawn from seed.
func NewWire(name string, pool *mbuf.Pool, ab, ba faultwire.Faults, seed int64) (*Link, error) {
	w, err := faultwire.New(name, pool, ab, ba, seed)
	if err != nil {
		return nil, err
	}
	return &Link{Wire: w}, nil
}

// Ports are the link's ends, for a host each.
func (l *Link) Ports() (a, b *dpdk.Port) {
	if l.Wire != nil {
		return l.Wire.A, l.Wire.B
	}
	return l.Rings.A, l.Rings.B
}

// Poll runs the wire at now; a ring pair needs no turn of its own.
func (l *Link) Poll(now ktime.Time) {
	if l.Wire != nil {
		l.Wire.Poll(now)
	}
}

// Mend clears the wire's faults both ways, so that what is sent from now
// on arrives.
func (l *Link) Mend() error {
	if l.Wire == nil {
		return nil
	}
	if err := l.Wire.SetFaults(faultwire.AToB, faultwire.Faults{}); err != nil {
		return err
	}
	return l.Wire.SetFaults(faultwire.BToA, faultwire.Faults{})
}

// Close releases the link. The hosts on it close first.
func (l *Link) Close() error {
	if l.Wire != nil {
		return l.Wire.Close()
	}
	return l.Rings.Close()
}
