package proxyheader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"
)

// TypeRotaryCoordinate is the PROXY v2 TLV type of Rotary's coordinated
// mode, in the range the specification leaves to applications
// (PP2_TYPE_MIN_CUSTOM 0xE0 .. PP2_TYPE_MAX_CUSTOM 0xEF).
const TypeRotaryCoordinate proxyproto.PP2Type = 0xE0

// coordinateVersion is the first byte of the TLV's value.
const coordinateVersion = 1

// Coordination is what the gateway tells one pool member in coordinated
// mode: the slice of the public passive range it owns, and the address to
// announce in passive replies.
type Coordination struct {
	Lo, Hi uint16
	Public netip.Addr // invalid: announce the PROXY header's destination
}

// ErrBadCoordination marks a malformed Rotary TLV.
var ErrBadCoordination = errors.New("malformed Rotary coordinate TLV")

// Encode is the TLV's value: version 1, LO and HI (big-endian uint16),
// the public address's length (0, 4 or 16) and its bytes.
func (c Coordination) Encode() []byte {
	b := []byte{coordinateVersion, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[1:], c.Lo)
	binary.BigEndian.PutUint16(b[3:], c.Hi)
	if c.Public.IsValid() {
		a := c.Public.Unmap().AsSlice()
		b[5] = byte(len(a))
		b = append(b, a...)
	}
	return b
}

// TLV is the coordination as a PROXY v2 TLV.
func (c Coordination) TLV() proxyproto.TLV {
	return proxyproto.TLV{Type: TypeRotaryCoordinate, Value: c.Encode()}
}

// ParseCoordination decodes a Rotary TLV's value.
func ParseCoordination(b []byte) (Coordination, error) {
	if len(b) < 6 {
		return Coordination{}, fmt.Errorf("%w: %d bytes, want at least 6", ErrBadCoordination, len(b))
	}
	if b[0] != coordinateVersion {
		return Coordination{}, fmt.Errorf("%w: version %d, want %d", ErrBadCoordination, b[0], coordinateVersion)
	}
	c := Coordination{Lo: binary.BigEndian.Uint16(b[1:]), Hi: binary.BigEndian.Uint16(b[3:])}
	if c.Lo == 0 || c.Hi < c.Lo {
		return Coordination{}, fmt.Errorf("%w: passive slice %d-%d", ErrBadCoordination, c.Lo, c.Hi)
	}
	n := int(b[5])
	if (n != 0 && n != 4 && n != 16) || len(b) != 6+n {
		return Coordination{}, fmt.Errorf("%w: address length %d in %d bytes", ErrBadCoordination, n, len(b))
	}
	if n > 0 {
		a, _ := netip.AddrFromSlice(b[6:])
		c.Public = a.Unmap()
	}
	return c, nil
}
