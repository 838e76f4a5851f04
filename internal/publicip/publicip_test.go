package publicip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
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

// A host name is looked up by Refresh (at Start, then in the background),
// never by Address; a failed lookup keeps the last good answer.
func TestHostNameCachedAndKeptOnFailure(t *testing.T) {
	var calls atomic.Int32
	fail := atomic.Bool{}
	r := &Resolver{Public: "ftp.example.test", TTL: time.Hour,
		Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			calls.Add(1)
			if fail.Load() {
				return nil, errors.New("no such host")
			}
			return []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.2")}, nil
		}}
	local4 := netip.MustParseAddr("127.0.0.1")
	if got := r.Address(local4, local4); got != local4 {
		t.Fatalf("before any lookup got %s, want the local address", got)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 10; i++ {
		if got := r.Address(local4, local4); got.String() != "127.0.0.2" {
			t.Fatalf("got %s, want the IPv4 answer for an IPv4 control connection", got)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d lookups for 10 addresses, want 1 (the one at Start)", calls.Load())
	}
	if got := r.Address(netip.MustParseAddr("::1"), netip.MustParseAddr("::1")); got.String() != "::1" {
		t.Fatalf("IPv6 control connection got %s", got)
	}
	fail.Store(true)
	if err := r.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "ftp.example.test") {
		t.Fatalf("failed refresh: %v, want an error naming the host", err)
	}
	if got := r.Address(local4, local4); got.String() != "127.0.0.2" {
		t.Fatalf("after a failed lookup got %s, want the last good answer", got)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d lookups, want 2", calls.Load())
	}
}

// An unresolvable name at start is an error for the caller to warn about,
// and passive replies name the local address until it resolves; the
// background loop retries and picks the answer up.
func TestUnresolvableAtStartThenResolves(t *testing.T) {
	var ok atomic.Bool
	resolved := make(chan struct{}, 1)
	r := &Resolver{Public: "ftp.example.test", TTL: time.Hour, Retry: time.Millisecond,
		Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			if !ok.Load() {
				return nil, errors.New("no such host")
			}
			select {
			case resolved <- struct{}{}:
			default:
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.2")}, nil
		}}
	local := netip.MustParseAddr("127.0.0.1")
	if err := r.Start(); err == nil {
		t.Fatal("Start: no error for a name that does not resolve")
	}
	defer r.Close()
	if got := r.Address(local, local); got != local {
		t.Fatalf("got %s, want the local address while the name does not resolve", got)
	}
	ok.Store(true)
	select {
	case <-resolved:
	case <-time.After(10 * time.Second):
		t.Fatal("the background loop did not retry")
	}
	waitAddress(t, r, "127.0.0.2")
}

// A DNS server that never answers cannot stall Address: the lookup runs
// in the background, and Address returns the last answer meanwhile.
func TestSlowLookupNeverStallsAddress(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var first atomic.Bool
	r := &Resolver{Public: "ftp.example.test", TTL: time.Millisecond,
		Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			if first.CompareAndSwap(false, true) {
				return []netip.Addr{netip.MustParseAddr("127.0.0.2")}, nil
			}
			select {
			case started <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, ctx.Err()
		}}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	<-started // a lookup hangs in the background now
	local := netip.MustParseAddr("127.0.0.1")
	if got := r.Address(local, local); got.String() != "127.0.0.2" {
		t.Fatalf("got %s during a hanging lookup, want the last answer", got)
	}
	close(release)
	r.Close()
}

func waitAddress(t *testing.T, r *Resolver, want string) {
	t.Helper()
	local := netip.MustParseAddr("127.0.0.1")
	deadline := time.Now().Add(10 * time.Second)
	for r.Address(local, local).String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("address is %s, want %s", r.Address(local, local), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// Direct: only a CIDR=local override makes a client direct (first match wins).
func TestDirect(t *testing.T) {
	r := &Resolver{Public: "127.0.0.2", Overrides: []Override{
		{Prefix: netip.MustParsePrefix("127.0.0.5/32"), IP: netip.MustParseAddr("127.0.0.9")},
		{Prefix: netip.MustParsePrefix("127.0.0.0/24"), Local: true},
	}}
	for client, want := range map[string]bool{"127.0.0.5": false, "127.0.0.6": true, "::ffff:127.0.0.6": true, "127.0.1.6": false} {
		if got := r.Direct(netip.MustParseAddr(client)); got != want {
			t.Errorf("Direct(%s) = %v, want %v", client, got, want)
		}
	}
}
