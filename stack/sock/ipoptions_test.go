package sock_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
)

// IP_OPTIONS as ip_options_get takes them: copied, padded with End of
// Option List to a multiple of 4, checked; empty removes them.
func TestIPOptions(t *testing.T) {
	s := sock.New()
	v, err := s.GetOptionBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS)
	require.NoError(t, err)
	assert.Empty(t, v)

	rr := []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0}
	require.NoError(t, s.SetOptionBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, rr))
	rr[0] = 99 // the caller's bytes are copied
	v, err = s.GetOptionBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS)
	require.NoError(t, err)
	assert.Equal(t, []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}, v)
	assert.Equal(t, v, s.Options.IPOptions)

	full := make([]byte, 40)
	full[0], full[1], full[2] = 7, 39, 4
	require.NoError(t, s.SetOptionBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, full))
	assert.Len(t, s.Options.IPOptions, 40)

	require.NoError(t, s.SetOptionBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, nil))
	assert.Nil(t, s.Options.IPOptions)
}

// A list ip_options_compile refuses, or more than 40 bytes, is EINVAL and
// changes nothing; so is a source route, which dpstack does not send.
func TestIPOptionsRefused(t *testing.T) {
	cases := []struct {
		name string
		opts []byte
	}{
		{"41 bytes", append([]byte{7, 39, 4}, make([]byte, 38)...)},
		{"bad length", []byte{7, 0, 4, 0}},
		{"length past the end", []byte{7, 8, 4, 0}},
		{"pointer 3", []byte{7, 7, 3, 0, 0, 0, 0}},
		{"timestamp pointer 4", []byte{68, 8, 4, 0, 0, 0, 0, 0}},
		{"record route twice", []byte{7, 3, 4, 7, 3, 4}},
		{"loose source route", []byte{131, 7, 4, 198, 18, 0, 9}},
		{"strict source route", []byte{137, 7, 4, 198, 18, 0, 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := sock.New()
			require.NoError(t, s.SetOptionBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, []byte{148, 4, 0, 0}))
			requireErrno(t, s.SetOptionBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, c.opts), syscall.EINVAL)
			assert.Equal(t, []byte{148, 4, 0, 0}, s.Options.IPOptions, "unchanged")
		})
	}
}

// IP_OPTIONS takes bytes and nothing else; the bytes calls take nothing
// else.
func TestIPOptionsKind(t *testing.T) {
	s := sock.New()
	requireErrno(t, s.SetOption(syscall.IPPROTO_IP, syscall.IP_OPTIONS, 1), syscall.EINVAL)
	requireErrno(t, s.SetOptionString(syscall.IPPROTO_IP, syscall.IP_OPTIONS, "x"), syscall.EINVAL)
	_, err := s.GetOption(syscall.IPPROTO_IP, syscall.IP_OPTIONS)
	requireErrno(t, err, syscall.EINVAL)
	requireErrno(t, s.SetOptionBytes(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, []byte{1}), syscall.EINVAL)
	_, err = s.GetOptionBytes(syscall.SOL_SOCKET, syscall.SO_LINGER)
	requireErrno(t, err, syscall.EINVAL)
	requireErrno(t, s.SetOptionBytes(syscall.IPPROTO_IP, syscall.IP_TOS, []byte{1}), syscall.ENOPROTOOPT)
	_, err = s.GetOptionBytes(syscall.IPPROTO_IP, 9999)
	requireErrno(t, err, syscall.ENOPROTOOPT)
}
