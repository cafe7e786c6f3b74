package capture

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// A Filter is a classic BPF program (struct sock_filter, what tcpdump
// compiles a filter expression to and the kernel's packet sockets run),
// checked once by ParseFilter so that Match cannot fault: every jump lands
// inside the program, which ends in a return, and scratch memory indexes
// are in range. Match allocates nothing; a load past the end of the packet
// rejects it, as in the kernel.
type Filter struct {
	prog []insn
}

type insn struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

// Instruction classes and fields (linux/filter.h, linux/bpf_common.h).
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	sizeW = 0x00
	sizeH = 0x08
	sizeB = 0x10

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	opADD = 0x00
	opSUB = 0x10
	opMUL = 0x20
	opDIV = 0x30
	opOR  = 0x40
	opAND = 0x50
	opLSH = 0x60
	opRSH = 0x70
	opNEG = 0x80
	opMOD = 0x90
	opXOR = 0xa0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	srcK = 0x00
	srcX = 0x08
	retA = 0x10

	miscTXA = 0x80 // else TAX

	memWords   = 16   // BPF_MEMWORDS
	maxInsns   = 4096 // BPF_MAXINSNS
	classMask  = 0x07
	sizeMask   = 0x18
	modeMask   = 0xe0
	opMask     = 0xf0
	srcMask    = 0x08
	retSrcMask = 0x18
)

// ParseFilter reads the decimal form of a program that `tcpdump -ddd`
// prints: the instruction count, then "code jt jf k" per instruction
// (lines or any white space between the numbers).
func ParseFilter(text string) (*Filter, error) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return nil, fmt.Errorf("capture filter: empty program")
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 || n > maxInsns || len(f) != 1+4*n {
		return nil, fmt.Errorf("capture filter: want a count from 1 to %d and 4 numbers per instruction (tcpdump -ddd)", maxInsns)
	}
	prog := make([]insn, n)
	for i := range prog {
		var v [4]uint64
		for j, bits := range [4]int{16, 8, 8, 32} {
			if v[j], err = strconv.ParseUint(f[1+4*i+j], 10, bits); err != nil {
				return nil, fmt.Errorf("capture filter: instruction %d: %w", i, err)
			}
		}
		prog[i] = insn{uint16(v[0]), uint8(v[1]), uint8(v[2]), uint32(v[3])}
	}
	if err := check(prog); err != nil {
		return nil, err
	}
	return &Filter{prog}, nil
}

// check is the kernel's bpf_check_classic: known opcodes, jumps forward
// and in range, scratch indexes in range, no constant division by zero,
// a return at the end.
func check(prog []insn) error {
	for i, in := range prog {
		bad := func(why string) error {
			return fmt.Errorf("capture filter: instruction %d (code %#x): %s", i, in.code, why)
		}
		switch in.code & classMask {
		case clsLD, clsLDX:
			switch in.code & modeMask {
			case modeMEM:
				if in.k >= memWords {
					return bad("scratch index out of range")
				}
			case modeIMM, modeABS, modeIND, modeLEN, modeMSH:
			default:
				return bad("unknown load mode")
			}
		case clsST, clsSTX:
			if in.k >= memWords {
				return bad("scratch index out of range")
			}
		case clsALU:
			op := in.code & opMask
			if op > opXOR {
				return bad("unknown ALU operation")
			}
			if (op == opDIV || op == opMOD) && in.code&srcMask == srcK && in.k == 0 {
				return bad("division by zero")
			}
		case clsJMP:
			rest := uint64(len(prog) - i - 1)
			if in.code&opMask == jmpJA {
				if uint64(in.k) >= rest {
					return bad("jump out of the program")
				}
			} else if in.code&opMask > jmpJSET {
				return bad("unknown jump")
			} else if uint64(in.jt) >= rest || uint64(in.jf) >= rest {
				return bad("jump out of the program")
			}
		case clsRET, clsMISC:
		}
	}
	if prog[len(prog)-1].code&classMask != clsRET {
		return fmt.Errorf("capture filter: the program does not end in a return")
	}
	return nil
}

// Match runs the program over pkt (the packet's first bytes) whose whole
// length is wireLen, and reports whether it accepts the packet (a return
// of a non-zero length).
func (f *Filter) Match(pkt []byte, wireLen int) bool {
	var a, x uint32
	var mem [memWords]uint32
	load := func(off uint32, size uint16) (uint32, bool) {
		end := uint64(off)
		switch size {
		case sizeW:
			end += 4
		case sizeH:
			end += 2
		default:
			end++
		}
		if end > uint64(len(pkt)) {
			return 0, false
		}
		switch size {
		case sizeW:
			return binary.BigEndian.Uint32(pkt[off:]), true
		case sizeH:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return uint32(pkt[off]), true
	}
	for pc := 0; pc < len(f.prog); pc++ {
		in := f.prog[pc]
		switch in.code & classMask {
		case clsLD:
			switch in.code & modeMask {
			case modeIMM:
				a = in.k
			case modeABS, modeIND:
				off := in.k
				if in.code&modeMask == modeIND {
					off += x
				}
				v, ok := load(off, in.code&sizeMask)
				if !ok {
					return false
				}
				a = v
			case modeMEM:
				a = mem[in.k]
			case modeLEN:
				a = uint32(wireLen)
			}
		case clsLDX:
			switch in.code & modeMask {
			case modeIMM:
				x = in.k
			case modeMEM:
				x = mem[in.k]
			case modeLEN:
				x = uint32(wireLen)
			case modeMSH: // 4 * (P[k:1] & 0xf): an IPv4 header's length
				v, ok := load(in.k, sizeB)
				if !ok {
					return false
				}
				x = 4 * (v & 0xf)
			}
		case clsST:
			mem[in.k] = a
		case clsSTX:
			mem[in.k] = x
		case clsALU:
			v := in.k
			if in.code&srcMask == srcX {
				v = x
			}
			switch in.code & opMask {
			case opADD:
				a += v
			case opSUB:
				a -= v
			case opMUL:
				a *= v
			case opDIV, opMOD:
				if v == 0 {
					return false // X was zero: the kernel rejects the packet
				}
				if in.code&opMask == opDIV {
					a /= v
				} else {
					a %= v
				}
			case opOR:
				a |= v
			case opAND:
				a &= v
			case opLSH:
				a <<= v & 31
			case opRSH:
				a >>= v & 31
			case opNEG:
				a = -a
			case opXOR:
				a ^= v
			}
		case clsJMP:
			if in.code&opMask == jmpJA {
				pc += int(in.k)
				continue
			}
			v := in.k
			if in.code&srcMask == srcX {
				v = x
			}
			var cond bool
			switch in.code & opMask {
			case jmpJEQ:
				cond = a == v
			case jmpJGT:
				cond = a > v
			case jmpJGE:
				cond = a >= v
			case jmpJSET:
				cond = a&v != 0
			}
			if cond {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsRET:
			if in.code&retSrcMask == retA {
				return a != 0
			}
			return in.k != 0
		case clsMISC:
			if in.code&0xf8 == miscTXA {
				a = x
			} else {
				x = a
			}
		}
	}
	return false
}
