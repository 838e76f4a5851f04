package main

import (
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/rotary-ftp/rotary/internal/syncbuf"
	"github.com/rotary-ftp/rotary/internal/tlscert"
)

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
