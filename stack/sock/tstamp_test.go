package sock_test

import (
	"encoding/binary"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/stack/sock"
)

// at is a receive time with every field of a timespec in use.
var at = time.Date(2026, 12, 6, 3, 50, 7, 123_456_789, time.UTC).UnixNano()

// timespec decodes the struct timespec at p (64-bit Linux: two int64).
func timespec(p []byte) int64 {
	sec := int64(binary.NativeEndian.Uint64(p))
	nsec := int64(binary.NativeEndian.Uint64(p[8:]))
	return sec*1e9 + nsec
}

// TestPutTimestamping: an SCM_TIMESTAMPING message parses with x/sys/unix
// and with syscall as the kernel's does: SOL_SOCKET, the type, three
// timespecs, the software time in the first and a hardware one in the
// third; at an unaligned place in the buffer too, and after another
// message.
func TestPutTimestamping(t *testing.T) {
	for _, hw := range []bool{false, true} {
		oob := make([]byte, 1+sock.TimestampNSSpace+sock.TimestampingSpace)[1:] // unaligned
		n := sock.PutTimestampNS(oob, at-1)
		require.Equal(t, sock.TimestampNSSpace, n)
		m := sock.PutTimestamping(oob[n:], at, hw)
		require.Equal(t, sock.TimestampingSpace, m)

		msgs, err := unix.ParseSocketControlMessage(oob[:n+m])
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		assert.EqualValues(t, unix.SOL_SOCKET, msgs[0].Header.Level)
		assert.EqualValues(t, unix.SCM_TIMESTAMPNS, msgs[0].Header.Type)
		require.Len(t, msgs[0].Data, 16)
		assert.Equal(t, at-1, timespec(msgs[0].Data))

		ts := msgs[1]
		assert.EqualValues(t, unix.SOL_SOCKET, ts.Header.Level)
		assert.EqualValues(t, unix.SCM_TIMESTAMPING, ts.Header.Type)
		require.Len(t, ts.Data, 48, "struct scm_timestamping: three timespecs")
		want := [3]int64{at, 0, 0}
		if hw {
			want = [3]int64{0, 0, at}
		}
		assert.Equal(t, want, [3]int64{timespec(ts.Data), timespec(ts.Data[16:]), timespec(ts.Data[32:])}, "hw %v", hw)

		old, err := syscall.ParseSocketControlMessage(oob[:n+m])
		require.NoError(t, err)
		require.Len(t, old, 2)
		assert.Equal(t, ts.Data, old[1].Data)
		assert.EqualValues(t, syscall.SCM_TIMESTAMPNS, old[0].Header.Type)
	}
}

// TestPutTimestampShort: without room for the message nothing is written
// (the caller reports MSG_CTRUNC); writing allocates nothing.
func TestPutTimestampShort(t *testing.T) {
	oob := make([]byte, sock.TimestampingSpace-1)
	assert.Zero(t, sock.PutTimestamping(oob, at, false))
	assert.Zero(t, sock.PutTimestampNS(oob[:sock.TimestampNSSpace-1], at))
	assert.Equal(t, make([]byte, len(oob)), oob, "nothing written")

	buf := make([]byte, sock.TimestampingSpace)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		sock.PutTimestamping(buf, at, true)
		sock.PutTimestampNS(buf, at)
	}))
}
