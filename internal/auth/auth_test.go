package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/storage/local"
)

func TestLogin(t *testing.T) {
	dir := t.TempDir()
	o := Options{Storage: &local.Roots{}, Users: []User{{Name: "alice", Password: "pw", Home: dir}, {Name: "bob", Password: "x", Home: dir, Perm: ftp.PermReadOnly}}}
	b := New(o)
	tests := []struct {
		user, pass string
		ok         bool
		perm       ftp.Perm
		anonymous  bool
	}{
		{"alice", "pw", true, ftp.PermAll, false},
		{"alice", "PW", false, 0, false},
		{"alice", "", false, 0, false},
		{"bob", "x", true, ftp.PermReadOnly, false},
		{"carol", "pw", false, 0, false},
		{"anonymous", "a@b", false, 0, false}, // anonymous not enabled
	}
	for _, tt := range tests {
		acct, err := b.Login(context.Background(), ftp.ConnInfo{}, tt.user, tt.pass)
		if tt.ok != (err == nil) {
			t.Errorf("Login(%q, %q) error %v, want ok=%v", tt.user, tt.pass, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ftp.ErrLoginFailed) {
				t.Errorf("Login(%q) error %v does not wrap ErrLoginFailed", tt.user, err)
			}
			continue
		}
		if acct.Perm != tt.perm || acct.Anonymous != tt.anonymous {
			t.Errorf("Login(%q) = perm %v anonymous %v", tt.user, acct.Perm, acct.Anonymous)
		}
		acct.Close()
	}
	o.AnonymousRoot = dir
	b.Reload(o)
	for _, name := range []string{"anonymous", "FTP"} {
		acct, err := b.Login(context.Background(), ftp.ConnInfo{}, name, "")
		if err != nil || !acct.Anonymous || acct.Perm != ftp.PermReadOnly {
			t.Fatalf("anonymous login as %s: %+v, %v", name, acct, err)
		}
		acct.Close()
	}
}

func TestParseUserFlag(t *testing.T) {
	tests := []struct {
		in, name, pass string
		ok             bool
	}{
		{"alice:pw", "alice", "pw", true},
		{"alice:pw:with:colons", "alice", "pw:with:colons", true},
		{"alice", "", "", false},
		{":pw", "", "", false},
		{"alice:", "", "", false},
		{"al ice:pw", "", "", false},
	}
	for _, tt := range tests {
		name, pass, err := ParseUserFlag(tt.in)
		if (err == nil) != tt.ok || name != tt.name || pass != tt.pass {
			t.Errorf("ParseUserFlag(%q) = %q, %q, %v", tt.in, name, pass, err)
		}
	}
	if a, b := RandomPassword(), RandomPassword(); a == b || len(a) < 20 {
		t.Errorf("RandomPassword gave %q and %q", a, b)
	}
}
