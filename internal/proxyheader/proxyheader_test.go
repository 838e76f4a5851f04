package proxyheader

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

func header(t *testing.T, version byte, src, dst string) []byte {
	t.Helper()
	s, _ := net.ResolveTCPAddr("tcp", src)
	d, _ := net.ResolveTCPAddr("tcp", dst)
	b, err := proxyproto.HeaderProxyFromAddrs(version, s, d).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		client  string
		wantErr bool
	}{
		{"v2 IPv4", header(t, 2, "127.0.0.5:4000", "127.0.0.2:2121"), "127.0.0.5:4000", false},
		{"v1 IPv4", header(t, 1, "127.0.0.6:4001", "127.0.0.2:2121"), "127.0.0.6:4001", false},
		{"v2 IPv6", header(t, 2, "[::1]:4002", "[::1]:2121"), "[::1]:4002", false},
		{"not a header", []byte("USER alice\r\n...."), "", true},
		{"truncated v2", header(t, 2, "127.0.0.5:4000", "127.0.0.2:2121")[:20], "", true},
		{"v1 without end", append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("1"), 200)...), "", true},
		{"empty", nil, "", true},
	}
	for _, tt := range tests {
		a, b := net.Pipe()
		go func() {
			b.Write(tt.input)
			b.Write([]byte("AFTER"))
			b.Close()
		}()
		client, _, err := Read(a, time.Second)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v, wantErr %v", tt.name, err, tt.wantErr)
		}
		if err != nil {
			if !errors.Is(err, ErrNoHeader) {
				t.Errorf("%s: error %v does not wrap ErrNoHeader", tt.name, err)
			}
			a.Close()
			continue
		}
		if client.String() != tt.client {
			t.Errorf("%s: client %s, want %s", tt.name, client, tt.client)
		}
		// Nothing past the header was consumed.
		rest, _ := io.ReadAll(a)
		if string(rest) != "AFTER" {
			t.Errorf("%s: after the header %q remained, want AFTER", tt.name, rest)
		}
	}
}

func TestTrust(t *testing.T) {
	tr, err := ParseTrust([]string{"127.0.0.2", "10.0.0.0/8", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"127.0.0.2": true, "127.0.0.3": false, "10.9.8.7": true, "::1": true, "::ffff:127.0.0.2": true} {
		if got := tr.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v", addr, got)
		}
	}
	if _, err := ParseTrust([]string{"nonsense"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func FuzzReadExact(f *testing.F) {
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x7f\x00\x00\x05\x7f\x00\x00\x02\x0f\xa0\x08\x49"))
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, err := readExact(bytes.NewReader(b))
		if err == nil && !bytes.HasPrefix(b, raw) {
			t.Fatal("returned bytes are not the input's prefix")
		}
	})
}

// FuzzRead runs the whole of Read (framing, then the v1 or v2 parse) over a
// connection: no panic; a header it accepts gives valid addresses, or the
// connection's own for LOCAL; and it never consumes a byte past the header,
// which belongs to the FTP session (its first command, or a TLS
// ClientHello on an implicit listener).
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 192.0.2.1 127.0.0.1 40000 21\r\nUSER a\r\n",
		"PROXY TCP6 2001:db8::1 ::1 40000 21\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY TCP4 192.0.2.1 127.0.0.1 99999 21\r\n",
		"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x7f\x00\x00\x05\x7f\x00\x00\x02\x0f\xa0\x08\x49\x16\x03\x01",
		"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00",
		"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24" + strings.Repeat("\x00", 15) + "\x01" + strings.Repeat("\x00", 15) + "\x01\x9c\x40\x00\x15",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		server, client := net.Pipe()
		defer server.Close()
		go func() {
			client.Write(b)
			client.Close()
		}()
		src, dst, err := Read(server, 2*time.Second)
		rest, _ := io.ReadAll(server)
		if err != nil {
			return
		}
		// The header's own length, from its framing: v1 ends at its first
		// LF, v2 is 16 bytes and the length they announce.
		want := -1
		if i := bytes.IndexByte(b, '\n'); bytes.HasPrefix(b, v1sig) && i >= 0 {
			want = i + 1
		} else if bytes.HasPrefix(b, v2sig) && len(b) >= 16 {
			want = 16 + (int(b[14])<<8 | int(b[15]))
		}
		if consumed := len(b) - len(rest); consumed != want {
			t.Fatalf("Read took %d bytes of %d for a header of %d", consumed, len(b), want)
		}
		// net.Pipe has no IP addresses: a LOCAL header gives zero values.
		if src.IsValid() != dst.IsValid() || src.IsValid() && (src.Addr().Is4In6() || dst.Addr().Is4In6()) {
			t.Fatalf("Read gave %v -> %v", src, dst)
		}
	})
}
