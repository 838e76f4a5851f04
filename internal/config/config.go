// Package config turns a TOML file and command-line flags into one validated
// serve configuration. One table (settings.go) names every setting once:
// each is a flag and a file key of the same name, parsed by the same code,
// so the two can never disagree. Flags override the file.
package config

import (
	"time"

	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/publicip"
	"github.com/rotary-ftp/rotary/internal/storage/s3"
)

// Config is the configuration of `rotary serve`.
type Config struct {
	// File is the config file this came from ("" for flags only).
	File string

	Listen        []string
	Root          string
	User          []string
	Anonymous     bool
	AnonymousRoot string
	PassivePorts  passive.Range
	// PublicPassivePorts, when set (not the zero Range), is announced in
	// passive replies in place of PassivePorts, port for port: the server
	// listens on PassivePorts.Lo+i and tells clients PublicPassivePorts.Lo+i.
	PublicPassivePorts passive.Range
	PublicIP           string
	PassiveIPOverride  []publicip.Override
	ProxyProtocolFrom  []string

	IdleTimeout    time.Duration
	LoginTimeout   time.Duration
	DataTimeout    time.Duration
	MaxConns       int
	MaxConnsPerIP  int
	UsersFile      string
	BanAfter       int
	BanWindow      time.Duration
	BanFor         time.Duration
	LoginFailDelay time.Duration
	// MaxLoginFailures closes a connection after this many wrong passwords.
	MaxLoginFailures int
	SyncUploads      bool
	// Storage is where homes live: "" (or "local") for folders of the
	// local disk, or an s3:// URL (internal/storage/s3.ParseURL) for a
	// bucket prefix, under which each home is a sub-prefix.
	Storage string
	// S3CredentialsFile is an AWS shared credentials file that S3 storage
	// signs with, instead of the AWS_ environment variables.
	S3CredentialsFile string

	XferlogFile string
	LogFormat   string
	LogLevel    string
	AdminListen string
	// AdminTokenFile holds the bearer token the admin endpoint wants; a
	// non-loopback AdminListen requires it.
	AdminTokenFile string

	// FTPS (RFC 4217).
	TLSCert                string
	TLSKey                 string
	TLSSelfSigned          bool
	StateDir               string
	RequireTLS             bool
	ImplicitTLSListen      []string
	TLSRequireSessionReuse bool
	TLSAllowCCC            bool
}

// IsS3 reports whether homes live in an S3 bucket (Storage is an s3:// URL).
func (c *Config) IsS3() bool { return s3.IsURL(c.Storage) }

// DefaultAdminListen is admin-listen's default. When it is taken (a second
// server on the machine), serve runs without the endpoint and says so; an
// address given explicitly must be free.
const DefaultAdminListen = "127.0.0.1:2181"

// Defaults returns the configuration with nothing set: what `rotary serve`
// does with no flags and no file.
func Defaults() Config {
	return Config{
		Listen:           []string{":2121"},
		Root:             "./ftproot",
		PassivePorts:     passive.Range{Lo: 50000, Hi: 50099},
		IdleTimeout:      5 * time.Minute,
		LoginTimeout:     60 * time.Second,
		DataTimeout:      5 * time.Minute,
		BanAfter:         10,
		BanWindow:        10 * time.Minute,
		BanFor:           30 * time.Minute,
		LoginFailDelay:   time.Second,
		MaxLoginFailures: 3,
		LogFormat:        "text",
		LogLevel:         "info",
		AdminListen:      DefaultAdminListen,
		StateDir:         "./rotary-state",
		Storage:          "local",
	}
}
