package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/ftpclient"
	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/storage/local"
)

// oneUser is the smallest ftp.Backend: user u, password p, over root.
type oneUser struct{ root string }

func (b oneUser) Login(ctx context.Context, c ftp.ConnInfo, user, pass string) (*ftp.Account, error) {
	if user != "u" || pass != "p" {
		return nil, ftp.ErrLoginFailed
	}
	d, err := local.New(b.root)
	if err != nil {
		return nil, err
	}
	return &ftp.Account{Name: user, FS: d, Perm: ftp.PermAll, Close: func() { d.Close() }}, nil
}

// startRotary runs Rotary's engine on 127.0.0.1 with user u/p over a fresh
// folder and returns the target URL. (Only the tests know about the engine:
// the bench itself talks to any server over the wire.)
func startRotary(t *testing.T) (Target, string) {
	t.Helper()
	root := t.TempDir()
	lo := 47000 + os.Getpid()%50*20
	pool := passive.New(passive.Range{Lo: lo, Hi: lo + 19})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool.Logger = logger
	srv := &ftp.Server{
		Backend: oneUser{root},
		Passive: pool,
		Logger:  logger,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		pool.Close()
	})
	tg, err := ParseTarget("ftp://u:p@" + l.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	return tg, root
}

// TestWorkloads runs every workload briefly against an in-process Rotary.
func TestWorkloads(t *testing.T) {
	tg, root := startRotary(t)
	cfg := Config{
		Target:      tg,
		Duration:    500 * time.Millisecond,
		Size:        8 << 20,
		Clients:     8,
		Logins:      200,
		Sessions:    50,
		ServerPID:   os.Getpid(), // the server runs in this process
		ListEntries: 200,
		TempDir:     t.TempDir(),
		Warmup:      1,
	}
	results, err := Run(context.Background(), cfg, Workloads)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(Workloads) {
		t.Fatalf("%d results for %d workloads", len(results), len(Workloads))
	}
	byName := make(map[string]Result)
	for _, r := range results {
		if r.Error != "" || r.Skipped != "" {
			t.Errorf("%s: error %q, skipped %q", r.Workload, r.Error, r.Skipped)
		}
		byName[r.Workload] = r
		head, details := Summary(&r)
		t.Logf("%-14s %-18s %s", r.Name(), head, details)
	}
	for _, w := range []string{Raw, RetrBig, StorBig, StorOverwrite} {
		// The warm-up transfer ran and its bytes are not in the figure.
		r := byName[w]
		warmups := 1
		if w == StorOverwrite {
			warmups = 2 // the upload that creates the file, then one replacement
		}
		if r.MBps <= 0 || r.Transfers < 1 || r.Bytes != int64(r.Transfers)*cfg.Size || r.Warmups != warmups {
			t.Errorf("%s: %+v", w, r)
		}
		if head, _ := Summary(&r); !strings.HasSuffix(head, " MB/s") {
			t.Errorf("%s: the table's figure is %q, want MB/s", w, head)
		}
	}
	if r := byName[SmallRetr]; r.Ops < 1 || r.OpsPerSec <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms || r.Failures != 0 || r.Clients != 8 {
		t.Errorf("small-retr: %+v", r)
	}
	// raw-small and raw-ftp-small need no server but run the same loop
	// with the same clients.
	for _, w := range []string{RawSmall, RawFTPSmall} {
		rs := byName[w]
		if rs.Ops < 1 || rs.OpsPerSec <= 0 || rs.P50ms <= 0 || rs.P99ms < rs.P50ms || rs.Failures != 0 || rs.Clients != 8 || rs.TLS || rs.Note != "" {
			t.Errorf("%s: %+v", w, rs)
		}
		if head, _ := Summary(&rs); !strings.HasSuffix(head, " ops/s") {
			t.Errorf("%s: the table's figure is %q, want ops/s", w, head)
		}
	}
	if r := byName[LoginStorm]; r.Ops != 200 || r.Failures != 0 || r.P99ms < r.P50ms {
		t.Errorf("login-storm: %+v", r)
	}
	if r := byName[IdleSessions]; r.Sessions != 50 || r.PSSKiB <= 0 || r.PSSBaseKiB <= 0 || r.Processes < 1 {
		t.Errorf("idle-sessions: %+v", r)
	}
	// MLSD lists the 200 files (Rotary sends no . or .. for MLSD of a
	// folder other than the current one; allow either).
	if r := byName[ListBig]; r.Verb != "MLSD" || r.Entries < 200 || r.Entries > 202 || r.Ops < 1 {
		t.Errorf("list-big: %+v", r)
	}

	// What the bench left on the server: the big and small files, the list
	// folder; no STOR leftovers.
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"rotary-bench-4096.bin", bigName(8 << 20), "rotary-bench-list"} // ReadDir order
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("server folder holds %v, want %v", names, want)
	}
	list, _ := os.ReadDir(root + "/rotary-bench-list")
	if len(list) != 200 {
		t.Errorf("list folder has %d entries, want 200", len(list))
	}

	// A second list-big run finds the folder full and creates nothing.
	cfg.Duration = 50 * time.Millisecond
	results, err = Run(context.Background(), cfg, []string{ListBig})
	if err != nil || results[0].Error != "" {
		t.Fatalf("second list-big: %v %+v", err, results)
	}
	if list, _ := os.ReadDir(root + "/rotary-bench-list"); len(list) != 200 {
		t.Errorf("second run: list folder has %d entries", len(list))
	}
}

// TestWorkloadErrors: a wrong password and a missing --file are reported
// per workload, and the run goes on.
func TestWorkloadErrors(t *testing.T) {
	tg, _ := startRotary(t)
	bad := tg
	bad.Password = "wrong"
	results, err := Run(context.Background(), Config{Target: bad, Duration: 100 * time.Millisecond, Size: 1 << 20}, []string{RetrBig, StorBig})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !strings.Contains(r.Error, "530") {
			t.Errorf("%s with a wrong password: %+v", r.Workload, r)
		}
	}
	results, err = Run(context.Background(), Config{Target: tg, Duration: 100 * time.Millisecond, File: "missing.bin"}, []string{RetrBig})
	if err != nil || !strings.Contains(results[0].Error, "550") {
		t.Errorf("retr-big of a missing --file: %v %+v", err, results)
	}
	// A failed warm-up transfer fails the workload and says so.
	results, err = Run(context.Background(), Config{Target: tg, Duration: 100 * time.Millisecond, File: "missing.bin", Warmup: 1}, []string{RetrBig})
	if err != nil || !strings.Contains(results[0].Error, "warm-up") || !strings.Contains(results[0].Error, "550") || results[0].Transfers != 0 {
		t.Errorf("retr-big of a missing --file with a warm-up: %v %+v", err, results)
	}
}

// TestTLSRefused: against a server without AUTH TLS, --tls workloads are
// skipped with the reason, and raw still runs.
func TestTLSRefused(t *testing.T) {
	tg, _ := startRotary(t)
	results, err := Run(context.Background(), Config{Target: tg, TLS: true, Duration: 50 * time.Millisecond, Size: 1 << 20, TempDir: t.TempDir()}, []string{Raw, LoginStorm})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Error != "" || results[0].TLS {
		t.Errorf("raw: %+v", results[0])
	}
	if r := results[1]; r.Skipped == "" || r.Name() != "login-storm+tls" {
		// A server with AUTH TLS would run it; then it must have worked.
		if r.Error != "" || r.Ops == 0 {
			t.Errorf("login-storm --tls: %+v", r)
		}
	}
}

// TestCeilingsNeedNoServer: raw, raw-small and raw-ftp-small run in the
// bench process alone: the target is not even resolved (a remote one is no
// error), --tls gives clear text and a note, and the small ceilings check
// a payload larger than one read.
func TestCeilingsNeedNoServer(t *testing.T) {
	tg, _ := ParseTarget("ftp://u:p@192.0.2.1:21/")
	cfg := Config{Target: tg, TLS: true, Duration: 100 * time.Millisecond, Size: 1 << 20, SmallSize: 200 << 10, Clients: 3, TempDir: t.TempDir()}
	results, err := Run(context.Background(), cfg, []string{Raw, RawSmall, RawFTPSmall})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Error != "" || r.TLS || !strings.Contains(r.Note, "--tls does not apply") {
			t.Errorf("%s: %+v", r.Workload, r)
		}
	}
	for _, r := range results[1:] {
		if r.Ops < 1 || r.Failures != 0 || r.Clients != 3 || r.P99ms < r.P50ms {
			t.Errorf("%s: %+v", r.Workload, r)
		}
	}
}

// TestDataGoesToControlHost: a 227 reply naming another address is not
// followed; the data connection goes to the control connection's host.
func TestDataGoesToControlHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	dport := dl.Addr().(*net.TCPAddr).Port
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		io.WriteString(c, "220 hi\r\n")
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			switch cmd := string(buf[:n]); {
			case strings.HasPrefix(cmd, "PASV"):
				// Claims a remote address; the bench must ignore it.
				io.WriteString(c, "227 Entering Passive Mode (192,0,2,1,"+strconv.Itoa(dport>>8)+","+strconv.Itoa(dport&255)+").\r\n")
			case strings.HasPrefix(cmd, "RETR"):
				io.WriteString(c, "150 go\r\n")
				d, err := dl.Accept()
				if err != nil {
					return
				}
				io.WriteString(d, "hello")
				d.Close()
				io.WriteString(c, "226 done\r\n")
			default:
				io.WriteString(c, "200 ok\r\n")
			}
		}
	}()
	tg, _ := ParseTarget("ftp://u:p@" + l.Addr().String() + "/")
	addr, _ := tg.Resolve(context.Background(), false)
	d := ftpclient.Dialer{Addr: netipAddrPort(addr, tg.Port)}
	c, err := d.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.Open(context.Background(), "RETR x")
	if err != nil {
		t.Fatal(err)
	}
	n, err := dc.Drain(nil, make([]byte, 64), nil)
	dc.Close()
	if err != nil || n != 5 {
		t.Fatalf("drain = %d, %v", n, err)
	}
	if err := c.Finish("RETR"); err != nil {
		t.Fatal(err)
	}
}
