package adminhttp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:2181", true},
		{"127.0.0.9:2181", true},
		{"[::1]:2181", true},
		{"localhost:2181", true},
		{"LOCALHOST:2181", true},
		{"0.0.0.0:2181", false},
		{"[::]:2181", false},
		{":2181", false},
		{"192.0.2.1:2181", false},
		{"example.org:2181", false},
		{"127.0.0.1", false},
	} {
		err := CheckAddr(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("CheckAddr(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	if l, err := Listen("0.0.0.0:0", false); err == nil {
		l.Close()
		t.Fatal("Listen(0.0.0.0:0) succeeded")
	} else if !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("error %q does not say why", err)
	}
	l, err := Listen("localhost:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Addr().(*net.TCPAddr).IP.String(); got != "127.0.0.1" {
		t.Fatalf("localhost listened on %s, want 127.0.0.1", got)
	}
}

func serveTest(t *testing.T) string {
	t.Helper()
	l, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("DELETE /thing", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such thing", http.StatusNotFound) })
	srv := Serve(l, mux, Options{})
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// A page that rebinds its own name to 127.0.0.1 sends its name as Host:
// the endpoint must refuse it, whatever the method.
func TestGuardRefusesForeignHost(t *testing.T) {
	addr := serveTest(t)
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		host string
		want int
	}{
		{addr, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"localhost", http.StatusOK},
		{"127.0.0.1", http.StatusOK},
		{"attacker.example:" + port, http.StatusForbidden},
		{"attacker.example", http.StatusForbidden},
		{"192.0.2.1:" + port, http.StatusForbidden},
		{"127.0.0.1.attacker.example", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/hello", nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Host %q: status %d, want %d", tc.host, resp.StatusCode, tc.want)
		}
	}
}

func TestDo(t *testing.T) {
	addr := serveTest(t)
	ctx := context.Background()
	body, err := Do(ctx, http.MethodGet, Endpoint{Addr: addr}, "/hello")
	if err != nil || string(body) != "hello" {
		t.Fatalf("GET /hello = %q, %v", body, err)
	}
	_, err = Do(ctx, http.MethodDelete, Endpoint{Addr: addr}, "/thing")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound || se.Body != "no such thing" {
		t.Fatalf("DELETE /thing: %v, want a 404 StatusError with the body", err)
	}
	// Go's profiles are beside the handler.
	if body, err := Do(ctx, http.MethodGet, Endpoint{Addr: addr}, "/debug/pprof/goroutine?debug=1"); err != nil || !strings.HasPrefix(string(body), "goroutine profile: total ") {
		t.Fatalf("goroutine profile: %v %.40q", err, body)
	}
	// Nothing listening: ErrUnreachable, so callers can say what to start.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	if _, err := Do(ctx, http.MethodGet, Endpoint{Addr: dead}, "/hello"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Do to a closed port: %v, want ErrUnreachable", err)
	}
	if _, err := Do(ctx, http.MethodGet, Endpoint{Addr: "192.0.2.1:2181"}, "/hello"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Do to a non-loopback address: %v, want a refusal before any traffic", err)
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr      string
		withToken bool
		ok        bool
	}{
		{"127.0.0.1:2181", false, true},
		{"0.0.0.0:2181", false, false},
		{"0.0.0.0:2181", true, true},
		{"[::]:2181", true, true},
		{"192.0.2.1", true, false},
	} {
		if err := CheckListen(tc.addr, tc.withToken); (err == nil) != tc.ok {
			t.Errorf("CheckListen(%q, %v) = %v, want ok %v", tc.addr, tc.withToken, err, tc.ok)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if tok, err := ReadToken(write("good", "  0123456789abcdef0123 \nsecond line\n")); err != nil || tok != "0123456789abcdef0123" {
		t.Errorf("ReadToken = %q, %v", tok, err)
	}
	if _, err := ReadToken(write("short", "tooshort\n")); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("short token: %v", err)
	}
	if _, err := ReadToken(dir + "/missing"); err == nil || !strings.Contains(err.Error(), "admin-token-file") {
		t.Errorf("missing file: %v, want the setting named", err)
	}
}

// With a token every request but /healthz must carry it, as a bearer token
// or a basic-auth password; without one it gets 401 and a log line with the
// peer's address. /healthz says 503 while the process drains.
func TestTokenAndHealth(t *testing.T) {
	const token = "s3cret-token-0123456789"
	l, err := Listen("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	srv := Serve(l, mux, Options{Token: token, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Healthy: func() error {
		if draining.Load() {
			return errors.New("draining")
		}
		return nil
	}})
	defer srv.Close()
	addr := l.Addr().String()
	get := func(path string, set func(*http.Request)) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		// A foreign Host is no reason to refuse when the token is there.
		req.Host = "ftp.example.net"
		if set != nil {
			set(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", nil, http.StatusUnauthorized},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, http.StatusOK},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token+"x") }, http.StatusUnauthorized},
		{"basic", func(r *http.Request) { r.SetBasicAuth("admin", token) }, http.StatusOK},
		{"basic wrong", func(r *http.Request) { r.SetBasicAuth(token, "nope") }, http.StatusUnauthorized},
	} {
		if code, _ := get("/hello", tc.set); code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.want)
		}
	}
	if !strings.Contains(logs.String(), "admin request refused: no valid token") || !strings.Contains(logs.String(), "peer=127.0.0.1:") {
		t.Errorf("refusals not logged with the peer:\n%s", logs.String())
	}
	if code, body := get("/healthz", nil); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok without a token", code, body)
	}
	draining.Store(true)
	if code, body := get("/healthz", nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("/healthz while draining = %d %q, want 503", code, body)
	}
	// The client sends the token.
	if body, err := Do(context.Background(), http.MethodGet, Endpoint{Addr: addr, Token: token}, "/hello"); err != nil || string(body) != "hello" {
		t.Errorf("Do with the token = %q, %v", body, err)
	}
	var se *StatusError
	if _, err := Do(context.Background(), http.MethodGet, Endpoint{Addr: addr}, "/hello"); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Errorf("Do without the token: %v, want 401", err)
	}
}
