package api

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
)

// TestLatestRx: a delivery of the first n bytes of a receive queue takes
// the latest receive time of the segments that hold them, whatever their
// order, and none beyond.
func TestLatestRx(t *testing.T) {
	p := dpdktest.Pool(t, 63)
	var q mbuf.Queue
	for i, at := range []int64{300, 500, 400, 900} {
		b := p.Alloc()
		b.Put(100)
		b.SetRxTime(at, i == 1)
		q.PushBack(b)
	}
	defer func() {
		for b := q.PopFront(); b != nil; b = q.PopFront() {
			b.Free()
		}
	}()
	assert.Equal(t, rxStamp{300, false}, latestRx(&q, 1), "the front segment")
	assert.Equal(t, rxStamp{300, false}, latestRx(&q, 100))
	assert.Equal(t, rxStamp{500, true}, latestRx(&q, 101), "into the second")
	assert.Equal(t, rxStamp{500, true}, latestRx(&q, 300), "the third was earlier")
	assert.Equal(t, rxStamp{900, false}, latestRx(&q, 301))
	assert.Equal(t, rxStamp{}, latestRx(&q, 0))
}
