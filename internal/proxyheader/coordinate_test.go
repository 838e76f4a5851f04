package proxyheader

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

func TestCoordinationRoundTrip(t *testing.T) {
	for _, c := range []Coordination{
		{Lo: 5500, Hi: 5506},
		{Lo: 1, Hi: 65535, Public: netip.MustParseAddr("203.0.113.7")},
		{Lo: 2000, Hi: 2000, Public: netip.MustParseAddr("2001:db8::1")},
	} {
		got, err := ParseCoordination(c.Encode())
		if err != nil || got != c {
			t.Errorf("%+v: decoded %+v, %v", c, got, err)
		}
	}
}

func TestParseCoordinationRejects(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{1, 0, 1, 0, 2},
		{2, 0, 1, 0, 2, 0},
		{1, 0, 0, 0, 2, 0},
		{1, 0, 3, 0, 2, 0},
		{1, 0, 1, 0, 2, 4, 1, 2, 3},
		{1, 0, 1, 0, 2, 5, 1, 2, 3, 4, 5},
		{1, 0, 1, 0, 2, 0, 9},
	} {
		if _, err := ParseCoordination(b); !errors.Is(err, ErrBadCoordination) {
			t.Errorf("% x: err %v, want ErrBadCoordination", b, err)
		}
	}
}

func TestReadHeaderKeepsTLVs(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := Coordination{Lo: 5500, Hi: 5506, Public: netip.MustParseAddr("203.0.113.7")}
	h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3), Port: 4000}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 21})
	if err := h.SetTLVs([]proxyproto.TLV{c.TLV()}); err != nil {
		t.Fatal(err)
	}
	go func() { h.WriteTo(a); a.Write([]byte("USER u\r\n")) }()
	got, err := ReadHeader(b, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := got.TLV(TypeRotaryCoordinate)
	if !ok {
		t.Fatalf("TLV dropped: %+v", got)
	}
	if dc, err := ParseCoordination(v); err != nil || dc != c || got.Client.Port() != 4000 {
		t.Fatalf("header %+v, coordination %+v, %v", got, dc, err)
	}
	rest := make([]byte, 8)
	if _, err := io.ReadFull(b, rest); err != nil || string(rest) != "USER u\r\n" {
		t.Fatalf("bytes after the header: %q, %v", rest, err)
	}
}
