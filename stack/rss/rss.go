// Package rss predicts where a port's receive-side scaling puts a packet:
// the Toeplitz hash that NICs compute over a packet's addresses and ports
// (Microsoft's "Receive-Side Scaling" specification, "RSS Hashing
// Functions"), and the redirection table that maps the hash to a queue.
// A host uses it to open connections whose replies come back to the
// opening core (ARCHITECTURE.md §3; Seastar's tcp connect does the same).
//
// Nothing here touches a packet: it is pure computation over a key and a
// table read once from the port (dpdk.Port.RSS).
package rss

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// IPv4TCPInputLen is the length of the hash input of a TCP/IPv4 packet:
// source address, destination address, source port, destination port, in
// network byte order.
const IPv4TCPInputLen = 4 + 4 + 2 + 2

// Hash is the Toeplitz hash of input under key, computed bit by bit as the
// specification defines it: for every set bit of input, most significant
// first, the 32 bits of key starting at that bit's position are XORed into
// the result. key must hold at least len(input)+4 bytes; Hash panics
// otherwise. It is the reference that Toeplitz's tables are built from.
func Hash(key, input []byte) uint32 {
	if len(key) < len(input)+4 {
		panic("rss: Toeplitz key shorter than input + 4 bytes")
	}
	var h uint32
	for i, c := range input {
		for k := range 8 {
			if c&(0x80>>k) != 0 {
				h ^= window(key, 8*i+k)
			}
		}
	}
	return h
}

// window returns the 32 bits of key that start at bit pos (most
// significant bit of key[0] is bit 0).
func window(key []byte, pos int) uint32 {
	var w [8]byte
	copy(w[:], key[pos/8:])
	return uint32(binary.BigEndian.Uint64(w[:]) << (pos % 8) >> 32)
}

// Toeplitz is the Toeplitz hash for one key and inputs of one length,
// precomputed: the hash is linear in its input (XOR), so it is the XOR of
// one table entry per input byte (the byte's own contribution).
type Toeplitz struct {
	tab [][256]uint32
}

// NewToeplitz precomputes the hash of key for inputs of n bytes. The key
// must hold at least n+4 bytes.
func NewToeplitz(key []byte, n int) (*Toeplitz, error) {
	if n <= 0 || len(key) < n+4 {
		return nil, fmt.Errorf("rss: a %d-byte key hashes at most %d bytes, not %d: %w", len(key), max(len(key)-4, 0), n, syscall.EINVAL)
	}
	t := &Toeplitz{tab: make([][256]uint32, n)}
	for i := range t.tab {
		var bit [8]uint32
		for k := range bit {
			bit[k] = window(key, 8*i+k)
		}
		for v := 1; v < 256; v++ {
			var h uint32
			for k := range 8 {
				if v&(0x80>>k) != 0 {
					h ^= bit[k]
				}
			}
			t.tab[i][v] = h
		}
	}
	return t, nil
}

// Len is the input length the hash was built for.
func (t *Toeplitz) Len() int { return len(t.tab) }

// Hash is the hash of input, which must be Len bytes long.
func (t *Toeplitz) Hash(input []byte) uint32 {
	var h uint32
	for i, c := range input[:len(t.tab)] {
		h ^= t.tab[i][c]
	}
	return h
}

// IPv4TCPInput fills the hash input of a TCP/IPv4 packet from src:sport
// to dst:dport.
func IPv4TCPInput(in *[IPv4TCPInputLen]byte, src, dst netip.Addr, sport, dport uint16) {
	s, d := src.As4(), dst.As4()
	copy(in[0:4], s[:])
	copy(in[4:8], d[:])
	binary.BigEndian.PutUint16(in[8:10], sport)
	binary.BigEndian.PutUint16(in[10:12], dport)
}

// Steering is a port's receive-side scaling as far as TCP/IPv4 goes: its
// Toeplitz key and its redirection table.
type Steering struct {
	hash *Toeplitz
	reta []uint16
}

// NewSteering makes the steering of a port from its RSS key and
// redirection table (entry i is the queue of the packets whose hash is i
// modulo the table's size). It fails when the key is too short for a
// TCP/IPv4 input or the table is empty.
func NewSteering(key []byte, reta []uint16) (*Steering, error) {
	if len(reta) == 0 {
		return nil, fmt.Errorf("rss: empty redirection table: %w", syscall.EINVAL)
	}
	h, err := NewToeplitz(key, IPv4TCPInputLen)
	if err != nil {
		return nil, err
	}
	return &Steering{hash: h, reta: append([]uint16(nil), reta...)}, nil
}

// HashIPv4TCP is the hash of a TCP/IPv4 packet from src:sport to
// dst:dport.
func (s *Steering) HashIPv4TCP(src, dst netip.Addr, sport, dport uint16) uint32 {
	var in [IPv4TCPInputLen]byte
	IPv4TCPInput(&in, src, dst, sport, dport)
	return s.hash.Hash(in[:])
}

// QueueIPv4TCP is the rx queue the port puts a TCP/IPv4 packet from
// src:sport to dst:dport on.
func (s *Steering) QueueIPv4TCP(src, dst netip.Addr, sport, dport uint16) uint16 {
	return s.reta[s.HashIPv4TCP(src, dst, sport, dport)%uint32(len(s.reta))]
}
