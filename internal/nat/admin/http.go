package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// DefaultAddr is where the admin endpoint listens unless told otherwise.
const DefaultAddr = "127.0.0.1:2180"

// Source is what the show commands read: the running gateway.
type Source interface {
	Translations() []nat.Translation
	Statistics() nat.Statistics
	Config() *ios.Config
}

// Handler serves GET /show/translations[?verbose=1] and GET /show/statistics
// as text/plain in IOS format.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /show/translations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		v := r.URL.Query().Get("verbose")
		WriteTranslations(w, src.Translations(), v != "" && v != "0")
	})
	mux.HandleFunc("GET /show/statistics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		WriteStatistics(w, src.Config(), src.Statistics())
	})
	return mux
}

// Listen opens the admin endpoint. It has no authentication, so it refuses
// any address that is not loopback: whoever can reach it sees every flow.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if host == "localhost" {
		ip, err = netip.MustParseAddr("127.0.0.1"), nil
		addr = net.JoinHostPort("127.0.0.1", addr[len(host)+1:])
	}
	if err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("admin address %q: must be a loopback address (127.0.0.0/8 or ::1); the endpoint has no authentication", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	return ln, nil
}

// Fetch asks a running gateway's admin endpoint for one show output
// ("translations", "translations?verbose=1", "statistics").
func Fetch(ctx context.Context, addr, what string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/show/"+what, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return "", fmt.Errorf("no gateway answering on %s (is `rotary gateway` running with --admin %s?): %w", addr, addr, err)
		}
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", addr, resp.Status, body)
	}
	return string(body), nil
}
