package adminhttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
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
	if l, err := Listen("0.0.0.0:0"); err == nil {
		l.Close()
		t.Fatal("Listen(0.0.0.0:0) succeeded")
	} else if !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("error %q does not say why", err)
	}
	l, err := Listen("localhost:0")
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
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("DELETE /thing", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such thing", http.StatusNotFound) })
	srv := Serve(l, mux, nil)
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
	body, err := Do(ctx, http.MethodGet, addr, "/hello")
	if err != nil || string(body) != "hello" {
		t.Fatalf("GET /hello = %q, %v", body, err)
	}
	_, err = Do(ctx, http.MethodDelete, addr, "/thing")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound || se.Body != "no such thing" {
		t.Fatalf("DELETE /thing: %v, want a 404 StatusError with the body", err)
	}
	// Go's profiles are beside the handler.
	if body, err := Do(ctx, http.MethodGet, addr, "/debug/pprof/goroutine?debug=1"); err != nil || !strings.HasPrefix(string(body), "goroutine profile: total ") {
		t.Fatalf("goroutine profile: %v %.40q", err, body)
	}
	// Nothing listening: ErrUnreachable, so callers can say what to start.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	if _, err := Do(ctx, http.MethodGet, dead, "/hello"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Do to a closed port: %v, want ErrUnreachable", err)
	}
	if _, err := Do(ctx, http.MethodGet, "192.0.2.1:2181", "/hello"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Do to a non-loopback address: %v, want a refusal before any traffic", err)
	}
}
