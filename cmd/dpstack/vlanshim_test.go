package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/stack/header"
)

// vlanShim is the role that stands in for the kernel's 802.1Q driver,
// which the test machine's kernel is built without (no
// CONFIG_VLAN_8021Q: "ip link add ... type vlan" fails with "Unknown
// device type"). spec is "LOWER/NAME": it creates a TAP interface NAME
// whose frames it sends out of LOWER tagged with VLAN vid, and gives NAME
// the frames of VLAN vid that LOWER receives, untagged, so that the
// kernel's own stack on NAME is the peer on that VLAN, as it would be on
// LOWER.vid. It prints "ready" once NAME exists and runs until its stdin
// closes (at most two minutes).
//
// The kernel's receive path takes the tag off a frame before packet
// sockets see it (skb_vlan_untag) and reports it in PACKET_AUXDATA, so
// the tag is read there; a frame that still carries its tag in its data
// is taken too.
func vlanShim(spec string, vid int) error {
	lower, name, ok := strings.Cut(spec, "/")
	if !ok || vid < 1 || vid > header.VLANIDMask-1 {
		return fmt.Errorf("vlan-shim %q %d: want LOWER/NAME and a VLAN ID", spec, vid)
	}
	tap, err := openTAP(name)
	if err != nil {
		return err
	}
	defer tap.Close()
	ifi, err := net.InterfaceByName(lower)
	if err != nil {
		return err
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("bind to %s: %w", lower, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("PACKET_AUXDATA: %w", err)
	}
	errs := make(chan error, 2)
	go func() { errs <- shimUp(fd, tap, uint16(vid)) }()
	go func() { errs <- shimDown(tap, fd, ifi.Index, uint16(vid)) }()
	fmt.Println("ready")
	select {
	case <-stdinClosed():
		return nil
	case err := <-errs:
		return err
	case <-time.After(2 * time.Minute):
		return nil
	}
}

// shimUp gives the TAP the frames of VLAN vid that the packet socket fd
// receives, untagged.
func shimUp(fd int, tap *os.File, vid uint16) error {
	buf := make([]byte, 1<<16)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, 0)
		if errors.Is(err, unix.ENETDOWN) {
			return nil // LOWER is gone: dpstack stopped
		}
		if err != nil {
			return fmt.Errorf("recvmsg: %w", err)
		}
		if sll, ok := from.(*unix.SockaddrLinklayer); ok && sll.Pkttype == unix.PACKET_OUTGOING {
			continue // what shimDown sent
		}
		frame := buf[:n]
		tci, tagged := auxVLAN(oob[:oobn])
		if !tagged && n >= header.EthernetVLANLen && header.Ethernet(frame).EtherType() == header.EtherTypeVLAN {
			tci, tagged = header.Ethernet(frame).VLANTCI(), true
			copy(frame[header.VLANTagLen:], frame[:12])
			frame = frame[header.VLANTagLen:]
		}
		if !tagged || tci&header.VLANIDMask != vid {
			continue
		}
		if _, err := tap.Write(frame); err != nil && !errors.Is(err, unix.EIO) {
			// EIO: NAME is not up (yet); the frame is lost, as
			// on a link that is down.
			return fmt.Errorf("tap write: %w", err)
		}
	}
}

// auxVLAN reads the tag the kernel took off a received frame from its
// PACKET_AUXDATA control message.
func auxVLAN(oob []byte) (uint16, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
			return aux.Vlan_tci, aux.Status&unix.TP_STATUS_VLAN_VALID != 0
		}
	}
	return 0, false
}

// shimDown sends what the kernel sends on the TAP out of the packet
// socket's interface, tagged with VLAN vid.
func shimDown(tap *os.File, fd, ifindex int, vid uint16) error {
	buf := make([]byte, 1<<16)
	for {
		n, err := tap.Read(buf[header.VLANTagLen:])
		if err != nil {
			return fmt.Errorf("tap read: %w", err)
		}
		if n < header.EthernetLen {
			continue
		}
		eth := header.Ethernet(buf[header.VLANTagLen:])
		dst, src, typ := eth.Dst(), eth.Src(), eth.EtherType()
		frame := header.Ethernet(buf[:n+header.VLANTagLen])
		frame.EncodeVLAN(dst, src, vid, typ)
		to := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
		copy(to.Addr[:], dst[:])
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			return fmt.Errorf("sendto: %w", err)
		}
	}
}

// openTAP creates the TAP interface name (IFF_TAP, IFF_NO_PI), which lasts
// as long as the returned file is open.
func openTAP(name string) (*os.File, error) {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		f.Close()
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(int(f.Fd()), unix.TUNSETIFF, ifr); err != nil {
		f.Close()
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	return f, nil
}

// htons is a 16-bit value in network byte order, as sockaddr_ll wants it.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}
