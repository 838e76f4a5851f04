// Package adminhttp is the local HTTP endpoint that `rotary serve` (bans)
// and `rotary gateway` (show commands) answer on, and the client their
// subcommands use to ask it.
//
// The endpoint has no authentication, so two rules make it safe to run:
//   - it listens on loopback only (Listen refuses anything else), so only
//     programs on the machine reach it;
//   - it answers only requests whose Host header names a loopback address
//     or localhost (Guard). A web page the admin opens could otherwise reach
//     it by DNS rebinding: the page's own host name re-resolved to 127.0.0.1,
//     its script's requests are same-origin to the browser and arrive here
//     with that foreign name as Host. Without the check such a page could
//     lift bans with DELETE /bans/IP or read every flow of the gateway.
package adminhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"
)

// CheckAddr reports why addr (HOST:PORT) cannot be an admin endpoint: it
// must name a loopback address or localhost.
func CheckAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want HOST:PORT on a loopback address")
	}
	if !loopbackHost(host) {
		return errors.New("the admin endpoint has no authentication and must be on a loopback address (127.0.0.0/8 or ::1)")
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

// Listen opens the admin endpoint on addr, refusing addresses that are not
// loopback. localhost listens on 127.0.0.1, never on whatever else the
// name might resolve to.
func Listen(addr string) (net.Listener, error) {
	if err := CheckAddr(addr); err != nil {
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

// Guard answers 403 to requests whose Host header does not name a loopback
// address or localhost (DNS rebinding; see the package comment), and to
// requests that arrive from a peer that is not loopback.
func Guard(h http.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

// Serve serves h, behind Guard, on l until the returned server is closed.
// Go's profiles are served beside h under /debug/pprof/ (goroutines, heap,
// CPU), for an admin chasing a leak or a slow path, and for the soak test.
func Serve(l net.Listener, h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{
		Handler:           Guard(mux, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
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

// Do sends method path (for example "GET", "/bans") to the endpoint at addr
// and returns the body of a 2xx answer; other answers are a *StatusError.
func Do(ctx context.Context, method, addr, path string) ([]byte, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
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
