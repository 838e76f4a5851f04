package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/storage"
	"github.com/rotary-ftp/rotary/internal/storage/local"
)

// recordingProvider opens local drivers and records the homes asked for
// and the drivers closed.
type recordingProvider struct {
	caps   storage.Capabilities
	mu     sync.Mutex
	homes  []string
	closed int
}

func (p *recordingProvider) Open(ctx context.Context, home string) (storage.Driver, error) {
	if strings.HasPrefix(home, "s3://") {
		return nil, errors.New("no such bucket")
	}
	d, err := local.New(home)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.homes = append(p.homes, home)
	p.mu.Unlock()
	return closeCounter{d, p}, nil
}

func (p *recordingProvider) Capabilities() storage.Capabilities { return p.caps }

type closeCounter struct {
	storage.Driver
	p *recordingProvider
}

func (c closeCounter) Close() error {
	c.p.mu.Lock()
	c.p.closed++
	c.p.mu.Unlock()
	return c.Driver.Close()
}

// TestStorageComesFromOptions: every home, the anonymous one too, is opened
// by Options.Storage, whose capabilities the Backend reports; the
// account's Close closes the driver; a home the Provider cannot open is a
// server error, and Options without Storage cannot log anyone in.
func TestStorageComesFromOptions(t *testing.T) {
	alice, anon := t.TempDir(), t.TempDir()
	p := &recordingProvider{caps: storage.CapRename | storage.CapChmod}
	b := New(Options{Storage: p, AnonymousRoot: anon, Users: []User{
		{Name: "alice", Password: "pw", Home: alice}, {Name: "bucket", Password: "pw", Home: "s3://bucket/prefix"}}})
	if got := b.Capabilities(); got != p.caps {
		t.Errorf("Backend.Capabilities() = %v, want the Provider's %v", got, p.caps)
	}
	var _ ftp.CapabilityReporter = b
	ctx := context.Background()
	for _, user := range []string{"alice", "anonymous"} {
		acct, err := b.Login(ctx, ftp.ConnInfo{}, user, "pw")
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if _, ok := acct.FS.(closeCounter); !ok {
			t.Errorf("%s's storage is a %T, not the Provider's driver", user, acct.FS)
		}
		acct.Close()
		acct.Close()
	}
	if len(p.homes) != 2 || p.homes[0] != alice || p.homes[1] != anon || p.closed != 2 {
		t.Errorf("homes opened %v, drivers closed %d; want [%s %s] and 2", p.homes, p.closed, alice, anon)
	}
	_, err := b.Login(ctx, ftp.ConnInfo{}, "bucket", "pw")
	if err == nil || errors.Is(err, ftp.ErrLoginFailed) || !strings.Contains(err.Error(), "no such bucket") {
		t.Errorf("a home the Provider cannot open: %v, want the Provider's error (not a failed login)", err)
	}
	b.Reload(Options{Users: []User{{Name: "alice", Password: "pw", Home: alice}}})
	if _, err := b.Login(ctx, ftp.ConnInfo{}, "alice", "pw"); err == nil || errors.Is(err, ftp.ErrLoginFailed) {
		t.Errorf("Options without Storage: %v, want a server error", err)
	}
	if got := b.Capabilities(); got != 0 {
		t.Errorf("Capabilities without Storage = %v", got)
	}
}
