package tlscert

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func writePair(t *testing.T, dir string, hosts []string, notAfter time.Time) (string, string) {
	t.Helper()
	c, k, err := Generate(hosts, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, c, 0o644)
	os.WriteFile(key, k, 0o600)
	return cert, key
}

func TestGenerate(t *testing.T) {
	c, _, err := Generate([]string{"ftp.example.com", "203.0.113.5", "::1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(c)
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"ftp.example.com", "203.0.113.5", "::1"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(Fingerprint(leaf)) {
		t.Errorf("fingerprint %q", Fingerprint(leaf))
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	old, oldKey := writePair(t, t.TempDir(), []string{"127.0.0.1"}, time.Now().Add(-time.Minute))
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("junk"), 0o600)
	for _, c := range []struct{ cert, key, want string }{
		{filepath.Join(dir, "none"), key, filepath.Join(dir, "none")},
		{cert, filepath.Join(dir, "none"), filepath.Join(dir, "none")},
		{junk, key, junk + ": no PEM CERTIFICATE"},
		{cert, junk, junk + ": no PEM PRIVATE KEY"},
		{cert, oldKey, "does not match"},
		{old, oldKey, "expired"},
	} {
		if _, err := Load(c.cert, c.key); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s, %s) = %v, want %q", c.cert, c.key, err, c.want)
		}
	}
}

func TestReloadKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	h, err := Load(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	fp := h.Fingerprint()
	os.WriteFile(key, []byte("broken"), 0o600)
	if err := h.Reload(); err == nil {
		t.Fatal("reload of a broken key succeeded")
	}
	if h.Fingerprint() != fp {
		t.Fatal("a failed reload changed the certificate")
	}
	writePair(t, dir, []string{"127.0.0.2"}, time.Now().Add(time.Hour))
	if err := h.Reload(); err != nil || h.Fingerprint() == fp {
		t.Fatalf("reload: %v, fingerprint changed: %v", err, h.Fingerprint() != fp)
	}
	if c, _ := h.GetCertificate(nil); c != h.Certificate() {
		t.Fatal("GetCertificate does not serve the current certificate")
	}
}

func TestSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	h1, why, err := SelfSigned(dir, []string{"127.0.0.1"})
	if err != nil || why != "none yet" {
		t.Fatalf("first: %v %q", err, why)
	}
	h2, why, err := SelfSigned(dir, []string{"127.0.0.1"})
	if err != nil || why != "" || h2.Fingerprint() != h1.Fingerprint() {
		t.Fatalf("second: %v %q, same=%v", err, why, h2.Fingerprint() == h1.Fingerprint())
	}
	if _, why, _ = SelfSigned(dir, []string{"ftp.example.com"}); !strings.Contains(why, "does not cover ftp.example.com") {
		t.Fatalf("new name: %q", why)
	}
	// A pair about to expire is replaced.
	writePairAt(t, dir, []string{"ftp.example.com"}, time.Now().Add(24*time.Hour))
	if _, why, _ = SelfSigned(dir, []string{"ftp.example.com"}); !strings.Contains(why, "expires") {
		t.Fatalf("expiring: %q", why)
	}
	// A broken pair is replaced.
	os.WriteFile(filepath.Join(dir, SelfSignedKey), []byte("x"), 0o600)
	if _, why, err = SelfSigned(dir, []string{"ftp.example.com"}); err != nil || !strings.Contains(why, "unusable") {
		t.Fatalf("broken: %v %q", err, why)
	}
}

func writePairAt(t *testing.T, dir string, hosts []string, notAfter time.Time) {
	t.Helper()
	c, k, err := Generate(hosts, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, SelfSignedCert), c, 0o644)
	os.WriteFile(filepath.Join(dir, SelfSignedKey), k, 0o600)
}
