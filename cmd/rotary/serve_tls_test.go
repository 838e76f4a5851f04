package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/syncbuf"
	"github.com/rotary-ftp/rotary/internal/tlscert"
)

func TestTLSSettings(t *testing.T) {
	cert, key := writePair(t, t.TempDir(), "127.0.0.1")
	cfg, _, err := config.Parse("rotary serve", []string{
		"--listen", "127.0.0.1:21", "--tls-cert", cert, "-tls-key=" + key, "--require-tls",
		"--root", "/srv", "--implicit-tls-listen", ":990", "--implicit-tls-listen=[::1]:990",
		"--tls-allow-ccc=false", "--state-dir", "st", "--anonymous",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := tlsOptionsFrom(cfg)
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	if o.holder == nil {
		t.Fatal("certificate not loaded")
	}
	want := tlsOptions{certFile: cert, keyFile: key, require: true, stateDir: "st",
		implicitListen: []string{":990", "[::1]:990"}, holder: o.holder}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options = %+v, want %+v", o, want)
	}
	if c, _, _ := config.Parse("rotary serve", nil, io.Discard); tlsOptionsFrom(c).stateDir != "./rotary-state" {
		t.Errorf("default state dir %q", tlsOptionsFrom(c).stateDir)
	}
	for _, bad := range [][]string{{"--tls-cert"}, {"--require-tls=maybe"}, {"--require-tls"}, {"--tls-cert", cert}} {
		c, _, err := config.Parse("rotary serve", bad, io.Discard)
		if err == nil {
			o := tlsOptionsFrom(c)
			err = o.check()
		}
		if err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// writePair writes a certificate and key for hosts into dir.
func writePair(t *testing.T, dir string, hosts ...string) (cert, key string) {
	t.Helper()
	certPEM, keyPEM, err := tlscert.Generate(hosts, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestTLSSetupErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "127.0.0.1")
	other, _ := writePair(t, t.TempDir(), "127.0.0.1")
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM"), 0o600)
	missing := filepath.Join(dir, "missing.pem")
	for _, c := range []struct {
		o    tlsOptions
		want string // in the error
	}{
		{tlsOptions{certFile: missing, keyFile: key}, missing},
		{tlsOptions{certFile: cert, keyFile: missing}, missing},
		{tlsOptions{certFile: garbage, keyFile: key}, garbage},
		{tlsOptions{certFile: cert, keyFile: garbage}, garbage},
		{tlsOptions{certFile: cert, keyFile: cert}, cert}, // a certificate is no key
		{tlsOptions{certFile: other, keyFile: key}, "does not match"},
		{tlsOptions{certFile: cert}, "--tls-key"},
		{tlsOptions{keyFile: key}, "--tls-cert"},
		{tlsOptions{certFile: cert, keyFile: key, selfSigned: true}, "exclude"},
		{tlsOptions{require: true}, "--require-tls needs a certificate"},
		{tlsOptions{implicitListen: listFlag{"127.0.0.1:0"}}, "--implicit-tls-listen needs"},
		{tlsOptions{requireReuse: true}, "--tls-require-session-reuse needs"},
		{tlsOptions{allowCCC: true}, "--tls-allow-ccc needs"},
		{tlsOptions{certFile: cert, keyFile: key, implicitListen: listFlag{"127.0.0.1:99999"}}, "--implicit-tls-listen 127.0.0.1:99999"},
	} {
		srv := &ftp.Server{}
		_, err := c.o.setup(srv, "", nil, io.Discard, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.o, err, c.want)
		}
	}
	// No TLS flags: nothing changes.
	srv := &ftp.Server{}
	if f, err := (&tlsOptions{}).setup(srv, "", nil, io.Discard, slog.New(slog.DiscardHandler)); f != nil || err != nil || srv.TLSConfig != nil {
		t.Errorf("no flags: %v, %v, TLSConfig %v", f, err, srv.TLSConfig)
	}
}

func TestTLSSelfSignedKept(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	logger := slog.New(slog.DiscardHandler)
	setup := func(publicIP string, listen ...string) (string, string) {
		t.Helper()
		var out bytes.Buffer
		srv := &ftp.Server{}
		f, err := (&tlsOptions{selfSigned: true, stateDir: state}).setup(srv, publicIP, listen, &out, logger)
		if err != nil {
			t.Fatal(err)
		}
		if srv.TLSConfig == nil || srv.TLSConfig.MinVersion != tls.VersionTLS12 {
			t.Fatalf("TLSConfig %+v", srv.TLSConfig)
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

// TestServeTLSBinary runs the binary: errors at start exit 2 naming the
// file; a served certificate is the one whose fingerprint was printed; and
// SIGHUP swaps it under a running session.
func TestServeTLSBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGHUP")
	}
	bin := buildRotary(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-cert.pem")
	for _, args := range [][]string{
		{"--tls-cert", missing, "--tls-key", missing},
		{"--require-tls"},
		{"--tls-cert", filepath.Join(dir, "x")},
	} {
		cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", ""}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%q: %v, want exit status 2\n%s", args, err, out)
		}
		if args[0] == "--tls-cert" && args[1] == missing && !strings.Contains(string(out), missing) {
			t.Errorf("error does not name %s: %s", missing, out)
		}
	}
	if out, _ := exec.Command(bin, "serve", "--help").CombinedOutput(); !strings.Contains(string(out), "-implicit-tls-listen") {
		t.Errorf("--help lacks the TLS flags:\n%s", out)
	}

	cert, key := writePair(t, dir, "127.0.0.1")
	addr, iaddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))), net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	pasv := strconv.Itoa(freePort(t))
	var out syncbuf.Buffer
	cmd := exec.Command(bin, "serve", "--listen", addr, "--implicit-tls-listen", iaddr, "--root", filepath.Join(dir, "root"),
		"--user", "u:p", "--tls-cert", cert, "--tls-key", key, "--require-tls", "--admin-listen", "",
		"--passive-ports", pasv+"-"+pasv)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
	})
	for i := 0; !strings.Contains(out.String(), "listening for implicit FTPS"); i++ {
		if i > 200 {
			t.Fatalf("server did not start:\n%s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	h, err := tlscert.Load(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "SHA-256 fingerprint "+h.Fingerprint()) {
		t.Fatalf("fingerprint %s not printed", h.Fingerprint())
	}
	conf := &tls.Config{InsecureSkipVerify: true}
	peerFP := func() string {
		t.Helper()
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", iaddr, conf)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		return tlscert.Fingerprint(tc.ConnectionState().PeerCertificates[0])
	}
	if got := peerFP(); got != h.Fingerprint() {
		t.Fatalf("served %s, printed %s", got, h.Fingerprint())
	}
	c, err := ftpc.Dial(addr, ftpc.DialWithTimeout(10*time.Second), ftpc.DialWithExplicitTLS(conf))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}

	// New files, SIGHUP: the running session goes on, new ones see the new
	// certificate.
	writePair(t, dir, "::1")
	h2, _ := tlscert.Load(cert, key)
	cmd.Process.Signal(syscall.SIGHUP)
	for i := 0; peerFP() != h2.Fingerprint(); i++ {
		if i > 100 {
			t.Fatal("certificate not reloaded on SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Stor("after-reload", strings.NewReader("still here")); err != nil {
		t.Fatalf("session after reload: %v", err)
	}
	if !out.WaitForText(5*time.Second, "TLS certificate reloaded") {
		t.Error("reload not logged")
	}

	// A broken file on reload keeps the old certificate.
	os.WriteFile(key, []byte("broken"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	for i := 0; !strings.Contains(out.String(), "previous certificate stays in use"); i++ {
		if i > 100 {
			t.Fatal("failed reload not logged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := peerFP(); got != h2.Fingerprint() {
		t.Fatalf("after a failed reload: %s", got)
	}
}
