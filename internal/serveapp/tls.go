package serveapp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/tlscert"
)

// tlsSettings are the FTPS settings of `rotary serve`, taken from the
// configuration.
type tlsSettings struct {
	certFile, keyFile string
	selfSigned        bool
	stateDir          string
	require           bool
	implicitListen    []string
	requireReuse      bool
	allowCCC          bool
}

func tlsSettingsFrom(cfg config.Config) tlsSettings {
	return tlsSettings{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, selfSigned: cfg.TLSSelfSigned, stateDir: cfg.StateDir,
		require: cfg.RequireTLS, implicitListen: cfg.ImplicitTLSListen, requireReuse: cfg.TLSRequireSessionReuse, allowCCC: cfg.TLSAllowCCC}
}

func (o tlsSettings) enabled() bool { return o.certFile != "" || o.keyFile != "" || o.selfSigned }

// validate checks the settings together, without reading any file.
func (o tlsSettings) validate() error {
	if !o.enabled() {
		for _, f := range []struct {
			name string
			set  bool
		}{{"--require-tls", o.require}, {"--implicit-tls-listen", len(o.implicitListen) > 0},
			{"--tls-require-session-reuse", o.requireReuse}, {"--tls-allow-ccc", o.allowCCC}} {
			if f.set {
				return fmt.Errorf("%s needs a certificate: --tls-cert and --tls-key, or --tls-self-signed", f.name)
			}
		}
		return nil
	}
	switch {
	case o.selfSigned && (o.certFile != "" || o.keyFile != ""):
		return errors.New("--tls-self-signed and --tls-cert/--tls-key exclude each other")
	case o.selfSigned:
		return nil
	case o.certFile == "" || o.keyFile == "":
		return errors.New("--tls-cert and --tls-key go together")
	}
	return nil
}

// certSource is what decides which certificate is served: a reload that
// changes it loads (or makes) a new one; one that keeps it re-reads the
// same files.
type certSource struct {
	certFile, keyFile string
	selfSigned        bool
	stateDir          string
	hosts             string // the names of a self-signed certificate
}

func (o tlsSettings) source(cfg config.Config) certSource {
	s := certSource{certFile: o.certFile, keyFile: o.keyFile, selfSigned: o.selfSigned, stateDir: o.stateDir}
	if o.selfSigned {
		s.hosts = strings.Join(certHosts(cfg.PublicIP, append(append([]string(nil), cfg.Listen...), o.implicitListen...)), ",")
	}
	return s
}

// ftps is FTPS as served: the settings and the certificate. nil-safe: a
// nil *ftps serves without TLS.
type ftps struct {
	settings tlsSettings
	source   certSource
	holder   *tlscert.Holder
	config   *tls.Config
}

// newFTPS loads or makes the certificate that settings name (nil, nil
// without TLS settings) and prints its fingerprint on out.
func newFTPS(settings tlsSettings, cfg config.Config, out io.Writer, logger *slog.Logger) (*ftps, error) {
	if !settings.enabled() {
		return nil, nil
	}
	f := &ftps{settings: settings, source: settings.source(cfg)}
	if err := f.load(logger); err != nil {
		return nil, err
	}
	leaf := f.holder.Certificate().Leaf
	fmt.Fprintf(out, "rotary: TLS certificate %s for %s, SHA-256 fingerprint %s\n",
		f.holder.CertFile, strings.Join(certNames(leaf), ", "), f.holder.Fingerprint())
	f.logEnabled(logger)
	return f, nil
}

// load reads the certificate files, or makes or reuses the self-signed
// certificate in the state folder.
func (f *ftps) load(logger *slog.Logger) error {
	s := f.source
	var err error
	if !s.selfSigned {
		if f.holder, err = tlscert.Load(s.certFile, s.keyFile); err != nil {
			return err
		}
	} else {
		hosts := strings.Split(s.hosts, ",")
		dir, aerr := filepath.Abs(s.stateDir)
		if aerr != nil {
			return fmt.Errorf("--state-dir %s: %w", s.stateDir, aerr)
		}
		var reason string
		if f.holder, reason, err = tlscert.SelfSigned(dir, hosts); err != nil {
			return fmt.Errorf("--tls-self-signed in %s: %w", dir, err)
		}
		if reason != "" {
			logger.Info("made a self-signed TLS certificate", "file", f.holder.CertFile, "hosts", s.hosts, "why", reason)
		}
	}
	f.config = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: f.holder.GetCertificate}
	return nil
}

func (f *ftps) logEnabled(logger *slog.Logger) {
	leaf := f.holder.Certificate().Leaf
	logger.Info("FTPS enabled", "cert", f.holder.CertFile, "sha256", f.holder.Fingerprint(), "expires", leaf.NotAfter.Format("2006-01-02"),
		"require-tls", f.settings.require, "session-reuse", f.settings.requireReuse, "ccc", f.settings.allowCCC)
}

// serverConfig is what the ftp.Server gets.
func (f *ftps) serverConfig() (*tls.Config, ftp.TLSOptions) {
	if f == nil {
		return nil, ftp.TLSOptions{}
	}
	return f.config, ftp.TLSOptions{Require: f.settings.require, AllowCCC: f.settings.allowCCC, RequireSessionReuse: f.settings.requireReuse}
}

// reload gives the FTPS state for new settings (SIGHUP). Every setting
// applies: require-tls, tls-allow-ccc and tls-require-session-reuse from
// each session's next command or data connection; a changed certificate
// source (other files, self-signed on or off, other names) loads the new
// certificate, and a certificate that does not load refuses the reload. An
// unchanged source re-reads its files: new handshakes get a renewed
// certificate, and if the files do not load the old certificate stays in
// use (logged), as a renewal job may be half way.
func (f *ftps) reload(settings tlsSettings, cfg config.Config, logger *slog.Logger) (*ftps, error) {
	if !settings.enabled() {
		if f != nil {
			logger.Info("FTPS turned off by the reload")
		}
		return nil, nil
	}
	src := settings.source(cfg)
	if f != nil && f.source == src {
		old := f.holder.Fingerprint()
		if err := f.holder.Reload(); err != nil {
			logger.Error("TLS certificate reload failed; the previous certificate stays in use", "cert", f.holder.CertFile, "err", err)
		} else if fp := f.holder.Fingerprint(); fp != old {
			logger.Info("TLS certificate reloaded", "cert", f.holder.CertFile, "sha256", fp)
		}
		n := *f
		n.settings = settings
		return &n, nil
	}
	n := &ftps{settings: settings, source: src}
	if err := n.load(logger); err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	logger.Info("TLS certificate changed by the reload", "cert", n.holder.CertFile, "sha256", n.holder.Fingerprint())
	n.logEnabled(logger)
	return n, nil
}

// certHosts names a self-signed certificate: the public address clients
// are told to use, else the addresses the server listens on, else
// localhost.
func certHosts(publicIP string, listen []string) []string {
	if publicIP != "" {
		return []string{publicIP}
	}
	var hosts []string
	for _, a := range listen {
		h, _, err := net.SplitHostPort(a)
		if err != nil || h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			continue
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return []string{"localhost", "127.0.0.1", "::1"}
	}
	return hosts
}

// certNames lists the names a certificate is valid for.
func certNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		names = append(names, c.Subject.CommonName)
	}
	return names
}
