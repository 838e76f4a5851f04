//go:build linux

package kernel

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

// gatewayProc is `rotary gateway` running in the router namespace.
type gatewayProc struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

// gateway starts `rotary gateway --config cfg args...` in the router
// namespace and waits for its running line.
func (l *lab) gateway(cfg string, args ...string) *gatewayProc {
	l.t.Helper()
	g := &gatewayProc{out: &syncbuf.Buffer{}, done: make(chan struct{})}
	g.cmd = exec.Command("ip", append([]string{"netns", "exec", l.router, rotaryBin, "gateway", "--config", cfg, "--admin", ""}, args...)...)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() { g.cmd.Wait(); close(g.done) }()
	l.t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-g.done
		if l.t.Failed() {
			l.t.Logf("gateway output:\n%s", g.out.String())
		}
	})
	if !g.out.WaitForText(15*time.Second, "gateway running") {
		l.t.Fatalf("gateway did not start:\n%s", g.out.String())
	}
	return g
}

// stop sends SIGTERM and waits for the exit.
func (g *gatewayProc) stop(t testing.TB) {
	t.Helper()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway did not exit on SIGTERM:\n%s", g.out.String())
	}
}

// table is `nft list table ip rotary` in the router namespace ("" when
// there is none).
func (l *lab) table() string {
	out, err := exec.Command("ip", "netns", "exec", l.router, "nft", "list", "table", "ip", "rotary").CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// TestKernelDatapathSeed: the seed's single server through the kernel
// datapath: curl (PASV and EPSV), lftp and ftplib checked by sha256; the
// table carries Rotary's comment, a table left behind (a crashed gateway's)
// is replaced at start, and exit removes it.
func TestKernelDatapathSeed(t *testing.T) {
	cfg := iosExample(t, "seed-single-server.ios", "127.0.0.2", outsideAddr, "127.0.0.1", serverA)
	l := newLab(t)
	l.serve("serve", serverA, "5500-5520")
	// A table of the same name, as a crashed gateway leaves it.
	run(t, "ip", "netns", "exec", l.router, "nft", "add table ip rotary; add chain ip rotary stale { type nat hook prerouting priority dstnat; }")
	g := l.gateway(cfg, "--datapath", "kernel")
	tbl := l.table()
	if strings.Contains(tbl, "stale") || !strings.Contains(tbl, `comment "rotary gateway line`) {
		t.Fatalf("table ip rotary after start: want the gateway's rules only, with their comments:\n%s", tbl)
	}
	l.curlGet(t, false)
	l.curlGet(t, true)
	l.lftpGet(t)
	l.ftplibCheck(t, 5500, 5520)
	g.stop(t)
	if tbl := l.table(); tbl != "" {
		t.Fatalf("table ip rotary left after SIGTERM:\n%s", tbl)
	}
}

// TestKernelDatapathTwoServers: two servers in a rotary pool, 40 sessions
// round-robin by numgen: both servers used, evenly.
func TestKernelDatapathTwoServers(t *testing.T) {
	cfg := iosExample(t, "two-servers-rotary.ios", "127.0.0.2", outsideAddr, "127.0.0.11", serverA, "127.0.0.12", serverB)
	l := newLab(t)
	a := l.serve("serve-A", serverA, "5500-5510")
	b := l.serve("serve-B", serverB, "5511-5520")
	g := l.gateway(cfg, "--datapath", "kernel", "--admin", "127.0.0.1:2180")
	// Each pool's ACL range is one set and one rule, not a rule per port.
	tbl := l.table()
	if n := strings.Count(tbl, "dnat to numgen"); n != 2*3 || !strings.Contains(tbl, "5500-5510") || !strings.Contains(tbl, "5511-5520") {
		t.Errorf("table ip rotary: want 3 pool rules in each chain (control, and one set per passive range), got %d:\n%s", n, tbl)
	}
	const sessions = 40
	for i := 0; i < sessions; i++ {
		l.curlGet(t, i%2 == 0)
	}
	na, nb := clientSessions(a), clientSessions(b)
	if na+nb != sessions || na != sessions/2 {
		t.Errorf("numgen round robin: server A got %d and server B %d of %d sessions, want %d each", na, nb, sessions, sessions/2)
	}
	// The show commands read conntrack: the sessions' control and data
	// connections (in TIME_WAIT now) and the rules' counters.
	show := func(what string) string {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", l.router, rotaryBin, "gateway", "show", what, "--admin", "127.0.0.1:2180").CombinedOutput()
		if err != nil {
			t.Fatalf("show %s: %v\n%s", what, err, out)
		}
		return string(out)
	}
	tr := show("translations")
	ctl := regexp.MustCompile(`(?m)^tcp ` + regexp.QuoteMeta(outsideAddr) + `:2121 +(` + regexp.QuoteMeta(serverA) + `|` + regexp.QuoteMeta(serverB) + `):2121 +` + regexp.QuoteMeta(clientAddr) + `:\d+ `)
	if n := len(ctl.FindAllString(tr, -1)); n != sessions {
		t.Errorf("show translations: %d control entries, want %d:\n%s", n, sessions, tr)
	}
	if !strings.Contains(tr, outsideAddr+":55") {
		t.Errorf("show translations lists no data connection:\n%s", tr)
	}
	st := show("statistics")
	hitsRe := regexp.MustCompile(`Hits: (\d+)`)
	if m := hitsRe.FindStringSubmatch(st); m == nil || m[1] != strconv.Itoa(2*sessions) {
		t.Errorf("show statistics: want Hits: %d (a control and a data connection per session):\n%s", 2*sessions, st)
	}
	for _, w := range []string{"member " + serverA + " up, 20 flows", "member " + serverB + " up, 20 flows"} {
		if !strings.Contains(st, w) {
			t.Errorf("show statistics lacks %q:\n%s", w, st)
		}
	}
	g.stop(t)
	if tbl := l.table(); tbl != "" {
		t.Fatalf("table ip rotary left after SIGTERM:\n%s", tbl)
	}
}

// TestKernelDatapathPlan: --print-plan marks the lines the kernel runs.
func TestKernelDatapathPlan(t *testing.T) {
	cfg := iosExample(t, "two-servers-rotary.ios", "127.0.0.2", outsideAddr, "127.0.0.11", serverA, "127.0.0.12", serverB)
	l := newLab(t)
	out, err := exec.Command("ip", "netns", "exec", l.router, rotaryBin, "gateway", "--config", cfg, "--datapath", "kernel", "--print-plan").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := outsideAddr + ":2121 -> pool ftp-ctl [kernel]\n" + outsideAddr + ":5500..5510 -> pool ftp-a [kernel]\n" + outsideAddr + ":5511..5520 -> pool ftp-b [kernel]\n"
	if string(out) != want {
		t.Errorf("plan:\n%s\nwant:\n%s", out, want)
	}
}

// TestKernelDatapathUnprivileged: without CAP_NET_ADMIN, --datapath kernel
// is a clear error and auto falls back to userspace with a log line.
func TestKernelDatapathUnprivileged(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is missing; skipped")
	}
	// nobody (65534) must read the configuration and run the binary: a
	// world-readable copy of both.
	dir, err := os.MkdirTemp("", "rotary-unprivileged")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, cfg := filepath.Join(dir, "rotary"), filepath.Join(dir, "seed.ios")
	run(t, "cp", rotaryBin, bin)
	run(t, "cp", iosExample(t, "seed-single-server.ios"), cfg)
	run(t, "chmod", "0755", bin, cfg)
	for _, tc := range []struct {
		datapath string
		fails    bool
		want     string
	}{
		{"kernel", true, "--datapath kernel: kernel datapath: listing nftables tables"},
		{"auto", false, "datapath auto: userspace"},
		{"userspace", false, "[userspace]"},
	} {
		t.Run(tc.datapath, func(t *testing.T) {
			out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
				bin, "gateway", "--config", cfg, "--datapath", tc.datapath, "--print-plan").CombinedOutput()
			if (err != nil) != tc.fails || !strings.Contains(string(out), tc.want) {
				t.Errorf("unprivileged --datapath %s: err %v, want failure %v and %q in:\n%s", tc.datapath, err, tc.fails, tc.want, out)
			}
		})
	}
}

// TestKernelDatapathReload: SIGHUP with a changed passive range while a
// 1 GiB transfer runs (rate-limited to 256 MB/s so that it is still
// running): the table is replaced, the transfer completes intact, and the
// new table has the new range only.
func TestKernelDatapathReload(t *testing.T) {
	cfg := iosExample(t, "seed-single-server.ios", "127.0.0.2", outsideAddr, "127.0.0.1", serverA)
	l := newLab(t)
	s := l.serve("serve", serverA, "5500-5520")
	const size = 1 << 30
	f, err := os.Create(filepath.Join(s.root, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size) // sparse: zeros
	f.Close()
	g := l.gateway(cfg, "--datapath", "kernel")
	dst := filepath.Join(t.TempDir(), "big.bin")
	curl := exec.Command("ip", "netns", "exec", l.client, "curl", "-sS", "--disable-epsv", "--limit-rate", "256M", "--max-time", "90",
		"-o", dst, "ftp://u:p@"+outsideAddr+":2121/big.bin")
	var curlOut syncbuf.Buffer
	curl.Stdout, curl.Stderr = &curlOut, &curlOut
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	curlDone := make(chan error, 1)
	go func() { curlDone <- curl.Wait() }()
	// Wait for the data to flow, then reload with 5500..5510.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(dst); err == nil && fi.Size() > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfer did not start: %s", curlOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(src), "range 5500 5520", "range 5500 5510", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	g.cmd.Process.Signal(syscall.SIGHUP)
	if !g.out.WaitForText(10*time.Second, "configuration reloaded") {
		t.Fatalf("no reload:\n%s", g.out.String())
	}
	select {
	case err := <-curlDone:
		t.Fatalf("the transfer ended before the reload was applied (%v): the test proves nothing; lower --limit-rate", err)
	default:
	}
	if tbl := l.table(); !strings.Contains(tbl, "5510") || strings.Contains(tbl, "5511") {
		t.Errorf("table after reload: want ports up to 5510 only:\n%s", tbl)
	}
	if err := <-curlDone; err != nil {
		t.Fatalf("transfer across the reload: %v %s", err, curlOut.String())
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Size() != size {
		t.Fatalf("transfer across the reload: %v, %d of %d bytes", err, fi.Size(), size)
	}
	// Streamed: the sha256 of the copy against that of 1 GiB of zeros.
	got, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	h, zeros := sha256.New(), sha256.New()
	io.Copy(h, got)
	io.CopyN(zeros, zeroReader{}, size)
	if !bytes.Equal(h.Sum(nil), zeros.Sum(nil)) {
		t.Fatal("transfer across the reload: content differs (sha256)")
	}
	// The next session uses the new table.
	l.curlGet(t, false)
}

// TestKernelDatapathHealth: with a 1 s health check, a killed server
// leaves the numgen map within the interval and every new session reaches
// the other one.
func TestKernelDatapathHealth(t *testing.T) {
	for _, byReload := range []bool{false, true} {
		t.Run(fmt.Sprintf("health-check by reload=%v", byReload), func(t *testing.T) { testKernelHealth(t, byReload) })
	}
}

// testKernelHealth: the health check configured at start, or turned on by
// a SIGHUP into a gateway that started without one.
func testKernelHealth(t *testing.T, byReload bool) {
	cfg := iosExample(t, "two-servers-rotary.ios", "127.0.0.2", outsideAddr, "127.0.0.11", serverA, "127.0.0.12", serverB)
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withHealth := append(src, "rotary health-check interval 1\n"...)
	if !byReload {
		if err := os.WriteFile(cfg, withHealth, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := newLab(t)
	a := l.serve("serve-A", serverA, "5500-5510")
	b := l.serve("serve-B", serverB, "5511-5520")
	g := l.gateway(cfg, "--datapath", "kernel")
	if byReload {
		if err := os.WriteFile(cfg, withHealth, 0o644); err != nil {
			t.Fatal(err)
		}
		g.cmd.Process.Signal(syscall.SIGHUP)
		if !g.out.WaitForText(10*time.Second, "configuration reloaded") {
			t.Fatalf("no reload:\n%s", g.out.String())
		}
	}
	l.curlGet(t, false)
	l.curlGet(t, false)
	if na, nb := clientSessions(a), clientSessions(b); na != 1 || nb != 1 {
		t.Fatalf("before the kill: server A got %d and server B %d sessions, want 1 each", na, nb)
	}
	// ip netns exec runs the server itself (it execs), so this kills it.
	a.cmd.Process.Kill()
	if !g.out.WaitForText(3*time.Second, "down=["+serverA+":2121]") {
		t.Fatalf("server A's death not noticed within the health interval:\n%s", g.out.String())
	}
	const sessions = 6
	for i := 0; i < sessions; i++ {
		l.curlGet(t, i%2 == 0)
	}
	if nb := clientSessions(b); nb != 1+sessions {
		t.Errorf("after the kill: server B got %d sessions, want %d", nb, 1+sessions)
	}
}

// clientSessions counts the sessions the client opened on s (the
// gateway's health checks open some too, from the router's address).
func clientSessions(s *server) int {
	return strings.Count(s.out.String(), `msg="session opened" client=`+clientAddr+" ")
}

// zeroReader reads zeros forever.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestKernelDatapathSourceACL: an access list that decides by source runs
// in the kernel as IOS evaluates it: the first matching entry decides (a
// deny for one host before a permit for its subnet), and a source no
// entry matches is not translated (the implicit deny).
func TestKernelDatapathSourceACL(t *testing.T) {
	l := newLab(t)
	// Two more client addresses: .3 (denied by the first entry, though the
	// second permits its subnet) and .4 (outside every entry).
	for _, a := range []string{"198.18.0.3/24", "198.18.0.4/24"} {
		run(t, "ip", "-n", l.client, "addr", "add", a, "dev", "c0")
	}
	l.serve("serve", serverA, "5500-5520")
	cfg := filepath.Join(t.TempDir(), "acl.ios")
	os.WriteFile(cfg, []byte(`interface r0
 ip address `+outsideAddr+` 255.255.255.0
 ip nat outside
interface r1
 ip address `+routerIn+` 255.255.255.0
 ip nat inside
ip nat pool ftp `+serverA+` `+serverA+` netmask 255.255.255.255 type rotary
access-list 100 deny tcp host 198.18.0.3 any
access-list 100 permit tcp 198.18.0.0 0.0.0.3 host `+outsideAddr+` eq 2121
access-list 100 permit tcp 198.18.0.0 0.0.0.3 host `+outsideAddr+` range 5500 5520
ip nat inside destination list 100 pool ftp
`), 0o644)
	plan, err := exec.Command("ip", "netns", "exec", l.router, rotaryBin, "gateway", "--config", cfg, "--datapath", "kernel", "--print-plan").Output()
	if err != nil || !strings.Contains(string(plan), "(sources filtered by list 100) [kernel]") || strings.Contains(string(plan), "[userspace]") {
		t.Fatalf("plan: want every line filtered in the kernel (%v):\n%s", err, plan)
	}
	g := l.gateway(cfg, "--datapath", "kernel")
	if n := strings.Count(l.table(), "return"); n < 2 {
		t.Errorf("table: want the deny entry as a return rule in both chains:\n%s", l.table())
	}
	fetch := func(src string) error {
		out, err := l.inClient("curl", "-sS", "--max-time", "5", "--connect-timeout", "3", "--interface", src, "-o", "-",
			"ftp://u:p@"+outsideAddr+":2121/file.bin")
		if err == nil && sha(out) != sha(content(1<<20+7)) {
			return fmt.Errorf("%d bytes, content differs", len(out))
		}
		return err
	}
	if err := fetch(clientAddr); err != nil {
		t.Fatalf("permitted client %s: %v", clientAddr, err)
	}
	if err := fetch("198.18.0.3"); err == nil {
		t.Error("198.18.0.3: translated, though the first entry denies it")
	}
	if err := fetch("198.18.0.4"); err == nil {
		t.Error("198.18.0.4: translated, though no entry permits it (implicit deny)")
	}
	if err := fetch(clientAddr); err != nil {
		t.Fatalf("permitted client %s after the refusals: %v", clientAddr, err)
	}
	g.stop(t)
}

// TestKernelDatapathMasquerade: servers that do not route back through
// the gateway (no default route) get no reply path from DNAT alone; with
// --masquerade the translated connections reach them from the gateway's
// inside address, and transfers work.
func TestKernelDatapathMasquerade(t *testing.T) {
	cfg := iosExample(t, "seed-single-server.ios", "127.0.0.2", outsideAddr, "127.0.0.1", serverA)
	l := newLab(t)
	run(t, "ip", "-n", l.server, "route", "del", "default")
	s := l.serve("serve", serverA, "5500-5520")
	g := l.gateway(cfg, "--datapath", "kernel")
	if out, err := l.inClient("curl", "-sS", "--max-time", "4", "-o", "/dev/null", "ftp://u:p@"+outsideAddr+":2121/file.bin"); err == nil {
		t.Fatalf("without --masquerade and without a route back, a transfer worked: %s", out)
	}
	g.stop(t)
	g = l.gateway(cfg, "--datapath", "kernel", "--masquerade")
	if tbl := l.table(); !strings.Contains(tbl, "masquerade") || !strings.Contains(tbl, "ct mark set") {
		t.Errorf("table: want the ct mark and the postrouting masquerade:\n%s", tbl)
	}
	l.curlGet(t, false)
	l.curlGet(t, true)
	if !strings.Contains(s.out.String(), "client="+routerIn) {
		t.Errorf("the server did not see the gateway's inside address %s:\n%s", routerIn, s.out.String())
	}
	g.stop(t)
}
