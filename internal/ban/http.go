package ban

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
)

// Handler serves the bans for `rotary ban`: GET /bans lists them as JSON,
// DELETE /bans/IP lifts one. It is served by adminhttp (loopback only, Host checked).
func (t *Tracker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bans", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(t.List())
	})
	mux.HandleFunc("DELETE /bans/{ip}", func(w http.ResponseWriter, r *http.Request) {
		ip, err := netip.ParseAddr(r.PathValue("ip"))
		if err != nil {
			http.Error(w, "not an IP address: "+r.PathValue("ip"), http.StatusBadRequest)
			return
		}
		if !t.Delete(ip) {
			http.Error(w, ip.String()+" is not banned", http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, "ban on %s lifted\n", ip)
	})
	return mux
}

// ListRemote asks the server whose admin endpoint is ep for its bans.
func ListRemote(ctx context.Context, ep adminhttp.Endpoint) ([]Ban, error) {
	addr := ep.Addr
	body, err := adminhttp.Do(ctx, http.MethodGet, ep, "/bans")
	if errors.Is(err, adminhttp.ErrUnreachable) {
		return nil, fmt.Errorf("%w (is rotary serve running with admin-listen %s?)", err, addr)
	}
	if err != nil {
		return nil, err
	}
	var bans []Ban
	if err := json.Unmarshal(body, &bans); err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	return bans, nil
}

// DeleteRemote lifts the ban on ip at the server whose admin endpoint is ep.
func DeleteRemote(ctx context.Context, ep adminhttp.Endpoint, ip netip.Addr) error {
	_, err := adminhttp.Do(ctx, http.MethodDelete, ep, "/bans/"+url.PathEscape(ip.String()))
	var se *adminhttp.StatusError
	if errors.As(err, &se) && se.Body != "" {
		return errors.New(se.Body) // "203.0.113.7 is not banned"
	}
	return err
}
