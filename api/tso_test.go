package api_test

import (
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/netdev"
)

// TestTransferTSO: over net_tap, which offers TSO through DPDK's GSO
// library, dpstack sends 64 MiB to the kernel as large segments that the
// port cuts; what arrives is byte-exact, the counters show the large
// segments and their MSS-sized pieces, and the pool is back at its
// baseline (newPeer's cleanup).
func TestTransferTSO(t *testing.T) {
	p := newPeer(t)
	tcp := p.h.Stacks()[0].TCP()
	require.True(t, p.h.Stacks()[0].Device().Features.Has(netdev.TxTSO), "net_tap offers TSO")
	before, piecesBefore := tcp.Stats().TSOSegs.Load(), tcp.Stats().TSOPieces.Load()

	serve(t, listen(t, p.h, ":5003"), func(c net.Conn) error {
		_, err := io.CopyN(c, stream(3), transferSize)
		return err
	})
	out := p.run(t, "recv", env(host(5003))...)
	assert.Equal(t, fmt.Sprintf("%s %d", streamSum(3, transferSize), transferSize), out)

	segs := tcp.Stats().TSOSegs.Load() - before
	pieces := tcp.Stats().TSOPieces.Load() - piecesBefore
	t.Logf("%d large segments, %d pieces (%.1f per segment)", segs, pieces, float64(pieces)/float64(max(segs, 1)))
	assert.Positive(t, segs, "large segments sent")
	assert.Greater(t, pieces, 2*segs, "each large segment is several MSS-sized ones")
}
