package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/nat/admin"
	"github.com/rotary-ftp/rotary/internal/nat/forward"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func canDial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func echoOnce(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q: %q, %v", msg, buf, err)
	}
}

// TestRunReloadDrain runs a gateway from a file, asks the admin endpoint,
// reloads to another port while a flow continues, survives a broken
// reload, and drains on stop.
func TestRunReloadDrain(t *testing.T) {
	backend, err := net.Listen("tcp", "127.0.0.11:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	bport := backend.Addr().(*net.TCPAddr).Port
	p1, p2 := freePort(t, "127.0.0.2"), freePort(t, "127.0.0.2")
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	path := filepath.Join(t.TempDir(), "gw.ios")
	write := func(body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	static := func(p int) string {
		return fmt.Sprintf("ip nat inside source static tcp 127.0.0.11 %d 127.0.0.2 %d\n", bport, p)
	}
	write(static(p1))
	cfg, _, err := Load(path, ios.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dp := &forward.Server{Logger: slog.New(slog.DiscardHandler)}
	prog, err := dp.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: path, Datapath: dp, AdminAddr: adminAddr, DrainTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))}, cfg, prog, reload)
	}()
	a1 := fmt.Sprintf("127.0.0.2:%d", p1)
	a2 := fmt.Sprintf("127.0.0.2:%d", p2)
	if !logs.WaitForText(10*time.Second, `msg="gateway running"`) || !canDial(a1) {
		t.Fatalf("gateway not listening on %s; log:\n%s", a1, logs)
	}
	flow, err := net.Dial("tcp", a1)
	if err != nil {
		t.Fatal(err)
	}
	defer flow.Close()
	flow.SetDeadline(time.Now().Add(20 * time.Second))
	echoOnce(t, flow, "hello")

	// The dial that saw the listener was a flow too; it ends by itself.
	const want = "Total active translations: 2 (1 static, 1 dynamic; 2 extended)"
	var stats string
	waitFor(10*time.Second, func() bool {
		stats, err = admin.Fetch(ctx, adminhttp.Endpoint{Addr: adminAddr}, "statistics")
		return err == nil && strings.HasPrefix(stats, want)
	})
	if err != nil || !strings.HasPrefix(stats, want) {
		t.Fatalf("statistics (%v):\n%s", err, stats)
	}
	// The same counts on /metrics, for Prometheus.
	body, err := adminhttp.Do(ctx, "GET", adminhttp.Endpoint{Addr: adminAddr}, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`rotary_gateway_info{datapath="userspace"} 1`,
		`rotary_gateway_translations{kind="static"} 1`,
		`rotary_gateway_translations{kind="dynamic"} 1`,
		`rotary_gateway_connections_total{result="translated"} 2`,
		`rotary_gateway_listeners 1`,
	} {
		if !strings.Contains(string(body), "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", line, body)
		}
	}
	if h, err := adminhttp.Do(ctx, "GET", adminhttp.Endpoint{Addr: adminAddr}, "/healthz"); err != nil || string(h) != "ok\n" {
		t.Errorf("/healthz = %q, %v", h, err)
	}

	write(static(p2))
	reload <- os.Interrupt
	if !logs.WaitForText(10*time.Second, `msg="configuration reloaded"`) || !canDial(a2) || canDial(a1) {
		t.Fatalf("reload did not move the listener; log:\n%s", logs)
	}
	echoOnce(t, flow, "after reload")

	write("ip nat pool broken 127.0.0.1 127.0.0.1 prefix-length 32 type match-host\n")
	reload <- os.Interrupt
	if !logs.WaitForText(10*time.Second, `msg="reload refused; the running configuration stays"`) {
		t.Fatalf("broken reload not reported; log:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `gw.ios:1:62: unexpected \"match-host\"`) {
		t.Errorf("reload error lacks the position; log:\n%s", logs)
	}
	if !canDial(a2) {
		t.Fatal("broken reload closed the running listener")
	}

	cancel()
	// The drain has begun once the listener refuses; the flow must outlive
	// it, and Run must wait for the flow.
	if !waitFor(10*time.Second, func() bool { return !canDial(a2) }) {
		t.Fatalf("still listening after stop; log:\n%s", logs)
	}
	echoOnce(t, flow, "draining")
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a flow was still open", err)
	default:
	}
	if !strings.Contains(logs.String(), `msg="stopping: closing the listeners, letting flows finish"`) {
		t.Errorf("stop not logged; log:\n%s", logs)
	}
	flow.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the last flow closed")
	}
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("clean stop not logged; log:\n%s", logs)
	}
}

func TestRunPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	cfg, _, err := ios.Parse("t.ios", strings.NewReader(fmt.Sprintf("ip nat inside source static tcp 127.0.0.11 21 127.0.0.2 %d\n", port)), ios.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dp := &forward.Server{Logger: slog.New(slog.DiscardHandler)}
	prog, err := dp.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), Options{Datapath: dp, Logger: slog.New(slog.DiscardHandler)}, cfg, prog, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("outside address 127.0.0.2:%d", port)) {
		t.Fatalf("Run = %v", err)
	}
}
