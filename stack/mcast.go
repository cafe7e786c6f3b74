package stack

import (
	"errors"
	"log/slog"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
)

// newMCHost builds the host's multicast membership (ARCHITECTURE.md §3):
// core 0 speaks IGMP, a socket's change on another core is posted to
// core 0's loop, and core 0 gives the port the groups' Ethernet addresses.
func (h *Host) newMCHost() *ipv4.MCHost {
	run := func(fn func()) bool { return h.stacks[0].loop.Post(fn) }
	return ipv4.NewMCHost(run, h.setMcFilter)
}

// setMcFilter gives the port the Ethernet addresses of the joined groups
// (dev_mc_sync): its multicast filter, or all-multicast when the driver
// has none (ENOTSUP). It runs on core 0, off the data path: a change of
// membership is a control-plane event.
func (h *Host) setMcFilter(macs []header.MAC) {
	if h.allMulti {
		return
	}
	list := make([][6]byte, len(macs))
	for i, m := range macs {
		list[i] = m
	}
	err := h.port.SetMcAddrList(list)
	if err == nil {
		return
	}
	if !errors.Is(err, syscall.ENOTSUP) {
		slog.Warn("stack: multicast filter", "err", err)
	}
	if err := h.port.AllMulticast(true); err != nil {
		slog.Warn("stack: all-multicast", "err", err)
		return
	}
	h.allMulti = true
}

// Multicast is the host's multicast membership.
func (h *Host) Multicast() *ipv4.MCHost { return h.mc }
