package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/publicip"
	"github.com/rotary-ftp/rotary/internal/storage/s3"
)

// setting is one row of the table: a flag and a file key of the same name.
type setting struct {
	name string
	help string
	// bind returns the setting's value in c; Set parses one value (a list
	// appends), giving only the reason on error.
	bind func(c *Config) value
}

// pathSettings given as relative paths in a config file are relative to
// that file's folder, as an admin reading /etc/rotary/rotary.toml expects.
var pathSettings = map[string]bool{"root": true, "anonymous-root": true, "users-file": true, "xferlog-file": true,
	"tls-cert": true, "tls-key": true, "state-dir": true, "admin-token-file": true, "s3-credentials-file": true}

// value is a flag.Value that can also be reset (a list given on the
// command line replaces the file's list rather than adding to it).
type value interface {
	String() string
	Set(string) error
	reset()
}

// settings is every serve setting. Adding one is one row here and a field
// in Config.
var settings = []setting{
	{"listen", "control listener `ADDR`, repeatable (IPv4 and IPv6)", func(c *Config) value {
		return &listValue{p: &c.Listen, check: checkListen}
	}},
	{"root", "`DIR` served to --user users (created if missing)", func(c *Config) value { return &stringValue{p: &c.Root} }},
	{"user", "a user `NAME:PASSWORD` whose home is root, repeatable", func(c *Config) value {
		return &listValue{p: &c.User, check: checkUser}
	}},
	{"anonymous", "allow read-only anonymous login (anonymous or ftp, any password)", func(c *Config) value { return &boolValue{p: &c.Anonymous} }},
	{"anonymous-root", "`DIR` for anonymous users, separate from user homes (default: root)", func(c *Config) value {
		return &stringValue{p: &c.AnonymousRoot}
	}},
	{"passive-ports", "passive data port range `LO-HI`", func(c *Config) value { return &rangeValue{p: &c.PassivePorts} }},
	{"public-passive-ports", "`LO-HI` announced in passive replies instead of passive-ports, port for port (a NAT that translates ports); the same size as passive-ports (default: passive-ports)", func(c *Config) value {
		return &rangeValue{p: &c.PublicPassivePorts, optional: true}
	}},
	{"public-ip", "`IP|HOSTNAME` announced in passive replies; a host name is resolved at start and every 60 s in the background (default: the control connection's local address)", func(c *Config) value {
		return &stringValue{p: &c.PublicIP}
	}},
	{"passive-ip-override", "`CIDR=IP`: clients inside CIDR are told IP (or the word local) instead of public-ip; repeatable, first match wins", func(c *Config) value {
		return &overrideValue{p: &c.PassiveIPOverride}
	}},
	{"proxy-protocol-from", "trust PROXY protocol headers (v1/v2) from peers in `CIDR` (a gateway), on control and data connections; repeatable", func(c *Config) value {
		return &listValue{p: &c.ProxyProtocolFrom, check: checkCIDR}
	}},
	{"idle-timeout", "close an idle session with 421 after `DUR` (0 = never)", func(c *Config) value { return &durationValue{p: &c.IdleTimeout} }},
	{"login-timeout", "time allowed to log in after connecting, `DUR`", func(c *Config) value { return &durationValue{p: &c.LoginTimeout, positive: true} }},
	{"data-timeout", "end a transfer that makes no progress for `DUR` with 426 (0 = never)", func(c *Config) value { return &durationValue{p: &c.DataTimeout} }},
	{"max-conns", "refuse connection N+1 with 421 (0 = unlimited)", func(c *Config) value { return &intValue{p: &c.MaxConns} }},
	{"max-conns-per-ip", "refuse connection N+1 from one IP with 421 (0 = unlimited)", func(c *Config) value { return &intValue{p: &c.MaxConnsPerIP} }},
	{"sync-uploads", "fsync each upload before it replaces the old file, so that even a power loss leaves the old or the whole new file (costs a disk flush per upload)", func(c *Config) value {
		return &boolValue{p: &c.SyncUploads}
	}},
	{"storage", "where homes live: local (folders of this disk: root and the users' homes) or an S3 `URL`, s3://BUCKET[/PREFIX][?endpoint=HOST:PORT&region=R&path-style=true&tls=false], whose prefix holds every home (credentials from s3-credentials-file, else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", func(c *Config) value {
		return &stringValue{p: &c.Storage, check: checkStorage}
	}},
	{"s3-credentials-file", "AWS shared credentials `FILE` (aws_access_key_id, aws_secret_access_key, aws_session_token under [default], or the profile AWS_PROFILE names) for S3 storage, instead of the AWS_ environment variables", func(c *Config) value {
		return &stringValue{p: &c.S3CredentialsFile}
	}},
	{"users-file", "TOML `FILE` of users (password hashes, homes, permissions, limits)", func(c *Config) value { return &stringValue{p: &c.UsersFile} }},
	{"ban-after", "ban an IP after `N` failed logins within ban-window (0 = never)", func(c *Config) value { return &intValue{p: &c.BanAfter} }},
	{"ban-window", "the window `DUR` in which ban-after failures count", func(c *Config) value { return &durationValue{p: &c.BanWindow, positive: true} }},
	{"ban-for", "how long a banned IP is refused with 421, `DUR`", func(c *Config) value { return &durationValue{p: &c.BanFor, positive: true} }},
	{"login-fail-delay", "delay `DUR` before answering a failed login with 530", func(c *Config) value { return &durationValue{p: &c.LoginFailDelay} }},
	{"max-login-failures", "wrong passwords `N` on one connection before it is closed with 421 (vsftpd's max_login_fails)", func(c *Config) value {
		return &intValue{p: &c.MaxLoginFailures, min: 1}
	}},
	{"xferlog-file", "write transfers to `FILE` in the wu-ftpd/vsftpd xferlog format", func(c *Config) value { return &stringValue{p: &c.XferlogFile} }},
	{"log-format", "log `FORMAT`: text or json", func(c *Config) value { return &enumValue{p: &c.LogFormat, allowed: []string{"text", "json"}} }},
	{"log-level", "log `LEVEL`: debug, info, warn or error", func(c *Config) value {
		return &enumValue{p: &c.LogLevel, allowed: []string{"debug", "info", "warn", "error"}}
	}},
	{"tls-cert", "PEM certificate `FILE` for FTPS, chain allowed (with tls-key); re-read on SIGHUP", func(c *Config) value { return &stringValue{p: &c.TLSCert} }},
	{"tls-key", "PEM private key `FILE` of tls-cert", func(c *Config) value { return &stringValue{p: &c.TLSKey} }},
	{"tls-self-signed", "FTPS with a self-signed certificate for public-ip (else the listen addresses, else localhost), kept in state-dir; its SHA-256 fingerprint is printed at start", func(c *Config) value {
		return &boolValue{p: &c.TLSSelfSigned}
	}},
	{"state-dir", "`DIR` for state kept across restarts (the self-signed certificate)", func(c *Config) value { return &stringValue{p: &c.StateDir} }},
	{"require-tls", "refuse USER/PASS before AUTH TLS (530) and data transfers without PROT P (521)", func(c *Config) value { return &boolValue{p: &c.RequireTLS} }},
	{"implicit-tls-listen", "implicit FTPS listener `ADDR` (TLS from the first byte, port 990 style; data defaults to PROT P), repeatable", func(c *Config) value {
		return &listValue{p: &c.ImplicitTLSListen, check: checkListen}
	}},
	{"tls-require-session-reuse", "refuse (425) a data connection whose TLS session does not resume the control connection's (many Go and .NET clients cannot resume)", func(c *Config) value {
		return &boolValue{p: &c.TLSRequireSessionReuse}
	}},
	{"tls-allow-ccc", "let logged-in clients return the control connection to clear text with CCC (for NAT routers' FTP helpers); data stays protected", func(c *Config) value {
		return &boolValue{p: &c.TLSAllowCCC}
	}},
	{"admin-listen", "`ADDR` of the admin endpoint (rotary ban, /metrics, /healthz, the status page): loopback, or any with admin-token-file; empty turns it off", func(c *Config) value {
		return &stringValue{p: &c.AdminListen, check: checkAdmin}
	}},
	{"admin-token-file", "`FILE` whose first line is the token the admin endpoint wants (Authorization: Bearer); required for a non-loopback admin-listen", func(c *Config) value {
		return &stringValue{p: &c.AdminTokenFile}
	}},
}

func lookup(name string) (setting, bool) {
	for _, s := range settings {
		if s.name == name {
			return s, true
		}
	}
	return setting{}, false
}

type stringValue struct {
	p     *string
	check func(string) error
}

func (v *stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v *stringValue) reset() {}
func (v *stringValue) Set(s string) error {
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	*v.p = s
	return nil
}

type boolValue struct{ p *bool }

func (v *boolValue) String() string {
	if v.p == nil {
		return "false"
	}
	return strconv.FormatBool(*v.p)
}
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) reset()           {}
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*v.p = b
	return nil
}

// intValue is a whole number of at least min (0 unless set).
type intValue struct {
	p   *int
	min int
}

func (v *intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}
func (v *intValue) reset() {}
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < v.min {
		return fmt.Errorf("want a whole number, %d or more", v.min)
	}
	*v.p = n
	return nil
}

type durationValue struct {
	p        *time.Duration
	positive bool
}

func (v *durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}
func (v *durationValue) reset() {}
func (v *durationValue) Set(s string) error {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		// A bare number is seconds, as in vsftpd's timeouts.
		n, nerr := strconv.Atoi(s)
		if nerr != nil {
			return errors.New("want a duration such as 90s, 5m or 1h")
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || (v.positive && d == 0) {
		if v.positive {
			return errors.New("must be more than 0")
		}
		return errors.New("must not be negative")
	}
	*v.p = d
	return nil
}

type enumValue struct {
	p       *string
	allowed []string
}

func (v *enumValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v *enumValue) reset() {}
func (v *enumValue) Set(s string) error {
	for _, a := range v.allowed {
		if strings.EqualFold(s, a) {
			*v.p = a
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(v.allowed, ", "))
}

// rangeValue is a port range; an optional one may be unset (the zero
// Range), which "" sets.
type rangeValue struct {
	p        *passive.Range
	optional bool
}

func (v *rangeValue) String() string {
	if v.p == nil || (v.optional && *v.p == (passive.Range{})) {
		return ""
	}
	return v.p.String()
}
func (v *rangeValue) reset() {}
func (v *rangeValue) Set(s string) error {
	if v.optional && strings.TrimSpace(s) == "" {
		*v.p = passive.Range{}
		return nil
	}
	r, err := passive.ParseRange(s)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			return inner
		}
		return err
	}
	*v.p = r
	return nil
}

// listValue appends; the first Set after reset replaces.
type listValue struct {
	p       *[]string
	check   func(string) error
	touched bool
}

func (v *listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}
func (v *listValue) reset() { v.touched = false }
func (v *listValue) Set(s string) error {
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	if !v.touched {
		*v.p = nil
		v.touched = true
	}
	*v.p = append(*v.p, s)
	return nil
}

type overrideValue struct {
	p       *[]publicip.Override
	touched bool
}

func (v *overrideValue) String() string {
	if v.p == nil {
		return ""
	}
	var parts []string
	for _, o := range *v.p {
		t := o.IP.String()
		if o.Local {
			t = "local"
		}
		parts = append(parts, o.Prefix.String()+"="+t)
	}
	return strings.Join(parts, ",")
}
func (v *overrideValue) reset() { v.touched = false }
func (v *overrideValue) Set(s string) error {
	o, err := publicip.ParseOverride(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), fmt.Sprintf("passive-ip-override %q: ", s)))
	}
	if !v.touched {
		*v.p = nil
		v.touched = true
	}
	*v.p = append(*v.p, o)
	return nil
}

func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want HOST:PORT, e.g. :21, 0.0.0.0:21 or [::]:21")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("%q is not an IP address", host)
	}
	return nil
}

func checkUser(s string) error {
	name, pass, ok := strings.Cut(s, ":")
	if !ok || name == "" || pass == "" {
		return errors.New("want NAME:PASSWORD")
	}
	if strings.ContainsAny(name, " \t\r\n") {
		return errors.New("the name may not contain spaces")
	}
	return nil
}

func checkCIDR(s string) error {
	if strings.Contains(s, "/") {
		if _, _, err := net.ParseCIDR(s); err != nil {
			return errors.New("not a CIDR")
		}
		return nil
	}
	if net.ParseIP(s) == nil {
		return errors.New("not an IP address or CIDR")
	}
	return nil
}

// checkStorage accepts the local disk or an S3 URL that parses; whether
// the bucket answers is for rotary check and the start to find out.
func checkStorage(s string) error {
	switch {
	case s == "" || s == "local":
		return nil
	case s3.IsURL(s):
		_, err := s3.ParseURL(s)
		return err
	}
	return errors.New("want local or s3://BUCKET[/PREFIX][?endpoint=HOST:PORT&...]")
}

// checkAdmin checks the admin endpoint's form; Validate keeps it on
// loopback unless it has a token.
func checkAdmin(s string) error {
	if s == "" {
		return nil
	}
	return adminhttp.CheckListen(s, true)
}
