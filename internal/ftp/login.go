package ftp

import (
	"context"
	"errors"
	"strings"
	"time"
)

func isAnonymousName(u string) bool {
	u = strings.ToLower(u)
	return u == "anonymous" || u == "ftp"
}

// handleUSER: any state -> waiting for PASS. A logged-in user may change
// user: RFC 959 says USER then starts a new login, as REIN would.
func (s *session) handleUSER(arg string) {
	if s.acct != nil {
		s.waitTransfer()
		s.releaseData()
		s.logout()
		s.cwd = "/"
		s.loginBy = time.Now().Add(s.srv.settings().login)
	}
	if !s.requireTLS() {
		return
	}
	if len(arg) > 256 {
		s.reply(501, "User name too long")
		return
	}
	s.user = arg
	if isAnonymousName(arg) {
		s.reply(331, "Anonymous login ok, send your e-mail address as password")
		return
	}
	s.reply(331, "Password required for "+quoteVerb(arg))
}

// handlePASS: waiting for PASS -> logged in.
func (s *session) handlePASS(arg string) {
	user, ok := s.passAllowed()
	if !ok {
		return
	}
	acct, err := s.checkLogin(user, arg)
	if err != nil {
		s.loginFailed(user, err)
		return
	}
	s.loggedIn(acct, arg)
}

// handlePASS is split into //go:noinline parts so that its frame, which
// is on the stack under every log line of a login, stays small: that keeps
// sessions' stacks at 4 KiB (see serve).

// passAllowed checks that PASS may run now and returns the USER it is for.
//
//go:noinline
func (s *session) passAllowed() (string, bool) {
	if s.acct != nil {
		s.reply(503, "Already logged in")
		return "", false
	}
	if !s.requireTLS() {
		return "", false
	}
	if s.user == "" {
		s.reply(503, "Login with USER first")
		return "", false
	}
	user := s.user
	s.user = ""
	// Check the ban again: a guesser with many connections open before its
	// ban would otherwise keep guessing on each of them.
	if f := s.srv.settings().connFilter; f != nil {
		if err := f(s.info); err != nil {
			s.reply(421, err.Error())
			s.quit.Store(true)
			return "", false
		}
	}
	return user, true
}

// checkLogin asks the backend, with a bound on its time.
//
//go:noinline
func (s *session) checkLogin(user, pass string) (*Account, error) {
	st := s.srv.settings()
	ctx, cancel := context.WithTimeout(context.Background(), st.backendTimeout)
	defer cancel()
	return st.backend.Login(ctx, s.info, user, pass)
}

// loginFailed answers a login the backend did not grant.
//
//go:noinline
func (s *session) loginFailed(user string, err error) {
	var refused *LoginRefused
	if errors.As(err, &refused) {
		// Right credentials, but not now (the user's session limit): no
		// failure counted, and the reason told.
		s.log.Info("login refused", "user", user, "reason", refused.Reason)
		if o := s.observer(); o != nil {
			o.LoginFailed(s.snapshot(), user, true)
		}
		s.reply(530, refused.Reason)
		return
	}
	if !errors.Is(err, ErrLoginFailed) {
		// The server's fault (a home folder that cannot be opened): not a
		// wrong password, so not counted as one.
		s.log.Warn("login error", "user", user, "err", err)
		if o := s.observer(); o != nil {
			o.LoginFailed(s.snapshot(), user, false)
		}
		s.reply(530, "Login failed: server error (the server log says why)")
		return
	}
	s.failures++
	s.log.Info("login failed", "user", user, "failures", s.failures)
	if o := s.observer(); o != nil {
		o.LoginFailed(s.snapshot(), user, false)
	}
	if s.failures >= s.srv.settings().maxLoginFailures {
		s.reply(421, "Too many login failures, closing control connection")
		s.quit.Store(true)
		return
	}
	s.reply(530, "Login incorrect")
}

// loggedIn starts the session of a granted login.
//
//go:noinline
func (s *session) loggedIn(acct *Account, pass string) {
	s.acct = acct
	s.failures = 0
	s.cwd = "/"
	s.setUser(acct.Name)
	if o := s.observer(); o != nil {
		o.LoginSucceeded(s.snapshot())
	}
	if acct.Anonymous {
		s.log.Info("login", "user", acct.Name, "anonymous", true, "password", quoteVerb(pass))
		s.reply(230, "Anonymous access granted, restrictions apply")
		return
	}
	s.log.Info("login", "user", acct.Name)
	s.reply(230, "User "+quoteVerb(acct.Name)+" logged in")
}

// handleACCT: no accounts beyond users here (RFC 959: 202 when superfluous).
func (s *session) handleACCT(arg string) {
	s.reply(202, "ACCT not needed")
}

// handleREIN: any state -> not logged in, parameters reset (RFC 959 4.1.1).
// A running transfer has already been waited for by dispatch. The TLS state
// (AUTH, PBSZ, PROT) belongs to the connection, not to the user, and stays.
func (s *session) handleREIN(arg string) {
	s.loginBy = time.Now().Add(s.srv.settings().login)
	s.releaseData()
	s.logout()
	s.cwd = "/"
	s.asciiMode = false
	s.restOffset = 0
	s.epsvAll = false
	s.reply(220, "Service ready for new user")
}

// handleQUIT: any state -> closed, after the transfer in progress ended.
func (s *session) handleQUIT(arg string) {
	s.reply(221, "Goodbye")
	s.quit.Store(true)
}

// handleHOST: RFC 7151. Rotary serves one host, so any name is accepted, but
// only before login, as the RFC requires.
func (s *session) handleHOST(arg string) {
	if s.acct != nil || s.user != "" {
		s.reply(503, "HOST must be sent before USER")
		return
	}
	s.reply(220, "Host accepted")
}
