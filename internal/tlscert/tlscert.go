// Package tlscert holds the server's TLS certificate: it loads a PEM
// certificate and key, reloads them on request without disturbing running
// connections, makes and keeps a self-signed certificate, and prints
// fingerprints for admins to compare with what clients show.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Holder serves a certificate loaded from a pair of PEM files. Its
// GetCertificate goes into tls.Config.GetCertificate: every new handshake
// reads the current certificate through an atomic pointer, so Reload swaps
// it without locks and without touching connections already established.
type Holder struct {
	CertFile, KeyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads certFile (a PEM certificate, optionally followed by its chain)
// and keyFile (a PEM private key). Errors name the file at fault.
func Load(certFile, keyFile string) (*Holder, error) {
	h := &Holder{CertFile: certFile, KeyFile: keyFile}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Reload reads the files again. On error the previous certificate stays in
// use; the error says which file is wrong.
func (h *Holder) Reload() error {
	c, err := loadPair(h.CertFile, h.KeyFile)
	if err != nil {
		return err
	}
	h.cur.Store(c)
	return nil
}

// Certificate is the certificate in use now.
func (h *Holder) Certificate() *tls.Certificate { return h.cur.Load() }

// GetCertificate is for tls.Config.GetCertificate.
func (h *Holder) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return h.cur.Load(), nil
}

// Fingerprint is the SHA-256 of the leaf certificate in use, as colon
// separated upper-case hex (the form browsers and FileZilla show).
func (h *Holder) Fingerprint() string { return Fingerprint(h.cur.Load().Leaf) }

// Fingerprint formats the SHA-256 of a certificate's DER bytes.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// loadPair is tls.LoadX509KeyPair with errors that name the file and the
// problem, since "tls: failed to find any PEM data" does not say which one.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key: %w", err)
	}
	if !hasBlock(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return nil, fmt.Errorf("TLS certificate %s: no PEM CERTIFICATE block", certFile)
	}
	if !hasBlock(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }) {
		return nil, fmt.Errorf("TLS key %s: no PEM PRIVATE KEY block", keyFile)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", certFile, err)
		}
	}
	if time.Now().After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("TLS certificate %s expired on %s", certFile, c.Leaf.NotAfter.Format(time.DateOnly))
	}
	return &c, nil
}

func hasBlock(data []byte, want func(string) bool) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if want(b.Type) {
			return true
		}
	}
}

// Generate makes a self-signed ECDSA P-256 certificate for hosts (IP
// addresses and DNS names), valid from an hour ago until notAfter. It
// returns the PEM certificate and the PEM (PKCS #8) key.
func Generate(hosts []string, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	cn := "rotary"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Rotary FTP server (self-signed)"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}

// Self-signed certificates live for ten years and are replaced when less
// than 30 days are left: clients that pinned the fingerprint keep working
// across restarts for as long as possible.
const (
	selfSignedLifetime = 10 * 365 * 24 * time.Hour
	renewBefore        = 30 * 24 * time.Hour
)

// Names of the self-signed pair inside the state folder.
const (
	SelfSignedCert = "tls-self-signed.crt"
	SelfSignedKey  = "tls-self-signed.key"
)

// SelfSigned returns the self-signed certificate kept in dir (created with
// mode 0700 if missing) for hosts. An existing pair is kept when it covers
// every host and is not about to expire; otherwise a new one is written
// (the key with mode 0600) and why is returned in reason.
func SelfSigned(dir string, hosts []string) (h *Holder, reason string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("state folder: %w", err)
	}
	certFile, keyFile := filepath.Join(dir, SelfSignedCert), filepath.Join(dir, SelfSignedKey)
	h, err = Load(certFile, keyFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		reason = "none yet"
	case err != nil:
		reason = "the kept one is unusable (" + err.Error() + ")"
	case time.Until(h.Certificate().Leaf.NotAfter) < renewBefore:
		reason = "the kept one expires on " + h.Certificate().Leaf.NotAfter.Format(time.DateOnly)
	default:
		if missing := uncovered(h.Certificate().Leaf, hosts); len(missing) > 0 {
			reason = "the kept one does not cover " + strings.Join(missing, ", ")
		} else {
			return h, "", nil
		}
	}
	certPEM, keyPEM, err := Generate(hosts, time.Now().Add(selfSignedLifetime))
	if err != nil {
		return nil, "", fmt.Errorf("generate self-signed certificate: %w", err)
	}
	// Key first: a crash between the two writes leaves a pair that fails to
	// load (mismatch) and is regenerated, never a certificate without key.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, "", err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return nil, "", err
	}
	h, err = Load(certFile, keyFile)
	return h, reason, err
}

// uncovered lists the hosts the certificate is not valid for.
func uncovered(c *x509.Certificate, hosts []string) []string {
	var missing []string
	for _, host := range hosts {
		if ip := net.ParseIP(host); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
				missing = append(missing, host)
			}
		} else if c.VerifyHostname(host) != nil {
			missing = append(missing, host)
		}
	}
	return missing
}

func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
