package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
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

// Fetch asks a running gateway's admin endpoint for one show output
// ("translations", "translations?verbose=1", "statistics").
func Fetch(ctx context.Context, ep adminhttp.Endpoint, what string) (string, error) {
	addr := ep.Addr
	body, err := adminhttp.Do(ctx, http.MethodGet, ep, "/show/"+what)
	if errors.Is(err, adminhttp.ErrUnreachable) {
		return "", fmt.Errorf("no gateway answering on %s (is `rotary gateway` running with --admin %s?): %w", addr, addr, err)
	}
	return string(body), err
}
