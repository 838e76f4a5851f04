package serveapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/ftptest"
)

// scrape reads /metrics from the admin endpoint at addr and parses it.
func scrape(t *testing.T, addr, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metric is the value of the family's sample whose labels include want
// (name=value pairs); -1 when there is none.
func metric(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

// A real client's sessions, logins and transfers show on /metrics, and
// three PASV replies waiting at once show as the range's peak, with the
// sizing hint for it, on /metrics and on /passive (issue 19).
func TestMetricsOfARealClient(t *testing.T) {
	admin := freeAddr(t)
	ta := startApp(t, fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nadmin-listen = %q\npassive-ports = %q\n", admin, passiveRange(8)))
	addr := ta.addr(t)

	c, err := ftpc.Dial(addr, ftpc.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("u", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("rotary metrics\n"), 70000) // 1 MiB
	if err := c.Stor("up.bin", bytes.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("up.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, payload) {
		t.Fatalf("RETR returned %d bytes, want %d", len(got), len(payload))
	}
	if _, err := c.List("/"); err != nil {
		t.Fatal(err)
	}

	// Three transfers waiting for their data connections at once.
	var waiting []*ftptest.Conn
	for range 3 {
		w := dialCtl(t, addr)
		w.Login("u", "p")
		w.Must(227, "PASV")
		waiting = append(waiting, w)
	}
	// A reply is counted once it is written, so the client may read the
	// last 227 a moment before the counter moves: scrape until the figures
	// settle, for at most 5 s.
	type want struct {
		name   string
		labels []string
		want   float64
	}
	wants := []want{
		{"rotary_sessions", nil, 4},
		{"rotary_logins_total", []string{"result", "ok"}, 4},
		{"rotary_logins_total", []string{"result", "failed"}, 1},
		{"rotary_transfers_total", []string{"direction", "upload", "result", "ok"}, 1},
		{"rotary_transfers_total", []string{"direction", "download", "result", "ok"}, 1},
		{"rotary_transfers_total", []string{"direction", "listing", "result", "ok"}, 1},
		{"rotary_transfer_bytes_total", []string{"direction", "upload"}, float64(len(payload))},
		{"rotary_transfer_bytes_total", []string{"direction", "download"}, float64(len(payload))},
		{"rotary_replies_total", []string{"code", "530"}, 1},
		{"rotary_replies_total", []string{"code", "227"}, 3},
		{"rotary_passive_ports", nil, 8},
		{"rotary_passive_reservations_pending", nil, 3},
		{"rotary_passive_ports_in_use", nil, 3},
		{"rotary_passive_ports_shared", nil, 0},
		{"rotary_passive_data_connections", nil, 0},
		{"rotary_passive_reservations_pending_peak", []string{"window", "5m"}, 3},
		{"rotary_passive_reservations_pending_peak", []string{"window", "24h"}, 3},
		{"rotary_passive_data_connections_peak", []string{"window", "1h"}, 1},
		{"rotary_passive_ports_recommended", nil, 5},
		{"rotary_passive_exhaustions_total", nil, 0},
		{"rotary_bans", nil, 0},
	}
	var fams map[string]*dto.MetricFamily
	var wrong []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams, wrong = scrape(t, admin, ""), nil
		for _, tc := range wants {
			if got := metric(fams, tc.name, tc.labels...); got != tc.want {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want))
			}
		}
		if len(wrong) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, w := range wrong {
		t.Error(w)
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "rotary_") && f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
	}
	if metric(fams, "process_open_fds") <= 0 || metric(fams, "go_goroutines") <= 0 {
		t.Error("no process or Go runtime metrics")
	}

	resp, err := http.Get("http://" + admin + "/passive")
	if err != nil {
		t.Fatal(err)
	}
	var pu PassiveUsage
	err = json.NewDecoder(resp.Body).Decode(&pu)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if pu.Ports != 8 || pu.Sizing.PeakPending != 3 || pu.Sizing.Recommended != 5 || len(pu.LastHour) != 60 || pu.Now.Pending != 3 {
		t.Errorf("/passive = %+v", pu)
	}

	// rotary check gives the same advice.
	var out bytes.Buffer
	cfg, err := parseFile(ta.file)
	if err != nil {
		t.Fatal(err)
	}
	Check(cfg, &out)
	for _, want := range []string{"at most 3 PASV replies waited for their data connection at once, and 1 transfers ran at once; 8 ports configured",
		"the range is wide enough: 5 ports would do"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rotary check lacks %q:\n%s", want, out.String())
		}
	}

	// The waiting reservations go with their sessions.
	for _, w := range waiting {
		w.Must(221, "QUIT")
	}
	c.Quit()
	waitFor(t, "sessions and reservations gone", func() bool {
		f := scrape(t, admin, "")
		return metric(f, "rotary_sessions") == 0 && metric(f, "rotary_passive_reservations_pending") == 0
	})
}

// /healthz answers 200 while serving; admin-token-file guards the rest,
// and a token file that cannot be read stops the start, naming the setting.
func TestAdminTokenAndHealth(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	const token = "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeAddr(t)
	startAppIn(t, dir, fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nadmin-listen = %q\nadmin-token-file = \"admin.token\"\n", admin))
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/healthz", "", http.StatusOK},
		{"/metrics", "", http.StatusUnauthorized},
		{"/bans", "", http.StatusUnauthorized},
		{"/bans", token, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+admin+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s (token %v): %d, want %d", tc.path, tc.token != "", resp.StatusCode, tc.want)
		}
	}
	if fams := scrape(t, admin, token); metric(fams, "rotary_sessions") != 0 {
		t.Error("no rotary_sessions with the token")
	}

	// A missing token file: no start.
	other := t.TempDir()
	body := fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nadmin-listen = %q\nadmin-token-file = \"nope.token\"\nroot = \"root\"\n", freeAddr(t))
	file := filepath.Join(other, "rotary.toml")
	os.WriteFile(file, []byte(body), 0o644)
	cfg, err := parseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := New(cfg, Options{Stdout: io.Discard, Stderr: io.Discard}); err == nil {
		a.Close()
		t.Fatal("started with a missing admin-token-file")
	} else if !strings.Contains(err.Error(), "admin-token-file") {
		t.Fatalf("error %q does not name admin-token-file", err)
	}
}

// /healthz says 503 while a stop lets a running upload finish.
func TestHealthzWhileDraining(t *testing.T) {
	admin := freeAddr(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "rotary.toml")
	body := fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nadmin-listen = %q\npassive-ports = %q\nroot = \"root\"\n", admin, passiveRange(2))
	os.WriteFile(file, []byte(body), 0o644)
	cfg, err := parseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Args: []string{"--config", file}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- a.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	health := func() int {
		resp, err := http.Get("http://" + admin + "/healthz")
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := health(); code != http.StatusOK {
		t.Fatalf("/healthz = %d, want 200", code)
	}
	plain, _ := a.Addrs()
	c := dialCtl(t, plain[0].String())
	c.Login("u", "p")
	data := c.EPSV()
	c.Send("STOR slow.bin")
	c.Expect(150)
	data.Write([]byte("part of an upload"))
	cancel() // SIGTERM: the upload may finish
	waitFor(t, "/healthz to say 503", func() bool { return health() == http.StatusServiceUnavailable })
	data.Write([]byte(", and the rest"))
	data.Close()
	c.Expect(226)
	if code := <-done; code != 0 {
		t.Fatalf("Run = %d", code)
	}
	done <- 0
	got, _ := os.ReadFile(filepath.Join(dir, "root", "slow.bin"))
	if string(got) != "part of an upload, and the rest" {
		t.Fatalf("upload during the drain: %q", got)
	}
}

// parseFile parses a config file as rotary serve --config does.
func parseFile(file string) (config.Config, error) {
	cfg, _, err := config.Parse("rotary serve", "", []string{"--config", file}, io.Discard)
	return cfg, err
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A range that the peak outgrew gets advice to widen it; without a running
// server check says it has no figures.
func TestCheckSizingAdvice(t *testing.T) {
	admin := freeAddr(t)
	ta := startApp(t, fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nadmin-listen = %q\npassive-ports = %q\n", admin, passiveRange(4)))
	for range 3 {
		w := dialCtl(t, ta.addr(t))
		w.Login("u", "p")
		w.Must(227, "PASV")
	}
	cfg, err := parseFile(ta.file)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	Check(cfg, &out)
	if want := "advice: forward at least 5 ports"; !strings.Contains(out.String(), want) {
		t.Errorf("rotary check lacks %q:\n%s", want, out.String())
	}
	cfg.AdminListen = freeAddr(t)
	out.Reset()
	Check(cfg, &out)
	if want := "no running rotary serve answered on admin-listen"; !strings.Contains(out.String(), want) {
		t.Errorf("rotary check lacks %q:\n%s", want, out.String())
	}
}

// Under systemd (Type=notify) the server says READY=1 once it accepts,
// RELOADING=1 then READY=1 around a reload, and STOPPING=1 on stop.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Skipf("no unix datagram sockets: %v", err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	read := func() string {
		l.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "rotary.toml")
	os.WriteFile(file, []byte(fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nadmin-listen = \"\"\npassive-ports = %q\nroot = \"root\"\n", passiveRange(2))), 0o644)
	cfg, err := parseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Args: []string{"--config", file}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() { done <- a.Run(ctx, reload) }()
	plain, _ := a.Addrs()
	if got, want := read(), "READY=1\nSTATUS=serving FTP on "+plain[0].String(); !strings.HasPrefix(got, want) {
		t.Fatalf("start: %q, want %q", got, want)
	}
	// Accepting by then.
	c := dialCtl(t, plain[0].String())
	c.Login("u", "p")
	c.Must(221, "QUIT")
	reload <- os.Interrupt
	if got := read(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reload: %q", got)
	}
	if got := read(); !strings.HasPrefix(got, "READY=1") {
		t.Fatalf("after reload: %q", got)
	}
	cancel()
	if got := read(); !strings.HasPrefix(got, "STOPPING=1") {
		t.Fatalf("stop: %q", got)
	}
	<-done
}
