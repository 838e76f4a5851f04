package ftp

import (
	"context"
	"errors"
	"net/netip"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Backend authenticates users and hands out their view of storage. The
// engine knows nothing else about accounts: the auth package implements it.
type Backend interface {
	// Login checks user and pass for the connection described by c. A wrong
	// name or password is an error wrapping ErrLoginFailed; any other error
	// is logged and also answered with 530.
	Login(ctx context.Context, c ConnInfo, user, pass string) (*Account, error)
}

// CapabilityReporter is implemented by Backends that know what storage their
// accounts get (auth.Backend asks its storage.Provider). FEAT and HELP
// before login then list only what that storage does; with a Backend that
// does not implement it, they list everything the engine supports. After
// login they come from the account's own Driver.
type CapabilityReporter interface {
	Capabilities() storage.Capabilities
}

// ErrLoginFailed is what a Backend returns for a wrong user name or password.
var ErrLoginFailed = errors.New("login incorrect")

// LoginRefused is a Backend error for a correct login that may not go on
// now (for example the user's session limit); its Reason is sent with 530.
type LoginRefused struct{ Reason string }

func (e *LoginRefused) Error() string { return e.Reason }

// ConnInfo describes a control connection. Client is the real client address
// (after a trusted PROXY header, where one is used). Local is the control
// socket's own local address: passive listeners bind it and active
// connections leave from it. Dest is the address the client connected to:
// Local, or behind a PROXY gateway the destination its header names.
type ConnInfo struct {
	Client netip.AddrPort
	Local  netip.AddrPort
	Dest   netip.AddrPort
}

// Account is a logged-in user.
type Account struct {
	Name string
	// FS is the account's storage; the engine calls it with contexts that
	// ABOR, the session's end and the server's shutdown cancel, and asks
	// its Capabilities which optional commands to accept.
	FS   storage.Driver
	Perm Perm
	// Anonymous accounts are logged by the password they gave (an e-mail
	// address by tradition) and never get write permissions.
	Anonymous bool
	// UploadRate and DownloadRate limit each transfer, in bytes per second
	// (0 = unlimited). Throttled transfers are copied through a token
	// bucket; unthrottled ones keep the zero-copy path.
	UploadRate, DownloadRate int64
	// Close, if set, is called once when the session logs out or ends.
	Close func()
}

// Perm is a set of permissions, checked by the engine before each operation.
type Perm uint8

const (
	PermList   Perm = 1 << iota // LIST NLST MLSD MLST STAT SIZE MDTM
	PermRead                    // RETR HASH
	PermWrite                   // STOR APPE STOU MFMT SITE CHMOD
	PermDelete                  // DELE RMD
	PermRename                  // RNFR RNTO
	PermMkdir                   // MKD

	PermReadOnly = PermList | PermRead
	PermAll      = PermList | PermRead | PermWrite | PermDelete | PermRename | PermMkdir
)

var permNames = []struct {
	p    Perm
	name string
}{
	{PermList, "list"}, {PermRead, "read"}, {PermWrite, "write"},
	{PermDelete, "delete"}, {PermRename, "rename"}, {PermMkdir, "mkdir"},
}

// ParsePerm parses a comma-separated list such as "list,read,write".
func ParsePerm(s string) (Perm, error) {
	var p Perm
	for _, f := range splitComma(s) {
		found := false
		for _, n := range permNames {
			if f == n.name {
				p |= n.p
				found = true
			}
		}
		if f == "all" {
			p |= PermAll
			found = true
		}
		if !found {
			return 0, errors.New("unknown permission " + `"` + f + `" (want list, read, write, delete, rename, mkdir or all)`)
		}
	}
	return p, nil
}

func (p Perm) String() string {
	s := ""
	for _, n := range permNames {
		if p&n.p != 0 {
			if s != "" {
				s += ","
			}
			s += n.name
		}
	}
	return s
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			f := s[start:i]
			for len(f) > 0 && f[0] == ' ' {
				f = f[1:]
			}
			for len(f) > 0 && f[len(f)-1] == ' ' {
				f = f[:len(f)-1]
			}
			if f != "" {
				out = append(out, f)
			}
			start = i + 1
		}
	}
	return out
}
