// Package netdev is one core's view of a network device (struct
// net_device with the core's queue pair): its addresses and offloads, the
// core's mbuf cache, where its packets go out, and its drop counters.
//
// Every layer of a core's stack holds the same *Device; it is owned by that
// core and not safe for concurrent use.
package netdev

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// Features are the offloads a port offers and dpstack enabled.
type Features uint32

// The offloads the stack uses.
const (
	RxIPv4Cksum  Features = 1 << iota // the port checks IPv4 header checksums
	RxL4Cksum                         // the port checks TCP/UDP checksums
	TxIPv4Cksum                       // the port fills IPv4 header checksums
	TxTCPCksum                        // the port fills TCP checksums
	TxUDPCksum                        // the port fills UDP checksums
	TxTSO                             // the port cuts large TCP segments (mbuf.Buf.SetTSO)
	TxVLANInsert                      // the port inserts the 802.1Q tag (mbuf.Buf.SetVLANTCI)
)

// Has reports whether every feature in f is on.
func (f Features) Has(want Features) bool { return f&want == want }

// TxQueue takes packets for transmission: the core's batch in front of one
// port tx queue. Enqueue takes ownership of b when it returns true.
type TxQueue interface {
	Enqueue(b *mbuf.Buf) bool
}

// Config describes a device to New.
type Config struct {
	Name   string
	PortID uint16
	Queue  uint16
	MAC    header.MAC
	MTU    int
	TSOMTU int
	// VLAN is the 802.1Q VLAN ID the device sends and receives on, 0 for
	// none (untagged frames).
	VLAN     uint16
	Features Features
	Cache    *mbuf.Cache
	TxQueue  TxQueue
}

// Device is one core's handle on a port.
type Device struct {
	Name   string
	PortID uint16
	Queue  uint16
	MAC    header.MAC
	MTU    int // largest IP packet, without the Ethernet header
	// TSOMTU is the largest IP packet the port's TSO cuts (with TxTSO):
	// the MTU, or less where the port counts more against it (net_tap's
	// GSO counts the Ethernet header).
	TSOMTU int
	// VLAN is the device's 802.1Q VLAN ID, 0 for none (Linux's
	// vlan_dev_priv(dev)->vlan_id, the device and its VLAN being one
	// here): frames go out tagged with it and only frames tagged with it
	// come in.
	VLAN uint16
	// HardHeaderLen is the link-layer header this device writes in front
	// of a packet (dev->hard_header_len): the Ethernet header, with the
	// 802.1Q tag when the device tags in software.
	HardHeaderLen int
	Features      Features
	Cache         *mbuf.Cache
	Drops         stat.Drops
	Stats         Stats

	txq TxQueue
}

// Stats are the device-level packet counts of one core.
type Stats struct {
	RxFrames stat.Counter `stat:"rx_frames"`
	TxFrames stat.Counter `stat:"tx_frames"`
}

// New returns a device.
func New(cfg Config) *Device {
	return &Device{
		Name:          cfg.Name,
		PortID:        cfg.PortID,
		Queue:         cfg.Queue,
		MAC:           cfg.MAC,
		MTU:           cfg.MTU,
		TSOMTU:        cfg.TSOMTU,
		VLAN:          cfg.VLAN,
		HardHeaderLen: HardHeaderLen(cfg.VLAN, cfg.Features),
		Features:      cfg.Features,
		Cache:         cfg.Cache,
		txq:           cfg.TxQueue,
	}
}

// HardHeaderLen is the link-layer header a device on VLAN vlan (0: none)
// with features f writes: the Ethernet header, and the 802.1Q tag unless
// the port inserts it (TxVLANInsert).
func HardHeaderLen(vlan uint16, f Features) int {
	if vlan != 0 && !f.Has(TxVLANInsert) {
		return header.EthernetVLANLen
	}
	return header.EthernetLen
}

// Alloc returns an empty mbuf with the default headroom, or nil when the
// pool is exhausted: the caller counts a DropNoMbuf for what it could not
// send.
func (d *Device) Alloc() *mbuf.Buf { return d.Cache.Get() }

// Drop counts a drop of b for reason r and frees it (kfree_skb_reason).
func (d *Device) Drop(b *mbuf.Buf, r stat.DropReason) {
	d.Drops.Inc(r)
	d.Cache.Free(b)
}

// Free releases b without counting a drop: the packet was consumed
// (consume_skb).
func (d *Device) Free(b *mbuf.Buf) { d.Cache.Free(b) }

// Xmit sends a complete frame (dev_queue_xmit). It takes ownership of b.
// A TSO frame (mbuf.Buf.SetTSO) may be larger than the MTU: the port cuts
// it (the size of its pieces is the sender's to keep within the MTU).
func (d *Device) Xmit(b *mbuf.Buf) {
	if b.Len() > d.MTU+d.HardHeaderLen && b.TSOSegSize() == 0 {
		d.Drop(b, stat.DropFrameTooBig)
		return
	}
	if !d.txq.Enqueue(b) {
		d.Drop(b, stat.DropTxQueueFull)
		return
	}
	d.Stats.TxFrames.Inc()
}

// XmitEther prepends an Ethernet header from this device to dst and sends
// the frame. It takes ownership of b. On a VLAN the frame is tagged
// (vlan_dev_hard_header): by the port where it inserts tags, else with
// the tag pushed into the headroom with the header.
func (d *Device) XmitEther(b *mbuf.Buf, dst header.MAC, etherType uint16) {
	h := b.Push(d.HardHeaderLen)
	if h == nil {
		d.Drop(b, stat.DropNoHeadroom)
		return
	}
	switch {
	case d.HardHeaderLen == header.EthernetVLANLen:
		header.Ethernet(h).EncodeVLAN(dst, d.MAC, d.VLAN, etherType)
	case d.VLAN != 0:
		b.SetVLANTCI(d.VLAN)
		fallthrough
	default:
		header.Ethernet(h).Encode(dst, d.MAC, etherType)
	}
	d.Xmit(b)
}
