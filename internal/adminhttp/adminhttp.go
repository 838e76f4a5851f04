// Package adminhttp is the HTTP endpoint that `rotary serve` (bans,
// metrics, health) and `rotary gateway` (show commands, metrics, health)
// answer on, and the client their subcommands use to ask it.
//
// By default the endpoint has no authentication, and two rules make that
// safe:
//   - it listens on loopback only (Listen refuses anything else without a
//     token), so only programs on the machine reach it;
//   - it answers only requests whose Host header names a loopback address
//     or localhost (Guard). A web page the admin opens could otherwise reach
//     it by DNS rebinding: the page's own host name re-resolved to 127.0.0.1,
//     its script's requests are same-origin to the browser and arrive here
//     with that foreign name as Host. Without the check such a page could
//     lift bans with DELETE /bans/IP or read every flow of the gateway.
//
// With a token (admin-token-file) the endpoint may listen anywhere, for a
// Prometheus server or a load balancer elsewhere: every request must then
// carry the token, as "Authorization: Bearer TOKEN" or, for a browser, as
// the password of HTTP basic authentication (any user name). A browser
// never sends either to a page of another origin on its own, so the token
// also closes the rebinding hole. /healthz alone answers without it: it
// tells only whether the process serves, and load balancers probe it.
package adminhttp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strings"
	"time"
)

// CheckAddr reports why addr (HOST:PORT) cannot be an admin endpoint
// without a token: it must name a loopback address or localhost.
func CheckAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want HOST:PORT on a loopback address")
	}
	if !loopbackHost(host) {
		return errors.New("an admin endpoint without admin-token-file has no authentication and must be on a loopback address (127.0.0.0/8 or ::1)")
	}
	return nil
}

// CheckListen reports why addr cannot be an admin endpoint: it must be
// HOST:PORT, and on loopback unless withToken.
func CheckListen(addr string, withToken bool) error {
	if !withToken {
		return CheckAddr(addr)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return errors.New("want HOST:PORT")
	}
	return nil
}

// loopbackHost reports whether host (no port, IPv6 without brackets) is a
// loopback address literal or localhost.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// IsLoopback reports whether addr (HOST:PORT) names a loopback address.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(host)
}

// ReadToken reads a token file (admin-token-file): its first line, which
// must hold at least 16 characters. The setting names the file so that
// the token stays out of the config, the command line and the process list.
func ReadToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin-token-file: %w", err)
	}
	tok, _, _ := strings.Cut(string(data), "\n")
	tok = strings.TrimSpace(tok)
	if len(tok) < 16 {
		return "", fmt.Errorf("admin-token-file %s: the token (its first line) has %d characters; want at least 16", path, len(tok))
	}
	return tok, nil
}

// Listen opens the admin endpoint on addr, refusing addresses that are not
// loopback unless the endpoint has a token. localhost listens on
// 127.0.0.1, never on whatever else the name might resolve to.
func Listen(addr string, withToken bool) (net.Listener, error) {
	if err := CheckListen(addr, withToken); err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	host, port, _ := net.SplitHostPort(addr)
	if strings.EqualFold(host, "localhost") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	return ln, nil
}

// Options configure Serve.
type Options struct {
	// Token, when set, is required of every request but /healthz (see the
	// package comment); when empty, requests must come from loopback and
	// name a loopback Host.
	Token string
	// Healthy answers /healthz: nil error is 200 "ok", otherwise 503 with
	// the error's text (for example "draining"). nil: always 200.
	Healthy func() error
	Logger  *slog.Logger
}

// Guard lets through the requests o allows: with o.Token, those that carry
// it; without, those from a loopback peer whose Host header names a
// loopback address or localhost (DNS rebinding; see the package comment).
// Others get 401 or 403, and a log line with the peer's address.
func Guard(h http.Handler, o Options) http.Handler {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Token != "" {
			if !tokenOK(r, o.Token) {
				log.Warn("admin request refused: no valid token", "peer", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
				w.Header().Set("WWW-Authenticate", `Basic realm="rotary admin", charset="UTF-8"`)
				http.Error(w, "unauthorized: this admin endpoint wants its token (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		peer, _ := netip.ParseAddrPort(r.RemoteAddr)
		if !loopbackHost(host) || !peer.Addr().Unmap().IsLoopback() {
			log.Warn("admin request refused: Host is not a loopback address", "host", r.Host, "peer", r.RemoteAddr,
				"method", r.Method, "path", r.URL.Path)
			http.Error(w, "forbidden: the admin endpoint answers requests for a loopback address only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// tokenOK reports whether r carries token, as a bearer token or as the
// password of basic authentication, compared in constant time.
func tokenOK(r *http.Request, token string) bool {
	var got string
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		got = strings.TrimSpace(a[7:])
	} else if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// Serve serves h, behind Guard, on l until the returned server is closed.
// /healthz answers o.Healthy without the guard. Go's profiles are served
// beside h under /debug/pprof/ (goroutines, heap, CPU), for an admin
// chasing a leak or a slow path, and for the soak test.
func Serve(l net.Listener, h http.Handler, o Options) *http.Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	guarded := Guard(mux, o)
	root := http.NewServeMux()
	root.Handle("/", guarded)
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if o.Healthy != nil {
			if err := o.Healthy(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, err.Error()+"\n")
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	srv := &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	go srv.Serve(l)
	return srv
}

// MaxResponse bounds what the client reads of one answer.
const MaxResponse = 64 << 20

var client = &http.Client{Timeout: 10 * time.Second}

// StatusError is a reply other than 2xx from the endpoint.
type StatusError struct {
	Addr   string
	Status string
	Code   int
	Body   string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("admin endpoint %s: %s", e.Addr, e.Status)
	}
	return fmt.Sprintf("admin endpoint %s: %s: %s", e.Addr, e.Status, e.Body)
}

// ErrUnreachable wraps the error of a request that reached no endpoint
// (nothing listening, a timeout).
var ErrUnreachable = errors.New("no admin endpoint answering")

// Endpoint is where a subcommand finds a running process's admin
// endpoint, and the token it wants, if any.
type Endpoint struct {
	Addr  string
	Token string
}

// Do sends method path (for example "GET", "/bans") to the endpoint at ep
// and returns the body of a 2xx answer; other answers are a *StatusError.
func Do(ctx context.Context, method string, ep Endpoint, path string) ([]byte, error) {
	addr := ep.Addr
	if err := CheckListen(addr, ep.Token != ""); err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	if ep.Token != "" {
		req.Header.Set("Authorization", "Bearer "+ep.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %w", ErrUnreachable, addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: reading the answer: %w", addr, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &StatusError{Addr: addr, Status: resp.Status, Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	return body, nil
}
