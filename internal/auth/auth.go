// Package auth decides who may log in and what they see: it implements
// ftp.Backend over users given on the command line (plain passwords), a
// users file (password hashes, homes, permissions, limits) and optional
// anonymous access. Failed logins cost a delay and are reported (to the ban
// tracker); a reload swaps the whole user set at once.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/storage"
)

// User is an account given on the command line (--user NAME:PASSWORD).
type User struct {
	Name string
	// Password in clear text; compared in constant time.
	Password string
	Home     string   // the user's home, as Options.Storage reads it (a folder for the local disk)
	Perm     ftp.Perm // 0 means ftp.PermAll
}

// Options is everything a Backend serves; Reload replaces it whole.
type Options struct {
	Users []User
	// File holds the users of the users file, if any. Its users come after
	// the command-line ones: a name in both logs in with the flag's password.
	File *UsersFile
	// AnonymousRoot, when not empty, lets "anonymous" and "ftp" log in with
	// any password, read-only, to this folder.
	AnonymousRoot string
	// FailDelay is waited before a failed login is answered.
	FailDelay time.Duration
	// Storage opens each account's home (every user's, and
	// AnonymousRoot): the command that builds the Options picks the
	// storage (rotary serve: the local disk). Required.
	Storage storage.Provider
}

// Backend implements ftp.Backend.
type Backend struct {
	// OnFailure, when set, is told the address of every failed login (the
	// ban tracker).
	OnFailure func(netip.Addr)
	Logger    *slog.Logger

	opts atomic.Pointer[Options]

	mu        sync.Mutex
	sessions  map[string]int  // logged-in sessions per user name
	loggedBad map[string]bool // users whose unusable hash was logged
}

// New returns a Backend serving o.
func New(o Options) *Backend {
	b := &Backend{sessions: make(map[string]int), loggedBad: make(map[string]bool)}
	b.Reload(o)
	return b
}

// Reload swaps in a new user set. Running sessions keep their accounts.
func (b *Backend) Reload(o Options) {
	b.opts.Store(&o)
	if o.File == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.loggedBad = make(map[string]bool)
	for _, name := range o.File.BadHashes() {
		// The spec: a hash in an unknown format means that user cannot log
		// in, and this is logged once (per load).
		b.logger().Warn("user cannot log in: password hash in an unknown format", "user", name, "file", o.File.Path)
		b.loggedBad[name] = true
	}
}

func (b *Backend) logger() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.Default()
}

// Capabilities is what the current Options.Storage's drivers can do
// (ftp.CapabilityReporter): FEAT before login lists only that.
func (b *Backend) Capabilities() storage.Capabilities {
	if st := b.opts.Load().Storage; st != nil {
		return st.Capabilities()
	}
	return 0
}

// Login implements ftp.Backend.
func (b *Backend) Login(ctx context.Context, c ftp.ConnInfo, user, pass string) (*ftp.Account, error) {
	o := b.opts.Load()
	if o.AnonymousRoot != "" && (strings.EqualFold(user, "anonymous") || strings.EqualFold(user, "ftp")) {
		return b.open(ctx, o, user, o.AnonymousRoot, ftp.PermReadOnly, true, 0, 0, 0)
	}
	for _, u := range o.Users {
		if u.Name != user {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) != 1 {
			VerifyDummy(pass) // as slow as an unknown name, which pays a hash
			return nil, b.fail(ctx, c, o, user, "wrong password")
		}
		perm := u.Perm
		if perm == 0 {
			perm = ftp.PermAll
		}
		return b.open(ctx, o, u.Name, u.Home, perm, false, 0, 0, 0)
	}
	if o.File != nil {
		if r, ok := o.File.Users[user]; ok {
			if r.Disabled {
				VerifyDummy(pass) // answer as slowly as a real check
				return nil, b.fail(ctx, c, o, user, "account disabled")
			}
			okPass, err := VerifyPassword(r.Password, pass)
			if errors.Is(err, ErrUnknownHashFormat) {
				return nil, b.fail(ctx, c, o, user, "unusable password hash")
			}
			if err != nil || !okPass {
				return nil, b.fail(ctx, c, o, user, "wrong password")
			}
			return b.open(ctx, o, r.Name, r.Home, r.Perm, false, r.MaxSessions, r.UploadRate, r.DownloadRate)
		}
	}
	// Hash anyway, so that reply times do not tell which names exist.
	VerifyDummy(pass)
	return nil, b.fail(ctx, c, o, user, "no such user")
}

// fail reports a failed login and waits the failure delay.
func (b *Backend) fail(ctx context.Context, c ftp.ConnInfo, o *Options, user, why string) error {
	b.logger().Info("login failed", "client", c.Client.Addr().String(), "user", user, "reason", why)
	if b.OnFailure != nil {
		b.OnFailure(c.Client.Addr())
	}
	if o.FailDelay > 0 {
		t := time.NewTimer(o.FailDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return ftp.ErrLoginFailed
}

func (b *Backend) open(ctx context.Context, o *Options, name, home string, perm ftp.Perm, anonymous bool, maxSessions int, up, down int64) (*ftp.Account, error) {
	if o.Storage == nil {
		return nil, fmt.Errorf("open home of %s: auth.Options has no Storage", name)
	}
	b.mu.Lock()
	if maxSessions > 0 && b.sessions[name] >= maxSessions {
		b.mu.Unlock()
		return nil, &ftp.LoginRefused{Reason: fmt.Sprintf("Sorry, the maximum number of sessions (%d) for this user are already connected", maxSessions)}
	}
	b.sessions[name]++
	b.mu.Unlock()
	d, err := o.Storage.Open(ctx, home)
	if err != nil {
		b.release(name)
		return nil, fmt.Errorf("open home of %s: %w", name, err)
	}
	var once sync.Once
	return &ftp.Account{Name: name, FS: d, Perm: perm, Anonymous: anonymous, UploadRate: up, DownloadRate: down,
		Close: func() {
			once.Do(func() {
				d.Close()
				b.release(name)
			})
		}}, nil
}

func (b *Backend) release(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sessions[name]--; b.sessions[name] <= 0 {
		delete(b.sessions, name)
	}
}

// ParseUserFlag parses --user NAME:PASSWORD.
func ParseUserFlag(s string) (name, password string, err error) {
	name, password, ok := strings.Cut(s, ":")
	if !ok || name == "" || password == "" {
		return "", "", fmt.Errorf("--user %q: want NAME:PASSWORD", s)
	}
	if strings.ContainsAny(name, " \t\r\n") {
		return "", "", fmt.Errorf("--user %q: the name may not contain spaces", s)
	}
	return name, password, nil
}

// RandomPassword returns a password of 18 random bytes, base64url encoded.
func RandomPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
