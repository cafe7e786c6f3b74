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
// (dev_mc_sync): its multicast filter or, when the driver has none
// (ENOTSUP) or it is too small (ENOSPC), all-multicast from then on. It
// runs on core 0, off the data path: a change of membership is a
// control-plane event. net_tap takes the list and filters nothing (the
// TAP hands over every frame the kernel sends it); a ring pair has
// neither, and takes every frame anyway.
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
		slog.Warn("stack: multicast filter, all-multicast instead", "err", err)
	}
	h.allMulti = true
	if err := h.port.AllMulticast(true); err != nil && !errors.Is(err, syscall.ENOTSUP) {
		slog.Warn("stack: all-multicast", "err", err)
	}
}

// Multicast is the host's multicast membership.
func (h *Host) Multicast() *ipv4.MCHost { return h.mc }
