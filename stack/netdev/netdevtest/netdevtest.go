// Package netdevtest gives tests a device transmit queue that records what
// a stack layer sends instead of putting it on a port.
package netdevtest

import "github.com/dpstack/dpstack/mbuf"

// TxRecorder is a netdev.TxQueue that keeps every frame it is given, or
// frees them at once when Discard is set (for allocation counts).
type TxRecorder struct {
	Frames  []*mbuf.Buf
	Discard *mbuf.Cache
	Sent    int
}

// Enqueue records or discards b and always accepts it.
func (q *TxRecorder) Enqueue(b *mbuf.Buf) bool {
	q.Sent++
	if q.Discard != nil {
		q.Discard.Free(b)
		return true
	}
	q.Frames = append(q.Frames, b)
	return true
}
