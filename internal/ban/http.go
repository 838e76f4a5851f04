package ban

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Handler serves the bans for `rotary ban`: GET /bans lists them as JSON,
// DELETE /bans/IP lifts one. It is mounted on a loopback-only listener.
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

var client = &http.Client{Timeout: 5 * time.Second}

// ListRemote asks the server whose admin endpoint is at addr for its bans.
func ListRemote(ctx context.Context, addr string) ([]Ban, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/bans", nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w (is rotary serve running with admin-listen %s?)", addr, err, addr)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("admin endpoint %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(b)))
	}
	var bans []Ban
	if err := json.NewDecoder(resp.Body).Decode(&bans); err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	return bans, nil
}

// DeleteRemote lifts the ban on ip at the server whose admin endpoint is at addr.
func DeleteRemote(ctx context.Context, addr string, ip netip.Addr) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+addr+"/bans/"+url.PathEscape(ip.String()), nil)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	return nil
}
