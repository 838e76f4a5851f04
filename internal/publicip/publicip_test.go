package publicip

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseOverride(t *testing.T) {
	tests := []struct {
		in      string
		want    Override
		wantErr bool
	}{
		{"10.0.0.0/8=local", Override{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Local: true}, false},
		{"192.168.1.7/16=192.168.1.1", Override{Prefix: netip.MustParsePrefix("192.168.0.0/16"), IP: netip.MustParseAddr("192.168.1.1")}, false},
		{"::1/128=LOCAL", Override{Prefix: netip.MustParsePrefix("::1/128"), Local: true}, false},
		{"10.0.0.0/8", Override{}, true},
		{"10.0.0.0/33=local", Override{}, true},
		{"10.0.0.0/8=nowhere", Override{}, true},
	}
	for _, tt := range tests {
		got, err := ParseOverride(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseOverride(%q) = %+v, %v; want %+v err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestAddress(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	r := &Resolver{Public: "127.0.0.2", Overrides: []Override{
		{Prefix: netip.MustParsePrefix("127.0.0.5/32"), Local: true},
		{Prefix: netip.MustParsePrefix("127.0.0.0/24"), IP: netip.MustParseAddr("127.0.0.9")},
	}}
	tests := []struct{ client, want string }{
		{"127.0.0.5", "127.0.0.1"},        // first match: local
		{"127.0.0.6", "127.0.0.9"},        // second override
		{"127.0.1.6", "127.0.0.2"},        // no override: public
		{"::ffff:127.0.0.5", "127.0.0.1"}, // mapped client addresses match IPv4 prefixes
	}
	for _, tt := range tests {
		if got := r.Address(netip.MustParseAddr(tt.client), local); got.String() != tt.want {
			t.Errorf("Address(%s) = %s, want %s", tt.client, got, tt.want)
		}
	}
	if got := (&Resolver{}).Address(netip.MustParseAddr("127.0.0.7"), local); got != local {
		t.Errorf("no public IP: %s, want the local address", got)
	}
}

func TestHostNameCachedAndKeptOnFailure(t *testing.T) {
	var calls atomic.Int32
	fail := atomic.Bool{}
	r := &Resolver{Public: "ftp.example.test", TTL: 50 * time.Millisecond,
		Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			calls.Add(1)
			if fail.Load() {
				return nil, errors.New("no such host")
			}
			return []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.2")}, nil
		}}
	local4 := netip.MustParseAddr("127.0.0.1")
	for i := 0; i < 10; i++ {
		if got := r.Address(local4, local4); got.String() != "127.0.0.2" {
			t.Fatalf("got %s, want the IPv4 answer for an IPv4 control connection", got)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d lookups within the TTL, want 1", calls.Load())
	}
	if got := r.Address(netip.MustParseAddr("::1"), netip.MustParseAddr("::1")); got.String() != "::1" {
		t.Fatalf("IPv6 control connection got %s", got)
	}
	fail.Store(true)
	time.Sleep(60 * time.Millisecond)
	if got := r.Address(local4, local4); got.String() != "127.0.0.2" {
		t.Fatalf("after a failed lookup got %s, want the last good answer", got)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d lookups, want 2", calls.Load())
	}
}
