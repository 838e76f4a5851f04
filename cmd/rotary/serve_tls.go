package main

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

// tlsOptions are the FTPS settings of `rotary serve` (issue 4), taken from
// the configuration.
type tlsOptions struct {
	certFile, keyFile string
	selfSigned        bool
	stateDir          string
	require           bool
	implicitListen    []string
	requireReuse      bool
	allowCCC          bool

	holder *tlscert.Holder // loaded by check from certFile and keyFile
}

func tlsOptionsFrom(cfg config.Config) tlsOptions {
	return tlsOptions{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, selfSigned: cfg.TLSSelfSigned, stateDir: cfg.StateDir,
		require: cfg.RequireTLS, implicitListen: cfg.ImplicitTLSListen, requireReuse: cfg.TLSRequireSessionReuse, allowCCC: cfg.TLSAllowCCC}
}

// check validates the flags together and loads a given certificate.
func (o *tlsOptions) check() error {
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
		return nil // made in setup, which knows the addresses
	case o.certFile == "" || o.keyFile == "":
		return errors.New("--tls-cert and --tls-key go together")
	}
	var err error
	o.holder, err = tlscert.Load(o.certFile, o.keyFile)
	return err
}

func (o *tlsOptions) enabled() bool { return o.certFile != "" || o.keyFile != "" || o.selfSigned }

// ftpsSetup is FTPS as configured for a running server: the certificate
// and the implicit listeners.
type ftpsSetup struct {
	holder   *tlscert.Holder
	implicit []net.Listener
	logger   *slog.Logger
}

// setup checks the TLS flags, loads or makes the certificate, sets the
// server's TLS configuration and binds the implicit listeners. publicIP and
// listen choose the names of a self-signed certificate; out gets the
// fingerprint. With no TLS flags it returns nil and changes nothing.
func (o *tlsOptions) setup(srv *ftp.Server, publicIP string, listen []string, out io.Writer, logger *slog.Logger) (*ftpsSetup, error) {
	if o.holder == nil {
		if err := o.check(); err != nil {
			return nil, err
		}
	}
	if !o.enabled() {
		return nil, nil
	}
	f := &ftpsSetup{logger: logger, holder: o.holder}
	if o.selfSigned {
		hosts := certHosts(publicIP, append(append([]string(nil), listen...), o.implicitListen...))
		dir, aerr := filepath.Abs(o.stateDir)
		if aerr != nil {
			return nil, fmt.Errorf("--state-dir %s: %w", o.stateDir, aerr)
		}
		var reason string
		var err error
		if f.holder, reason, err = tlscert.SelfSigned(dir, hosts); err != nil {
			return nil, fmt.Errorf("--tls-self-signed in %s: %w", dir, err)
		}
		if reason != "" {
			logger.Info("made a self-signed TLS certificate", "file", f.holder.CertFile, "hosts", strings.Join(hosts, ","), "why", reason)
		}
	}
	leaf := f.holder.Certificate().Leaf
	fmt.Fprintf(out, "rotary: TLS certificate %s for %s, SHA-256 fingerprint %s\n",
		f.holder.CertFile, strings.Join(certNames(leaf), ", "), f.holder.Fingerprint())
	logger.Info("FTPS enabled", "cert", f.holder.CertFile, "sha256", f.holder.Fingerprint(), "expires", leaf.NotAfter.Format("2006-01-02"),
		"require-tls", o.require, "session-reuse", o.requireReuse, "ccc", o.allowCCC)

	srv.Update(func(s *ftp.Server) {
		s.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: f.holder.GetCertificate}
	})
	srv.TLS = ftp.TLSOptions{Require: o.require, AllowCCC: o.allowCCC, RequireSessionReuse: o.requireReuse}

	for _, addr := range o.implicitListen {
		l, err := ftp.ListenControl(addr)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("--implicit-tls-listen %s: %w", addr, err)
		}
		f.implicit = append(f.implicit, srv.ImplicitTLSListener(l))
		logger.Info("listening for implicit FTPS", "addr", l.Addr().String())
	}
	return f, nil
}

// Reload reads the certificate and key files again (SIGHUP). Running
// sessions keep the certificate they started with; new handshakes get the
// new one. On error the old certificate stays in use.
func (f *ftpsSetup) Reload() error {
	old := f.holder.Fingerprint()
	if err := f.holder.Reload(); err != nil {
		return fmt.Errorf("TLS certificate reload: %w (the previous certificate stays in use)", err)
	}
	if fp := f.holder.Fingerprint(); fp != old {
		f.logger.Info("TLS certificate reloaded", "cert", f.holder.CertFile, "sha256", fp)
	}
	return nil
}

func (f *ftpsSetup) close() {
	for _, l := range f.implicit {
		l.Close()
	}
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

// addTLS sets up FTPS on a built server: implicit listeners join the
// others, and the certificate is reloaded with the configuration (SIGHUP).
func (a *serveApp) addTLS(o *tlsOptions, out io.Writer) error {
	f, err := o.setup(a.srv, a.cfg.PublicIP, a.cfg.Listen, out, a.logger)
	if err != nil {
		a.closeListeners()
		return err
	}
	if f != nil {
		a.listeners = append(a.listeners, f.implicit...)
		a.reloaders = append(a.reloaders, f.Reload)
	}
	return nil
}
