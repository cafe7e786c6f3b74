package sock_test

import (
	"errors"
	"math"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
)

type setGet struct{ set, get int }

// intOptions lists every integer option: its default, valid settings and
// what they read back, and values refused with EINVAL.
var intOptions = []struct {
	name        string
	level, opt  int
	def         int
	valid       []setGet
	bad         []int
	read        func(*sock.Sock) int // the field the option lands in
	lock        uint8                // the user lock setting it takes
	nonDefault  int                  // a valid value unlike the default, set before the bad ones
	nonDefaultG int
}{
	{
		name: "SO_REUSEADDR", level: syscall.SOL_SOCKET, opt: syscall.SO_REUSEADDR, def: 0,
		valid: []setGet{{1, 1}, {7, 1}, {-1, 1}, {0, 0}},
		read:  func(s *sock.Sock) int { return b2i(s.ReuseAddr) },
	},
	{
		name: "SO_REUSEPORT", level: syscall.SOL_SOCKET, opt: sock.SO_REUSEPORT, def: 0,
		valid: []setGet{{1, 1}, {2, 1}, {0, 0}},
		read:  func(s *sock.Sock) int { return b2i(s.ReusePort) },
	},
	{
		name: "SO_KEEPALIVE", level: syscall.SOL_SOCKET, opt: syscall.SO_KEEPALIVE, def: 0,
		valid: []setGet{{1, 1}, {0, 0}},
		read:  func(s *sock.Sock) int { return b2i(s.Options.KeepAlive) },
	},
	{
		// Capped at rmem_max, doubled, raised to SOCK_MIN_RCVBUF.
		name: "SO_RCVBUF", level: syscall.SOL_SOCKET, opt: syscall.SO_RCVBUF, def: 131072,
		valid: []setGet{{0, 2304}, {1000, 2304}, {1152, 2304}, {1153, 2306}, {65536, 131072},
			{212992, 425984}, {212993, 425984}, {math.MaxInt32, 425984}},
		bad:  []int{-1, math.MinInt32},
		read: func(s *sock.Sock) int { return s.RcvBuf },
		lock: sock.RcvBufLock, nonDefault: 4096, nonDefaultG: 8192,
	},
	{
		name: "SO_SNDBUF", level: syscall.SOL_SOCKET, opt: syscall.SO_SNDBUF, def: 16384,
		valid: []setGet{{0, 4608}, {2304, 4608}, {2305, 4610}, {8192, 16384},
			{212992, 425984}, {1 << 30, 425984}},
		bad:  []int{-1, -4096},
		read: func(s *sock.Sock) int { return s.SndBuf },
		lock: sock.SndBufLock, nonDefault: 4096, nonDefaultG: 8192,
	},
	{
		name: "TCP_NODELAY", level: syscall.IPPROTO_TCP, opt: syscall.TCP_NODELAY, def: 0,
		valid: []setGet{{1, 1}, {5, 1}, {0, 0}},
		read:  func(s *sock.Sock) int { return b2i(s.Options.NoDelay) },
	},
	{
		name: "TCP_MAXSEG", level: syscall.IPPROTO_TCP, opt: syscall.TCP_MAXSEG, def: 0,
		valid:      []setGet{{88, 88}, {536, 536}, {1460, 1460}, {32767, 32767}, {0, 0}},
		bad:        []int{1, 87, -1, 32768, 65495, math.MaxInt32},
		read:       func(s *sock.Sock) int { return s.Options.MaxSeg },
		nonDefault: 1400, nonDefaultG: 1400,
	},
	{
		name: "TCP_KEEPIDLE", level: syscall.IPPROTO_TCP, opt: syscall.TCP_KEEPIDLE, def: 7200,
		valid:      []setGet{{1, 1}, {60, 60}, {32767, 32767}},
		bad:        []int{0, -1, 32768},
		read:       func(s *sock.Sock) int { return s.Options.KeepIdle },
		nonDefault: 30, nonDefaultG: 30,
	},
	{
		name: "TCP_KEEPINTVL", level: syscall.IPPROTO_TCP, opt: syscall.TCP_KEEPINTVL, def: 75,
		valid:      []setGet{{1, 1}, {10, 10}, {32767, 32767}},
		bad:        []int{0, -5, 32768},
		read:       func(s *sock.Sock) int { return s.Options.KeepIntvl },
		nonDefault: 5, nonDefaultG: 5,
	},
	{
		name: "TCP_KEEPCNT", level: syscall.IPPROTO_TCP, opt: syscall.TCP_KEEPCNT, def: 9,
		valid:      []setGet{{1, 1}, {3, 3}, {127, 127}},
		bad:        []int{0, -1, 128},
		read:       func(s *sock.Sock) int { return s.Options.KeepCnt },
		nonDefault: 4, nonDefaultG: 4,
	},
	{
		name: "TCP_QUICKACK", level: syscall.IPPROTO_TCP, opt: syscall.TCP_QUICKACK, def: 1,
		valid: []setGet{{0, 0}, {3, 1}, {1, 1}},
		read:  func(s *sock.Sock) int { return b2i(s.Options.QuickAck) },
	},
	{
		name: "TCP_USER_TIMEOUT", level: syscall.IPPROTO_TCP, opt: sock.TCP_USER_TIMEOUT, def: 0,
		valid:      []setGet{{30000, 30000}, {math.MaxInt32, math.MaxInt32}, {0, 0}},
		bad:        []int{-1, math.MinInt32},
		read:       func(s *sock.Sock) int { return s.Options.UserTimeout },
		nonDefault: 1000, nonDefaultG: 1000,
	},
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// requireErrno checks that err wraps want and carries context beyond the
// bare errno.
func requireErrno(t *testing.T, err error, want syscall.Errno) {
	t.Helper()
	require.ErrorIs(t, err, want)
	var e syscall.Errno
	require.True(t, errors.As(err, &e))
	assert.NotEqual(t, want.Error(), err.Error(), "the error says which option")
}

func TestOptionDefaults(t *testing.T) {
	for _, c := range intOptions {
		t.Run(c.name, func(t *testing.T) {
			s := sock.New()
			got, err := s.GetOption(c.level, c.opt)
			require.NoError(t, err)
			assert.Equal(t, c.def, got)
			assert.Equal(t, c.def, c.read(s))
		})
	}
	s := sock.New()
	assert.Equal(t, syscall.Linger{}, linger(t, s))
	assert.Equal(t, "cubic", congestion(t, s), "Linux's default")
}

func TestOptionSetGet(t *testing.T) {
	for _, c := range intOptions {
		t.Run(c.name, func(t *testing.T) {
			s := sock.New()
			for _, v := range c.valid {
				require.NoError(t, s.SetOption(c.level, c.opt, v.set), "set %d", v.set)
				got, err := s.GetOption(c.level, c.opt)
				require.NoError(t, err)
				assert.Equal(t, v.get, got, "set %d", v.set)
				assert.Equal(t, v.get, c.read(s), "set %d", v.set)
			}
			assert.Equal(t, c.lock, s.UserLocks, "user locks")
		})
	}
}

func TestOptionBadValues(t *testing.T) {
	for _, c := range intOptions {
		if len(c.bad) == 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			for _, fresh := range []bool{true, false} {
				s := sock.New()
				want := c.def
				if !fresh {
					require.NoError(t, s.SetOption(c.level, c.opt, c.nonDefault))
					want = c.nonDefaultG
				}
				before := *s
				for _, v := range c.bad {
					err := s.SetOption(c.level, c.opt, v)
					requireErrno(t, err, syscall.EINVAL)
					assert.Equal(t, before, *s, "a bad value %d changes nothing", v)
					got, err := s.GetOption(c.level, c.opt)
					require.NoError(t, err)
					assert.Equal(t, want, got)
				}
			}
		})
	}
}

func TestOptionUnknown(t *testing.T) {
	cases := []struct {
		name         string
		level, opt   int
		set, get     syscall.Errno // 0: no error
		getSupported bool
	}{
		{"unknown socket option", syscall.SOL_SOCKET, 9999, syscall.ENOPROTOOPT, syscall.ENOPROTOOPT, false},
		{"unknown TCP option", syscall.IPPROTO_TCP, 9999, syscall.ENOPROTOOPT, syscall.ENOPROTOOPT, false},
		{"TCP_CORK, not supported", syscall.IPPROTO_TCP, syscall.TCP_CORK, syscall.ENOPROTOOPT, syscall.ENOPROTOOPT, false},
		{"unknown level", 999, syscall.SO_RCVBUF, syscall.ENOPROTOOPT, syscall.ENOPROTOOPT, false},
		{"IP level", syscall.IPPROTO_IP, syscall.IP_TOS, syscall.ENOPROTOOPT, syscall.ENOPROTOOPT, false},
		{"SO_RCVLOWAT, not supported", syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, syscall.ENOPROTOOPT, syscall.ENOPROTOOPT, false},
		{"SO_ERROR is read-only", syscall.SOL_SOCKET, syscall.SO_ERROR, syscall.ENOPROTOOPT, 0, true},
		{"SO_LINGER is a struct", syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.EINVAL, syscall.EINVAL, false},
		{"TCP_CONGESTION is a string", syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, syscall.EINVAL, syscall.EINVAL, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := sock.New()
			before := *s
			requireErrno(t, s.SetOption(c.level, c.opt, 1), c.set)
			assert.Equal(t, before, *s, "nothing changed")
			_, err := s.GetOption(c.level, c.opt)
			if c.getSupported {
				require.NoError(t, err)
				return
			}
			requireErrno(t, err, c.get)
		})
	}
}

func TestBufferLocks(t *testing.T) {
	s := sock.New()
	require.Zero(t, s.UserLocks)
	require.Error(t, s.SetOption(syscall.SOL_SOCKET, syscall.SO_RCVBUF, -1))
	assert.Zero(t, s.UserLocks, "a refused value takes no lock")
	require.NoError(t, s.SetOption(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 65536))
	assert.Equal(t, sock.RcvBufLock, s.UserLocks)
	require.NoError(t, s.SetOption(syscall.SOL_SOCKET, syscall.SO_SNDBUF, 65536))
	assert.Equal(t, sock.RcvBufLock|sock.SndBufLock, s.UserLocks)
	assert.Equal(t, 131072, s.RcvBuf)
	assert.Equal(t, 131072, s.SndBuf)
}

func TestSOError(t *testing.T) {
	s := sock.New()
	s.Err = syscall.ECONNRESET
	v, err := s.GetOption(syscall.SOL_SOCKET, syscall.SO_ERROR)
	require.NoError(t, err)
	assert.Equal(t, int(syscall.ECONNRESET), v)
	v, err = s.GetOption(syscall.SOL_SOCKET, syscall.SO_ERROR)
	require.NoError(t, err)
	assert.Zero(t, v, "cleared on read")
}

func TestSockError(t *testing.T) {
	s := sock.New()
	assert.NoError(t, s.SockError())
	s.Err = syscall.ETIMEDOUT
	err := s.SockError()
	require.ErrorIs(t, err, syscall.ETIMEDOUT)
	assert.Equal(t, syscall.ETIMEDOUT, err)
	assert.NoError(t, s.SockError(), "cleared on read")
	assert.Zero(t, s.Err)
}

func TestLinger(t *testing.T) {
	s := sock.New()
	steps := []struct {
		on      bool
		secs    int
		err     bool
		wantOn  bool
		wantSec int
	}{
		{true, 5, false, true, 5},
		{true, 0, false, true, 0}, // abort on close
		{true, 30, false, true, 30},
		{true, -1, true, true, 30}, // refused, unchanged
		{false, 9, false, false, 30},
		{false, -1, false, false, 30}, // off ignores the time, as Linux
		{true, 1 << 20, false, true, 1 << 20},
	}
	for i, st := range steps {
		before := *s
		err := s.SetOptionLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: int32(b2i(st.on)), Linger: int32(st.secs)})
		if st.err {
			requireErrno(t, err, syscall.EINVAL)
			assert.Equal(t, before, *s, "step %d changes nothing", i)
		} else {
			require.NoError(t, err, "step %d", i)
		}
		l := linger(t, s)
		assert.Equal(t, st.wantOn, l.Onoff != 0, "step %d", i)
		assert.Equal(t, st.wantSec, int(l.Linger), "step %d", i)
	}
}

// congestionRuns makes each run of TestCongestion register a name of its
// own, since the registry outlives a run (go test -count).
var congestionRuns int

func TestCongestion(t *testing.T) {
	congestionRuns++
	fresh := "dps-test-" + strconv.Itoa(congestionRuns)
	s := sock.New()
	assert.Equal(t, sock.DefaultCongestion, congestion(t, s))
	assert.True(t, sock.CongestionRegistered("reno"))
	assert.True(t, sock.CongestionRegistered("cubic"))

	require.NoError(t, s.SetOptionString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, "reno"))
	assert.Equal(t, "reno", congestion(t, s))

	for _, bad := range []string{"", fresh, "RENO", "cubic "} {
		requireErrno(t, s.SetOptionString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, bad), syscall.ENOENT)
		assert.Equal(t, "reno", congestion(t, s), "%q changes nothing", bad)
	}

	sock.RegisterCongestion(fresh)
	assert.True(t, sock.CongestionRegistered(fresh))
	require.NoError(t, s.SetOptionString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, fresh))
	assert.Equal(t, fresh, congestion(t, s))

	assert.Panics(t, func() { sock.RegisterCongestion("") })
	assert.Panics(t, func() { sock.RegisterCongestion("sixteen-bytes-xx") })
	assert.NotPanics(t, func() { sock.RegisterCongestion("fifteen-bytes-x") })
}

// TestOptionKinds: each option takes one kind of value; another kind is
// EINVAL, an unknown option ENOPROTOOPT, whichever call is used.
func TestOptionKinds(t *testing.T) {
	s := sock.New()
	requireErrno(t, s.SetOptionString(syscall.SOL_SOCKET, syscall.SO_RCVBUF, "1"), syscall.EINVAL)
	requireErrno(t, s.SetOptionLinger(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, syscall.Linger{}), syscall.EINVAL)
	requireErrno(t, s.SetOptionString(syscall.SOL_SOCKET, syscall.SO_LINGER, "on"), syscall.EINVAL)
	_, err := s.GetOptionString(syscall.SOL_SOCKET, syscall.SO_LINGER)
	requireErrno(t, err, syscall.EINVAL)
	_, err = s.GetOptionLinger(syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	requireErrno(t, err, syscall.EINVAL)
	requireErrno(t, s.SetOptionString(syscall.IPPROTO_TCP, 9999, "x"), syscall.ENOPROTOOPT)
	requireErrno(t, s.SetOptionLinger(999, syscall.SO_LINGER, syscall.Linger{}), syscall.ENOPROTOOPT)
	_, err = s.GetOptionString(syscall.IPPROTO_IP, syscall.IP_TOS)
	requireErrno(t, err, syscall.ENOPROTOOPT)
}

func linger(t *testing.T, s *sock.Sock) syscall.Linger {
	t.Helper()
	l, err := s.GetOptionLinger(syscall.SOL_SOCKET, syscall.SO_LINGER)
	require.NoError(t, err)
	return l
}

func congestion(t *testing.T, s *sock.Sock) string {
	t.Helper()
	v, err := s.GetOptionString(syscall.IPPROTO_TCP, syscall.TCP_CONGESTION)
	require.NoError(t, err)
	return v
}
