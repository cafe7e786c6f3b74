package sock_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
)

// TestSwitch: socket(2)'s lookup by family, type and protocol, with the
// errors Linux gives.
func TestSwitch(t *testing.T) {
	var w sock.Switch
	var created int
	w.Register(sock.Protosw{Type: syscall.SOCK_STREAM, Protocol: syscall.IPPROTO_TCP,
		Create: func() sock.ProtoOps { created++; return nil }})
	for _, c := range []struct {
		family, typ, protocol int
		err                   syscall.Errno
	}{
		{syscall.AF_INET, syscall.SOCK_STREAM, 0, 0},
		{syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_TCP, 0},
		{syscall.AF_INET6, syscall.SOCK_STREAM, 0, syscall.EAFNOSUPPORT},
		{syscall.AF_INET, syscall.SOCK_DGRAM, 0, syscall.ESOCKTNOSUPPORT},
		{syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_UDP, syscall.EPROTONOSUPPORT},
	} {
		_, err := w.Create(c.family, c.typ, c.protocol)
		if c.err == 0 {
			require.NoError(t, err)
		} else {
			assert.ErrorIs(t, err, c.err)
		}
	}
	assert.Equal(t, 2, created)
}
