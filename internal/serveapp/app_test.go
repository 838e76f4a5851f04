package serveapp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/ftpclient"
	"github.com/rotary-ftp/rotary/internal/ftptest"
	"github.com/rotary-ftp/rotary/internal/storage/local"
	"github.com/rotary-ftp/rotary/internal/syncbuf"
	"github.com/rotary-ftp/rotary/internal/tlscert"
)

// Passive ranges for this package's servers: a block of its own
// (18000-18999), below Linux's ephemeral range.
var nextPassive atomic.Int32

func init() { nextPassive.Store(18000 + int32(os.Getpid()%10)*100) }

func passiveRange(n int) string {
	lo := int(nextPassive.Add(int32(n))) - n
	return fmt.Sprintf("%d-%d", lo, lo+n-1)
}

// testApp is a running App on a config file of the test's.
type testApp struct {
	*App
	dir, file string
	out, log  *syncbuf.Buffer
	done      chan int
}

// startApp writes body to rotary.toml (with a passive range and the
// admin endpoint off unless body sets them) and runs the application.
func startApp(t *testing.T, body string) *testApp {
	t.Helper()
	return startAppWith(t, body, Options{})
}

// startAppIn is startApp with its config file in dir.
func startAppIn(t *testing.T, dir, body string) *testApp {
	t.Helper()
	return startAppAt(t, dir, body, Options{})
}

// startAppWith is startApp with options (Args, Stdout and Stderr are set here).
func startAppWith(t *testing.T, body string, o Options) *testApp {
	t.Helper()
	return startAppAt(t, t.TempDir(), body, o)
}

func startAppAt(t *testing.T, dir, body string, o Options) *testApp {
	t.Helper()
	ta := &testApp{dir: dir, file: filepath.Join(dir, "rotary.toml"), out: &syncbuf.Buffer{}, log: &syncbuf.Buffer{}, done: make(chan int, 1)}
	ta.write(t, body)
	args := []string{"--config", ta.file}
	cfg, _, err := config.Parse("rotary serve", "", args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.Args, o.Stdout, o.Stderr = args, ta.out, ta.log
	a, err := New(cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ta.App = a
	ctx, cancel := context.WithCancel(context.Background())
	go func() { ta.done <- a.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		<-ta.done
		a.Sync()
		slog.SetDefault(slog.New(slog.DiscardHandler))
		if t.Failed() {
			t.Logf("log:\n%s", ta.log.String())
		}
	})
	return ta
}

// write replaces rotary.toml; the root and a passive range are always set.
func (ta *testApp) write(t *testing.T, body string) {
	t.Helper()
	if !strings.Contains(body, "passive-ports") {
		body += fmt.Sprintf("passive-ports = %q\n", passiveRange(4))
	}
	if !strings.Contains(body, "admin-listen") {
		body += "admin-listen = \"\"\n"
	}
	body += "root = \"root\"\nlogin-fail-delay = \"1ms\"\n"
	if err := os.WriteFile(ta.file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (ta *testApp) addr(t *testing.T) string {
	t.Helper()
	plain, _ := ta.Addrs()
	if len(plain) == 0 {
		t.Fatal("no control listener")
	}
	return plain[0].String()
}

func dialCtl(t *testing.T, addr string) *ftptest.Conn { return ftptest.Dial(t, addr) }

// dialTLS is dialCtl, then AUTH TLS.
func dialTLS(t *testing.T, addr string) *ftptest.Conn {
	r := ftptest.Dial(t, addr)
	r.AuthTLS(insecure)
	return r
}

// writePair writes a certificate and key for hosts into dir.
func writePair(t *testing.T, dir, name string, hosts ...string) (cert, key string) {
	t.Helper()
	certPEM, keyPEM, err := tlscert.Generate(hosts, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(cert, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func fingerprint(t *testing.T, cert, key string) string {
	t.Helper()
	h, err := tlscert.Load(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return h.Fingerprint()
}

var insecure = &tls.Config{InsecureSkipVerify: true}

// servedFingerprint is the certificate a new explicit FTPS session gets.
func servedFingerprint(t *testing.T, addr string) string {
	t.Helper()
	tc := dialCtl(t, addr).AuthTLS(insecure)
	defer tc.Close()
	return tlscert.Fingerprint(tc.ConnectionState().PeerCertificates[0])
}

func TestTLSSettings(t *testing.T) {
	cfg, _, err := config.Parse("rotary serve", "", []string{
		"--listen", "127.0.0.1:21", "--tls-cert", "c.pem", "-tls-key=k.pem", "--require-tls",
		"--root", "/srv", "--implicit-tls-listen", ":990", "--implicit-tls-listen=[::1]:990",
		"--tls-allow-ccc=false", "--state-dir", "st", "--anonymous",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := tlsSettingsFrom(cfg)
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	want := tlsSettings{certFile: "c.pem", keyFile: "k.pem", require: true, stateDir: "st", implicitListen: []string{":990", "[::1]:990"}}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("settings = %+v, want %+v", o, want)
	}
	if c, _, _ := config.Parse("rotary serve", "", nil, io.Discard); tlsSettingsFrom(c).stateDir != "./rotary-state" {
		t.Errorf("default state dir %q", tlsSettingsFrom(c).stateDir)
	}
}

func TestTLSSetupErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a", "127.0.0.1")
	other, _ := writePair(t, dir, "b", "127.0.0.1")
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM"), 0o600)
	missing := filepath.Join(dir, "missing.pem")
	logger := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		o    tlsSettings
		want string // in the error
	}{
		{tlsSettings{certFile: missing, keyFile: key}, missing},
		{tlsSettings{certFile: cert, keyFile: missing}, missing},
		{tlsSettings{certFile: garbage, keyFile: key}, garbage},
		{tlsSettings{certFile: cert, keyFile: garbage}, garbage},
		{tlsSettings{certFile: cert, keyFile: cert}, cert}, // a certificate is no key
		{tlsSettings{certFile: other, keyFile: key}, "does not match"},
		{tlsSettings{certFile: cert}, "--tls-key"},
		{tlsSettings{keyFile: key}, "--tls-cert"},
		{tlsSettings{certFile: cert, keyFile: key, selfSigned: true}, "exclude"},
		{tlsSettings{require: true}, "--require-tls needs a certificate"},
		{tlsSettings{implicitListen: []string{"127.0.0.1:0"}}, "--implicit-tls-listen needs"},
		{tlsSettings{requireReuse: true}, "--tls-require-session-reuse needs"},
		{tlsSettings{allowCCC: true}, "--tls-allow-ccc needs"},
	} {
		err := c.o.validate()
		if err == nil {
			_, err = newFTPS(c.o, config.Config{}, io.Discard, logger)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.o, err, c.want)
		}
	}
	if f, err := newFTPS(tlsSettings{}, config.Config{}, io.Discard, logger); f != nil || err != nil {
		t.Errorf("no TLS settings: %v, %v", f, err)
	}
}

func TestTLSSelfSignedKept(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	logger := slog.New(slog.DiscardHandler)
	setup := func(publicIP string, listen ...string) (string, string) {
		t.Helper()
		var out bytes.Buffer
		f, err := newFTPS(tlsSettings{selfSigned: true, stateDir: state}, config.Config{PublicIP: publicIP, Listen: listen}, &out, logger)
		if err != nil {
			t.Fatal(err)
		}
		conf, _ := f.serverConfig()
		if conf == nil || conf.MinVersion != tls.VersionTLS12 {
			t.Fatalf("TLSConfig %+v", conf)
		}
		if !strings.Contains(out.String(), f.holder.Fingerprint()) {
			t.Fatalf("fingerprint not printed: %q", out.String())
		}
		return f.holder.Fingerprint(), out.String()
	}
	fp1, out := setup("", "127.0.0.1:2121", "[::]:2121")
	if !strings.Contains(out, "for 127.0.0.1,") {
		t.Errorf("names: %q", out)
	}
	if fp2, _ := setup("", "127.0.0.1:2121"); fp2 != fp1 {
		t.Error("restart made a new certificate")
	}
	fp3, out := setup("ftp.example.com")
	if fp3 == fp1 || !strings.Contains(out, "ftp.example.com") {
		t.Errorf("a new public name kept the old certificate: %q", out)
	}
	if fp4, out := setup("", ":2121"); !strings.Contains(out, "localhost") || fp4 == fp3 {
		t.Errorf("wildcard listen: %q", out)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(state, tlscert.SelfSignedKey))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file: %v %v", fi.Mode(), err)
		}
	}
}

func TestCertHosts(t *testing.T) {
	for _, c := range []struct {
		public string
		listen []string
		want   []string
	}{
		{"203.0.113.5", []string{"10.0.0.1:21"}, []string{"203.0.113.5"}},
		{"", []string{"10.0.0.1:21", "[2001:db8::1]:21", "10.0.0.1:990"}, []string{"10.0.0.1", "2001:db8::1"}},
		{"", []string{":21", "0.0.0.0:21", "[::]:21"}, []string{"localhost", "127.0.0.1", "::1"}},
	} {
		if got := certHosts(c.public, c.listen); !reflect.DeepEqual(got, c.want) {
			t.Errorf("certHosts(%q, %q) = %q, want %q", c.public, c.listen, got, c.want)
		}
	}
}

// A reload that changes which gateway is trusted for PROXY headers gets a
// new passive pool (whose data-connection hook trusts the new list), even
// when the list keeps its length; an unchanged reload keeps the pool.
func TestReloadRebuildsPoolOnTrustChange(t *testing.T) {
	ta := startApp(t, "listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nproxy-protocol-from = [\"127.0.0.2/32\"]\n")
	first := ta.Server().Passive
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if ta.Server().Passive != first {
		t.Fatal("an unchanged reload replaced the passive pool")
	}
	body, _ := os.ReadFile(ta.file)
	os.WriteFile(ta.file, bytes.Replace(body, []byte("127.0.0.2/32"), []byte("127.0.0.3/32"), 1), 0o644)
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if ta.Server().Passive == first {
		t.Fatal("trust changed from 127.0.0.2 to 127.0.0.3, but the old pool (trusting 127.0.0.2 on data connections) was kept")
	}
}

// SIGHUP applies every FTPS setting (issue 14): an admin who turns on
// require-tls and reloads no longer accepts clear-text logins.
func TestReloadAppliesTLSPolicy(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a", "127.0.0.1")
	base := fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\ntls-cert = %q\ntls-key = %q\n", cert, key)
	ta := startApp(t, base)
	addr := ta.addr(t)

	clear := dialCtl(t, addr)
	clear.Must(331, "USER u")
	ccc := dialTLS(t, addr)
	ccc.Must(331, "USER u")
	ccc.Must(230, "PASS p")
	ccc.Must(534, "CCC") // off by default

	ta.write(t, base+"require-tls = true\ntls-allow-ccc = true\n")
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if msg := dialCtl(t, addr).Must(530, "USER u"); !strings.Contains(msg, "TLS required") {
		t.Errorf("clear USER after require-tls: %q", msg)
	}
	// A session that began before the reload is held to it from its next
	// command: its PASS in clear text is refused.
	clear.Must(530, "PASS p")
	ccc.Must(200, "CCC")

	ta.write(t, base)
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	dialCtl(t, addr).Must(331, "USER u")
	r := dialTLS(t, addr)
	r.Must(331, "USER u")
	r.Must(230, "PASS p")
	r.Must(534, "CCC")
}

// A changed certificate path is loaded by the reload; one that does not load
// refuses the reload, naming the file, and the old certificate stays.
func TestReloadChangesCertificate(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writePair(t, dir, "a", "127.0.0.1")
	certB, keyB := writePair(t, dir, "b", "127.0.0.1")
	conf := func(cert, key string) string {
		return fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\ntls-cert = %q\ntls-key = %q\n", cert, key)
	}
	ta := startApp(t, conf(certA, keyA))
	addr := ta.addr(t)
	if got, want := servedFingerprint(t, addr), fingerprint(t, certA, keyA); got != want {
		t.Fatalf("served %s, want A %s", got, want)
	}
	ta.write(t, conf(certB, keyB))
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := servedFingerprint(t, addr), fingerprint(t, certB, keyB); got != want {
		t.Fatalf("after the reload served %s, want B %s", got, want)
	}
	missing := filepath.Join(dir, "missing.pem")
	ta.write(t, conf(missing, keyB))
	if err := ta.Reload(); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("reload with a missing certificate: %v, want a refusal naming %s", err, missing)
	}
	if got, want := servedFingerprint(t, addr), fingerprint(t, certB, keyB); got != want {
		t.Fatalf("after a refused reload served %s, want B %s", got, want)
	}
	// TLS turned off: AUTH TLS is refused, plain logins go on.
	ta.write(t, "listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\n")
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	dialCtl(t, addr).Must(502, "AUTH TLS")
	// And on again, with a self-signed certificate.
	ta.write(t, fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\ntls-self-signed = true\nstate-dir = %q\n", filepath.Join(dir, "state")))
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if fp := servedFingerprint(t, addr); fp == fingerprint(t, certB, keyB) {
		t.Fatal("self-signed reload still serves B")
	}
}

// Listeners follow the configuration on reload: new ones open (implicit
// FTPS too), removed ones close, and an address that cannot be bound
// refuses the reload, naming the setting.
func TestReloadListeners(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a", "127.0.0.1")
	tlsConf := fmt.Sprintf("user = [\"u:p\"]\ntls-cert = %q\ntls-key = %q\n", cert, key)
	ta := startApp(t, "listen = [\"127.0.0.1:0\"]\n"+tlsConf)
	first := ta.addr(t)
	keep := dialCtl(t, first)
	keep.Must(331, "USER u")
	keep.Must(230, "PASS p")

	second, implicit := freeAddr(t), freeAddr(t)
	ta.write(t, fmt.Sprintf("listen = [%q]\nimplicit-tls-listen = [%q]\n", second, implicit)+tlsConf)
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	dialCtl(t, second).Must(331, "USER u")
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", implicit, insecure)
	if err != nil {
		t.Fatalf("implicit listener added by the reload: %v", err)
	}
	tp := textproto.NewConn(tc)
	if code, _, err := tp.ReadResponse(220); err != nil {
		t.Fatalf("implicit greeting: %d %v", code, err)
	}
	tc.Close()
	if c, err := net.DialTimeout("tcp", first, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts after it left the configuration", first)
	}
	keep.Must(257, "PWD") // a session of the removed listener goes on

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ta.write(t, fmt.Sprintf("listen = [%q, %q]\nimplicit-tls-listen = [%q]\n", second, taken.Addr(), implicit)+tlsConf)
	if err := ta.Reload(); err == nil || !strings.Contains(err.Error(), "listen "+taken.Addr().String()) {
		t.Fatalf("reload onto a taken address: %v, want a refusal naming listen %s", err, taken.Addr())
	}
	dialCtl(t, second).Must(331, "USER u") // the running configuration stays
	if strings.Contains(ta.log.String(), "server failed") {
		t.Fatalf("a listener closed by a reload was taken for a failure:\n%s", ta.log.String())
	}
}

// The user generated at start (no users configured) survives a reload that
// still configures none.
func TestReloadKeepsGeneratedUser(t *testing.T) {
	ta := startApp(t, "listen = [\"127.0.0.1:0\"]\n")
	out := ta.out.String()
	_, rest, ok := strings.Cut(out, "with password ")
	if !ok {
		t.Fatalf("no generated password printed: %q", out)
	}
	pass, _, _ := strings.Cut(rest, " ")
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	r := dialCtl(t, ta.addr(t))
	r.Must(331, "USER rotary")
	r.Must(230, "PASS %s", pass)
}

func TestNewErrorsNameTheSetting(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a", "127.0.0.1")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", taken.Addr().String()}, "listen " + taken.Addr().String()},
		{[]string{"--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--implicit-tls-listen", taken.Addr().String()},
			"implicit-tls-listen " + taken.Addr().String()},
		{[]string{"--listen", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", key}, "none.pem"},
		{[]string{"--listen", "127.0.0.1:0", "--require-tls"}, "--require-tls needs a certificate"},
	} {
		args := append(c.args, "--root", filepath.Join(dir, "root"), "--admin-listen", "", "--user", "u:p", "--passive-ports", passiveRange(2))
		cfg, _, err := config.Parse("rotary serve", "", args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		a, err := New(cfg, Options{Args: args, Stdout: &out, Stderr: io.Discard})
		if err == nil {
			a.Close()
			t.Errorf("%q: New succeeded", c.args)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want it to name %q", c.args, err, c.want)
		}
		if out.Len() > 0 {
			t.Errorf("%q: a failed start printed %q", c.args, out.String())
		}
	}
}

func TestCheckFindsTakenPorts(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, port, _ := net.SplitHostPort(taken.Addr().String())
	cfg, _, err := config.Parse("rotary check", "", []string{"--listen", taken.Addr().String(), "--passive-ports", port + "-" + port, "--admin-listen", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if n := Check(cfg, &out); n != 2 {
		t.Fatalf("%d problems, want 2 (the control port and the passive port):\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "problem: listen "+taken.Addr().String()) || !strings.Contains(out.String(), "["+port+"]") {
		t.Errorf("report:\n%s", out.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A public-ip host name is resolved at start: one that does not resolve is
// warned about (passive replies name the local address meanwhile), one that
// does is announced in 227 replies (issue 15).
func TestPublicHostNameResolvedAtStart(t *testing.T) {
	var answer atomic.Pointer[netip.Addr]
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host != "ftp.example.test" {
			return nil, fmt.Errorf("unexpected lookup of %s", host)
		}
		if a := answer.Load(); a != nil {
			return []netip.Addr{*a}, nil
		}
		return nil, errors.New("no such host")
	}
	ta := startAppWith(t, "listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\npublic-ip = \"ftp.example.test\"\n", Options{Lookup: lookup})
	if !ta.log.WaitForText(5*time.Second, "public-ip does not resolve") {
		t.Fatal("no warning for an unresolvable public-ip")
	}
	r := dialCtl(t, ta.addr(t))
	r.Must(331, "USER u")
	r.Must(230, "PASS p")
	if msg := r.Must(227, "PASV"); !strings.Contains(msg, "(127,0,0,1,") {
		t.Fatalf("PASV while the name does not resolve: %q, want the local address", msg)
	}
	a := netip.MustParseAddr("127.0.0.2")
	answer.Store(&a)
	if err := ta.Reload(); err != nil { // a reload resolves the name again
		t.Fatal(err)
	}
	if msg := r.Must(227, "PASV"); !strings.Contains(msg, "(127,0,0,2,") {
		t.Fatalf("PASV after the name resolves: %q, want 127.0.0.2", msg)
	}
}

// sync-uploads, as a flag or as a key of the config file, is given to the
// local storage and so to every Driver it opens for a login; without it
// uploads are not synced. A reload that changes it applies to new logins.
func TestSyncUploadsReachesTheDriver(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rotary.toml")
	os.WriteFile(file, []byte("sync-uploads = true\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want bool
	}{
		{"default", nil, false},
		{"flag", []string{"--sync-uploads"}, true},
		{"flag false", []string{"--sync-uploads=false"}, false},
		{"file", []string{"--config", file}, true},
		{"flag over file", []string{"--config", file, "--sync-uploads=false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := config.Parse("rotary serve", "", append([]string{"--root", dir, "--user", "u:p"}, tc.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			o, err := authOptions(cfg, &local.Roots{SyncUploads: cfg.SyncUploads}, nil)
			if err != nil {
				t.Fatal(err)
			}
			acct, err := auth.New(o).Login(context.Background(), ftp.ConnInfo{}, "u", "p")
			if err != nil {
				t.Fatal(err)
			}
			defer acct.Close()
			d, ok := acct.FS.(*local.Driver)
			if !ok {
				t.Fatalf("the account's storage is a %T, want *local.Driver", acct.FS)
			}
			if d.SyncUploads != tc.want {
				t.Errorf("Driver.SyncUploads = %v, want %v", d.SyncUploads, tc.want)
			}
		})
	}
	ta := startApp(t, "listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\n")
	if ta.storage.SyncUploads {
		t.Fatal("sync-uploads on by default")
	}
	ta.write(t, "listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nsync-uploads = true\n")
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if !ta.storage.SyncUploads {
		t.Fatal("a reload did not turn sync-uploads on for new logins")
	}
}

// max-login-failures reaches the server: with 1, the first wrong password
// closes the connection.
func TestMaxLoginFailuresSetting(t *testing.T) {
	ta := startApp(t, "listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nmax-login-failures = 1\n")
	r := dialCtl(t, ta.addr(t))
	r.Must(331, "USER u")
	r.Must(421, "PASS wrong")
}

// Several users logged in at once from one address is what a gateway
// without PROXY protocol looks like: the server says so, once per address;
// the same sessions from distinct addresses say nothing (issue 15).
func TestWarnsOfOneAddressForManyUsers(t *testing.T) {
	ta := startApp(t, "listen = [\"127.0.0.1:0\"]\nuser = [\"a:p\", \"b:p\", \"c:p\"]\n")
	addr := ta.addr(t)
	const warning = "one address carries the sessions of several users"
	login := func(from, user string) {
		r := ftptest.DialFrom(t, addr, &net.TCPAddr{IP: net.ParseIP(from)})
		r.Login(user, "p")
	}
	// Four sessions of three users, each from its own address: quiet.
	for i, u := range []string{"a", "b", "c", "a"} {
		login(fmt.Sprintf("127.0.0.%d", 20+i), u)
	}
	// The same from one address: the warning, naming it.
	for _, u := range []string{"a", "b", "c", "a"} {
		login("127.0.0.9", u)
	}
	if !ta.log.WaitForText(5*time.Second, warning) {
		t.Fatalf("no warning for four sessions of three users from 127.0.0.9:\n%s", ta.log.String())
	}
	login("127.0.0.9", "b")
	ta.Sync()
	logs := ta.log.String()
	if n := strings.Count(logs, warning); n != 1 {
		t.Fatalf("%d warnings, want 1 (once per address):\n%s", n, logs)
	}
	if !strings.Contains(logs, "client=127.0.0.9 sessions=4 users=3") {
		t.Errorf("the warning does not name 127.0.0.9 and its counts:\n%s", logs)
	}
}

// A server killed mid-upload leaves a temporary file (never the final
// name): the next start removes it (issue 15).
func TestStartRemovesInterruptedUploads(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	orphan := filepath.Join(root, "sub", ".rotary-upload-0123456789abcdef.tmp")
	os.WriteFile(orphan, []byte("half an upload"), 0o644)
	ta := startAppIn(t, dir, "listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\n")
	if !ta.log.WaitForText(5*time.Second, "removed temporary files of interrupted uploads") {
		t.Fatalf("no sweep logged:\n%s", ta.log.String())
	}
	if _, err := os.Stat(orphan); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the orphaned temporary file is still there: %v", err)
	}
}

// public-passive-ports: PASV and EPSV announce the public range's port for
// the local port the server listens on; a client that an override sends to
// the local address is told the local port; a reload changes the mapping.
func TestPublicPassivePorts(t *testing.T) {
	local := passiveRange(2)
	lo, _, _ := strings.Cut(local, "-")
	localLo, _ := strconv.Atoi(lo)
	base := fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\npassive-ports = %q\npublic-ip = \"127.0.0.2\"\n"+
		"passive-ip-override = [\"127.0.0.7/32=local\"]\n", local)
	ta := startApp(t, base+"public-passive-ports = \"6500-6501\"\n")
	addr := ta.addr(t)
	announced := func(r *ftptest.Conn, cmd string) int {
		t.Helper()
		code, msg := r.Cmd("%s", cmd)
		var port int
		var err error
		switch code {
		case 227:
			port, err = ftpclient.ParsePASV(msg)
		case 229:
			_, err = fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port)
		default:
			err = fmt.Errorf("%d %s", code, msg)
		}
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return port
	}
	r := dialCtl(t, addr)
	r.Login("u", "p")
	for _, cmd := range []string{"PASV", "EPSV"} {
		if p := announced(r, cmd); p != 6500 && p != 6501 {
			t.Errorf("%s announced %d, want 6500 or 6501", cmd, p)
		}
	}
	inside := ftptest.DialFrom(t, addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)})
	inside.Login("u", "p")
	if p := announced(inside, "PASV"); p != localLo && p != localLo+1 {
		t.Errorf("a client sent to the local address was told port %d, want the local range %s", p, local)
	}

	ta.write(t, base+"public-passive-ports = \"7000-7001\"\n")
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if p := announced(r, "PASV"); p != 7000 && p != 7001 {
		t.Errorf("after reload PASV announced %d, want 7000 or 7001", p)
	}
	ta.write(t, base)
	if err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if p := announced(r, "EPSV"); p != localLo && p != localLo+1 {
		t.Errorf("with public-passive-ports removed, EPSV announced %d, want the local range %s", p, local)
	}
	ta.write(t, base+"public-passive-ports = \"7000-7009\"\n")
	if err := ta.Reload(); err == nil || !strings.Contains(err.Error(), "public-passive-ports") {
		t.Errorf("reload with ranges of different sizes: %v, want an error naming public-passive-ports", err)
	}
}
