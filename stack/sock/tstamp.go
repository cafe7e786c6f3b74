package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Receive timestamps as control messages: what recvmsg(2) puts in its
// ancillary data for a socket with SO_TIMESTAMPING or SO_TIMESTAMPNS set
// (Linux's __sock_recv_timestamp, put_cmsg), in the same layout, so that a
// Go program parses the OOB bytes of ReadMsgUDPAddrPort as it would the
// kernel's (unix.ParseSocketControlMessage, syscall's alike). A transport
// fills them from the receive time of the datagram's mbuf
// (mbuf.Buf.RxTime).

// TimestampingSpace is the room an SCM_TIMESTAMPING message takes in the
// OOB buffer (CMSG_SPACE of struct scm_timestamping).
var TimestampingSpace = unix.CmsgSpace(int(unsafe.Sizeof(unix.ScmTimestamping{})))

// TimestampNSSpace is the room an SCM_TIMESTAMPNS message takes (CMSG_SPACE
// of a struct timespec).
var TimestampNSSpace = unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))

// PutTimestamping writes into oob an SCM_TIMESTAMPING control message for
// a packet received at ns nanoseconds since the Unix epoch, and returns
// the bytes written; 0 when oob has no room for it, which recvmsg reports
// as MSG_CTRUNC. As Linux fills struct scm_timestamping, a software time
// goes in ts[0] (SOF_TIMESTAMPING_SOFTWARE) and a hardware one in ts[2]
// (SOF_TIMESTAMPING_RAW_HARDWARE), the others left zero. It does not
// allocate.
func PutTimestamping(oob []byte, ns int64, hw bool) int {
	var ts unix.ScmTimestamping
	if hw {
		ts.Ts[2] = unix.NsecToTimespec(ns)
	} else {
		ts.Ts[0] = unix.NsecToTimespec(ns)
	}
	return putCmsg(oob, unix.SCM_TIMESTAMPING, unsafe.Pointer(&ts), unsafe.Sizeof(ts))
}

// PutTimestampNS writes into oob an SCM_TIMESTAMPNS control message (one
// struct timespec, SO_TIMESTAMPNS) for a packet received at ns, and returns
// the bytes written, 0 when oob has no room. It does not allocate.
func PutTimestampNS(oob []byte, ns int64) int {
	ts := unix.NsecToTimespec(ns)
	return putCmsg(oob, unix.SCM_TIMESTAMPNS, unsafe.Pointer(&ts), unsafe.Sizeof(ts))
}

// putCmsg writes a SOL_SOCKET control message of type typ carrying the n
// bytes at data into oob (put_cmsg), padded to CMSG_SPACE, and returns its
// space, or 0 without room.
func putCmsg(oob []byte, typ int32, data unsafe.Pointer, n uintptr) int {
	space := unix.CmsgSpace(int(n))
	if len(oob) < space {
		return 0
	}
	// Copied as bytes: oob need not be aligned for a Cmsghdr.
	h := unix.Cmsghdr{Level: unix.SOL_SOCKET, Type: typ}
	h.SetLen(unix.CmsgLen(int(n)))
	copy(oob, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)))
	clear(oob[unsafe.Sizeof(h):unix.CmsgLen(0)])
	off := unix.CmsgLen(0)
	copy(oob[off:space], unsafe.Slice((*byte)(data), n))
	clear(oob[off+int(n) : space])
	return space
}
