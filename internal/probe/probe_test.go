package probe

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url      string
		want     Target
		implicit bool
		err      string
	}{
		{url: "ftp://u:p@203.0.113.5/", want: Target{Host: "203.0.113.5", Port: 21, User: "u", Password: "p"}},
		{url: "ftp://alice:s%40cret@ftp.example.org:2121/", want: Target{Host: "ftp.example.org", Port: 2121, User: "alice", Password: "s@cret"}},
		{url: "ftps://u:p@[2001:db8::1]/", want: Target{Host: "2001:db8::1", Port: 990, User: "u", Password: "p"}, implicit: true},
		{url: "ftp://203.0.113.5/", err: "probe URL ftp://203.0.113.5/: no credentials: want ftp://USER:PASS@HOST[:PORT]/"},
		{url: "ftp://u@203.0.113.5/", err: "no credentials"},
		{url: "sftp://u:p@h/", err: "want ftp://USER:PASS@HOST[:PORT]/"},
		{url: "ftp://u:p@h:99999/", err: "bad port"},
		{url: "ftp://u:p@:21/", err: "no host"},
	}
	for _, tt := range tests {
		got, implicit, err := ParseURL(tt.url)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseURL(%q) error %v, want %q", tt.url, err, tt.err)
			}
		case err != nil || got != tt.want || implicit != tt.implicit:
			t.Errorf("ParseURL(%q) = %+v %v %v, want %+v %v", tt.url, got, implicit, err, tt.want, tt.implicit)
		}
	}
}

func TestAnnouncedAddress(t *testing.T) {
	dialled := netip.MustParseAddr("203.0.113.5")
	tests := []struct{ announced, want string }{
		{"203.0.113.5", ""},
		{"192.168.1.10", "server announced 192.168.1.10 but you connected to 203.0.113.5: set public-ip (192.168.1.10 is a private address"},
		{"100.64.1.2", "is a private address"},
		{"198.51.100.9", "server announced 198.51.100.9 but you connected to 203.0.113.5: set public-ip (198.51.100.9 is a different address"},
		{"0.0.0.0", "0.0.0.0: no client can connect"},
	}
	for _, tt := range tests {
		got := announcedAddress(netip.MustParseAddr(tt.announced), dialled)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("announcedAddress(%s) = %q, want %q", tt.announced, got, tt.want)
		}
	}
}

func TestPortList(t *testing.T) {
	for want, ports := range map[string][]int{"5516-5520": {5516, 5517, 5518, 5519, 5520}, "21, 5500-5501, 5503": {21, 5500, 5501, 5503}, "": nil} {
		if got := portList(ports); got != want {
			t.Errorf("portList(%v) = %q, want %q", ports, got, want)
		}
	}
}

// A port nothing listens on is refused: "not forwarded".
func TestDialCauseRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = (&net.Dialer{Timeout: time.Second}).DialContext(context.Background(), "tcp", addr)
	if err == nil {
		t.Skip("something listens on the freed port")
	}
	if got := dialCause(err, time.Second); !strings.HasPrefix(got, "refused: not forwarded") {
		t.Errorf("dialCause(%v) = %q", err, got)
	}
}
