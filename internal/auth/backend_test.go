package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/storage/local"
)

func usersFile(t *testing.T, text string) *UsersFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadUsersFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestUsersFileLogin(t *testing.T) {
	home := t.TempDir()
	hash, err := HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	f := usersFile(t, `
[users.carol]
password = "`+hash+`"
home = "`+home+`"
perms = "list,read"
max-sessions = 1
download-rate = "1MiB"

[users.dave]
password = "`+hash+`"
home = "`+home+`"
disabled = true

[users.eve]
password = "plain-text-is-not-a-hash"
home = "`+home+`"
`)
	var logs bytes.Buffer
	var failed []netip.Addr
	b := &Backend{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnFailure: func(ip netip.Addr) { failed = append(failed, ip) },
		sessions: map[string]int{}, loggedBad: map[string]bool{}}
	b.Reload(Options{Storage: &local.Roots{}, File: f, FailDelay: 50 * time.Millisecond})
	if n := strings.Count(logs.String(), "unknown format"); n != 1 {
		t.Fatalf("bad hash logged %d times at load, want once:\n%s", n, logs.String())
	}
	ci := ftp.ConnInfo{Client: netip.MustParseAddrPort("127.0.0.5:1000")}
	ctx := context.Background()

	acct, err := b.Login(ctx, ci, "carol", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if acct.Perm != ftp.PermList|ftp.PermRead || acct.DownloadRate != 1<<20 || acct.UploadRate != 0 {
		t.Fatalf("carol's account: %+v", acct)
	}
	// max-sessions = 1: a second login is refused with a reason.
	_, err = b.Login(ctx, ci, "carol", "secret")
	var refused *ftp.LoginRefused
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "maximum number of sessions (1)") {
		t.Fatalf("second carol session: %v", err)
	}
	acct.Close()
	acct.Close() // idempotent
	acct2, err := b.Login(ctx, ci, "carol", "secret")
	if err != nil {
		t.Fatalf("after the first session closed: %v", err)
	}
	acct2.Close()

	for _, tc := range []struct{ user, pass string }{{"carol", "wrong"}, {"dave", "secret"}, {"eve", "plain-text-is-not-a-hash"}, {"nobody", "x"}} {
		start := time.Now()
		if _, err := b.Login(ctx, ci, tc.user, tc.pass); !errors.Is(err, ftp.ErrLoginFailed) {
			t.Errorf("%s/%s: %v, want ErrLoginFailed", tc.user, tc.pass, err)
		}
		if time.Since(start) < 50*time.Millisecond {
			t.Errorf("%s: failure answered without the delay", tc.user)
		}
	}
	if len(failed) != 4 || failed[0] != netip.MustParseAddr("127.0.0.5") {
		t.Fatalf("OnFailure calls: %v", failed)
	}
	// A cancelled context cuts the delay short.
	b.Reload(Options{Storage: &local.Roots{}, File: f, FailDelay: time.Hour})
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := b.Login(cctx, ci, "carol", "wrong"); !errors.Is(err, ftp.ErrLoginFailed) {
		t.Fatal(err)
	}
}
