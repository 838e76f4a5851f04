package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Target is the server under test, from an ftp:// URL.
type Target struct {
	User     string
	Password string
	Host     string // a host name or an IP address, without brackets
	Port     int
	// Dir is the folder the workloads use, relative to the login folder ("" is
	// the login folder itself). It comes from the URL's path.
	Dir string
}

// ParseTarget parses ftp://USER:PASS@HOST[:PORT][/DIR]. The port defaults to
// 21; a missing user means anonymous (password "bench@").
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "ftp" {
		return Target{}, fmt.Errorf("target %q: want an ftp:// URL", raw)
	}
	if u.Opaque != "" || u.Host == "" {
		return Target{}, fmt.Errorf("target %q: want ftp://USER:PASS@HOST:PORT/", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Target{}, fmt.Errorf("target %q: a query or fragment means nothing here", raw)
	}
	t := Target{Host: u.Hostname(), Port: 21, User: "anonymous", Password: "bench@"}
	if t.Host == "" {
		return Target{}, fmt.Errorf("target %q: no host", raw)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("target %q: bad port %q", raw, p)
		}
		t.Port = n
	}
	if u.User != nil {
		t.User = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			t.Password = pw
		}
		if t.User == "" {
			return Target{}, fmt.Errorf("target %q: empty user name", raw)
		}
	}
	if strings.ContainsAny(t.User+t.Password, "\r\n") {
		return Target{}, fmt.Errorf("target %q: line breaks in user or password", raw)
	}
	// RFC 1738 3.2.2: the path is relative to the login folder.
	dir := strings.Trim(path.Clean("/"+u.Path), "/")
	if strings.ContainsAny(dir, "\r\n") {
		return Target{}, fmt.Errorf("target %q: line break in path", raw)
	}
	t.Dir = dir
	return t, nil
}

// Addr is HOST:PORT for net.Dial.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// String is the URL without the password.
func (t Target) String() string {
	s := "ftp://" + url.User(t.User).String() + "@" + t.Addr() + "/"
	if t.Dir != "" {
		s += t.Dir + "/"
	}
	return s
}

// errRemote is wrapped by Resolve for a target outside loopback.
var errRemote = errors.New("not a loopback address (give --allow-remote to load a server on another machine)")

// Resolve returns the address to connect to. Unless allowRemote, every
// address the host name stands for must be loopback (127.0.0.0/8 or ::1):
// a load test must not hit another machine by accident.
func (t Target) Resolve(ctx context.Context, allowRemote bool) (netip.Addr, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(t.Host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", t.Host)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("resolve %s: %w", t.Host, err)
		}
		if len(addrs) == 0 {
			return netip.Addr{}, fmt.Errorf("resolve %s: no address", t.Host)
		}
	}
	for i, a := range addrs {
		a = a.Unmap()
		addrs[i] = a
		if !allowRemote && !a.IsLoopback() {
			return netip.Addr{}, fmt.Errorf("target %s (%s): %w", t.Host, a, errRemote)
		}
	}
	return addrs[0], nil
}
