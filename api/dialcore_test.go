package api_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
)

// TestDialerCore: on a host of two cores, Dialer.Core dials from the core
// asked for, a core the host lacks is EINVAL, and SameCoreAs dials from
// the core of the conn given.
func TestDialerCore(t *testing.T) {
	p := newPeerCores(t, 2)
	k := p.start(t, "serve-echo-many", env(kern(9310), helperN, 2)...)
	require.Equal(t, "listening", k.line())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := (&api.Dialer{Core: new(1)}).DialTCP(ctx, p.h, "tcp", kern(9310))
	require.NoError(t, err)
	assert.Equal(t, 1, c.Core())
	same, err := (&api.Dialer{SameCoreAs: c}).DialTCP(ctx, p.h, "tcp", kern(9310))
	require.NoError(t, err)
	assert.Equal(t, c.Core(), same.Core())
	_, err = (&api.Dialer{Core: new(2)}).DialTCP(ctx, p.h, "tcp", kern(9310))
	assert.ErrorIs(t, err, syscall.EINVAL)
	require.NoError(t, same.Close())
	require.NoError(t, c.Close())
	k.wait()
}
