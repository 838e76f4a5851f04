// Package auth decides who may log in and what they see: it implements
// ftp.Backend over a list of users and optional anonymous access.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/storage/local"
)

// User is one account.
type User struct {
	Name string
	// Password in clear text, as given with --user NAME:PASSWORD. Compared in
	// constant time.
	Password string
	Home     string   // folder served as the user's root
	Perm     ftp.Perm // 0 means ftp.PermAll
}

// Backend implements ftp.Backend.
type Backend struct {
	Users []User
	// AnonymousRoot, when not empty, lets "anonymous" and "ftp" log in with
	// any password, read-only, to this folder.
	AnonymousRoot string
}

// Login implements ftp.Backend.
func (b *Backend) Login(ctx context.Context, c ftp.ConnInfo, user, pass string) (*ftp.Account, error) {
	if b.AnonymousRoot != "" && (strings.EqualFold(user, "anonymous") || strings.EqualFold(user, "ftp")) {
		return open(user, b.AnonymousRoot, ftp.PermReadOnly, true)
	}
	for _, u := range b.Users {
		if u.Name != user {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) != 1 {
			return nil, ftp.ErrLoginFailed
		}
		perm := u.Perm
		if perm == 0 {
			perm = ftp.PermAll
		}
		return open(u.Name, u.Home, perm, false)
	}
	return nil, ftp.ErrLoginFailed
}

func open(name, home string, perm ftp.Perm, anonymous bool) (*ftp.Account, error) {
	d, err := local.New(home)
	if err != nil {
		return nil, fmt.Errorf("open home of %s: %w", name, err)
	}
	return &ftp.Account{Name: name, FS: d, Perm: perm, Anonymous: anonymous, Close: func() { d.Close() }}, nil
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
