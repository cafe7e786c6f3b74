package faultwire_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/faultwire"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// TestOffloadTSO: a TSO frame of 2,500 bytes of payload, its headers in
// one mbuf and its data in two more, with a tso_segsz of 1,000, leaves the
// wire as three frames, as a NIC would cut it: each with its own Total
// Length, the Identification counting up, the sequence number of its
// data, CWR on the first piece only and PSH and FIN on the last only, and
// valid checksums; the data is the frame's, in order.
func TestOffloadTSO(t *testing.T) {
	r := newRig(t, faultwire.Faults{}, faultwire.Faults{}, 1)
	r.w.OffloadTSO()
	const hdr, mss, total = header.EthernetLen + header.IPv4MinLen + header.TCPMinLen, 1000, 2500
	payload := make([]byte, total)
	for i := range payload {
		payload[i] = byte(i * 7)
	}

	h := r.pool.Alloc()
	require.NotNil(t, h)
	f := h.Put(hdr)
	header.Ethernet(f).Encode(macB, macA, header.EtherTypeIPv4)
	header.IPv4(f[header.EthernetLen:]).Encode(header.IPv4Fields{TotalLen: hdr - header.EthernetLen + total,
		ID: 40, TTL: 64, Protocol: header.IPProtoTCP, Src: ipA, Dst: ipB, Flags: header.IPv4FlagDF})
	header.TCP(f[header.EthernetLen+header.IPv4MinLen:]).Encode(header.TCPFields{SrcPort: 1, DstPort: 2, SeqNum: 5000,
		DataOffset: header.TCPMinLen, Flags: header.TCPFlagACK | header.TCPFlagPSH | header.TCPFlagFIN | header.TCPFlagCWR, Window: 100})
	for _, part := range [][]byte{payload[:1500], payload[1500:]} {
		d := r.pool.Alloc()
		require.NotNil(t, d)
		copy(d.Put(len(part)), part)
		require.True(t, h.Chain(d))
	}
	h.SetTSO(header.TCPMinLen, mss)
	h.SetTxOffload(header.EthernetLen, header.IPv4MinLen, header.TCPMinLen, mbuf.TxIPv4|mbuf.TxIPCksum)
	r.vec[0] = h
	require.Equal(t, 1, r.w.A.TxBurst(0, r.vec[:1]))
	r.step(time.Microsecond)
	got := r.recv(r.w.B)

	require.Len(t, got, 3, "%+v", r.w.Stats(faultwire.AToB))
	want := []struct {
		n     int
		flags uint8
	}{
		{1000, header.TCPFlagACK | header.TCPFlagCWR},
		{1000, header.TCPFlagACK},
		{500, header.TCPFlagACK | header.TCPFlagPSH | header.TCPFlagFIN},
	}
	var data []byte
	for i, fr := range got {
		require.Len(t, fr, hdr+want[i].n, "piece %d", i)
		ip := header.IPv4(fr[header.EthernetLen:])
		assert.Equal(t, uint16(header.IPv4MinLen+header.TCPMinLen+want[i].n), ip.TotalLen(), "piece %d", i)
		assert.Equal(t, uint16(40+i), ip.ID(), "piece %d", i)
		assert.True(t, ip.IsChecksumValid(), "piece %d IPv4 checksum", i)
		tcp := header.TCP(ip[header.IPv4MinLen:ip.TotalLen()])
		assert.Equal(t, uint32(5000+i*mss), tcp.SeqNum(), "piece %d", i)
		assert.Equal(t, want[i].flags, tcp.Flags(), "piece %d", i)
		sum := header.PseudoHeaderSum(ipA, ipB, header.IPProtoTCP, uint16(len(tcp)))
		assert.True(t, tcp.IsChecksumValid(sum), "piece %d TCP checksum", i)
		data = append(data, tcp[header.TCPMinLen:]...)
	}
	assert.Equal(t, payload, data)
	assert.Equal(t, uint64(3), r.w.Stats(faultwire.AToB).Forwarded)
}
