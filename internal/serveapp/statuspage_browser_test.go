//go:build linux

package serveapp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The status page in a real headless Chromium (Debian's chromium, which
// scripts/install-test-deps.sh installs): loaded while an upload runs and
// three PASV replies wait, it shows the session, the transfer and the
// passive range, and then, refreshed by its own script, the upload's
// progress. The screenshot is kept (ROTARY_ARTIFACTS, else the test's
// temporary folder).
func TestStatusPageInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is missing: scripts/install-test-deps.sh installs it")
	}
	admin := freeAddr(t)
	ta := startApp(t, fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"alice:pw\"]\nadmin-listen = %q\npassive-ports = %q\n", admin, passiveRange(6)))
	addr := ta.addr(t)

	// An upload that goes on until the test ends it.
	up := dialCtl(t, addr)
	up.Login("alice", "pw")
	data := up.EPSV()
	up.Send("STOR nightly-export.bin")
	up.Expect(150)
	chunk := make([]byte, 1<<20)
	data.Write(chunk)
	for range 3 {
		w := dialCtl(t, addr)
		w.Login("alice", "pw")
		w.Must(227, "PASV")
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+admin+"/"),
		chromedp.WaitVisible("#sessions tr.session"),
	); err != nil {
		t.Fatalf("loading the status page: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	sessions, transfers, passive, pending := text("#sessions"), text("#transfers"), text("#passive"), text("#pending")
	for _, want := range []string{"alice", "127.0.0.1", "transfer"} {
		if !strings.Contains(sessions, want) {
			t.Errorf("sessions lack %q:\n%s", want, sessions)
		}
	}
	if !strings.Contains(transfers, "STOR") || !strings.Contains(transfers, "nightly-export.bin") || !strings.Contains(transfers, "1.0 MiB") {
		t.Errorf("transfers lack the upload:\n%s", transfers)
	}
	if strings.TrimSpace(pending) != "3" || !strings.Contains(passive, "Recommended range") {
		t.Errorf("passive range: pending %q\n%s", pending, passive)
	}

	// More data: the page's script refreshes it without a reload.
	for range 4 {
		data.Write(chunk)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#transfers").innerText.includes("5.0 MiB")`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the page did not refresh to 5.0 MiB moved: %v\n%s", err, text("#transfers"))
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("ROTARY_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "status-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	data.Close()
	up.Expect(226)
}
