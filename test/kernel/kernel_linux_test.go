//go:build linux

package kernel

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

var rotaryBin string

func TestMain(m *testing.M) {
	// scripts/test.sh builds the binary once; alone, the package builds its own.
	if rotaryBin = os.Getenv("ROTARY_BIN"); rotaryBin != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "rotary-kernel")
	if err != nil {
		panic(err)
	}
	rotaryBin = filepath.Join(dir, "rotary")
	if out, err := exec.Command("go", "build", "-o", rotaryBin, "../../cmd/rotary").CombinedOutput(); err != nil {
		fmt.Printf("go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The lab's addresses, from the benchmarking range 198.18.0.0/15: they
// exist only on the veth pairs inside the test's namespaces.
const (
	outsideAddr = "198.18.0.1" // the router's outside address: the "public" one
	clientAddr  = "198.18.0.2"
	routerIn    = "198.19.0.1"
	serverA     = "198.19.0.2"
	serverB     = "198.19.0.3"
)

var labSeq atomic.Int32

// lab is three namespaces: client (c0: 198.18.0.2) - (r0: 198.18.0.1)
// router (r1: 198.19.0.1) - (s0: 198.19.0.2, .3) servers, the servers'
// default route through the router, which forwards IPv4.
type lab struct {
	t                      testing.TB
	client, router, server string
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newLab(t testing.TB) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel NAT tests: network namespaces need root (ip netns add); skipped")
	}
	for _, tool := range []string{"ip", "nft", "iptables-restore", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: scripts/install-test-deps.sh installs nftables, iptables and iproute2", tool)
		}
	}
	n := labSeq.Add(1)
	prefix := fmt.Sprintf("rotary-%d-%d-", os.Getpid(), n)
	l := &lab{t: t, client: prefix + "c", router: prefix + "r", server: prefix + "s"}
	for _, ns := range []string{l.client, l.router, l.server} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("kernel NAT tests: network namespaces are not allowed here (ip netns add: %v %s); skipped", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "link", "add", "c0", "netns", l.client, "type", "veth", "peer", "name", "r0", "netns", l.router)
	run(t, "ip", "link", "add", "s0", "netns", l.server, "type", "veth", "peer", "name", "r1", "netns", l.router)
	for _, a := range [][]string{
		{l.client, clientAddr + "/24", "c0"}, {l.router, outsideAddr + "/24", "r0"}, {l.router, routerIn + "/24", "r1"},
		{l.server, serverA + "/24", "s0"}, {l.server, serverB + "/24", "s0"},
	} {
		run(t, "ip", "-n", a[0], "addr", "add", a[1], "dev", a[2])
		run(t, "ip", "-n", a[0], "link", "set", a[2], "up")
	}
	run(t, "ip", "-n", l.server, "route", "add", "default", "via", routerIn)
	run(t, "ip", "netns", "exec", l.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return l
}

// apply loads rules (the output of rotary rules) into the router's kernel.
func (l *lab) apply(format, rules string) {
	l.t.Helper()
	path := filepath.Join(l.t.TempDir(), "rules."+format)
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		l.t.Fatal(err)
	}
	switch format {
	case "nftables":
		run(l.t, "ip", "netns", "exec", l.router, "nft", "-f", path)
		// Loading it again replaces the table in one transaction.
		run(l.t, "ip", "netns", "exec", l.router, "nft", "-f", path)
	case "iptables":
		run(l.t, "ip", "netns", "exec", l.router, "iptables-restore", path)
	default:
		l.t.Fatalf("no kernel for %s", format)
	}
}

type server struct {
	name, root string
	out        *syncbuf.Buffer
	cmd        *exec.Cmd
}

// serve runs `rotary serve` in the server namespace on addr:2121 and waits
// for its start line.
func (l *lab) serve(name, addr, passive string, extra ...string) *server {
	l.t.Helper()
	s := &server{name: name, root: l.t.TempDir(), out: &syncbuf.Buffer{}}
	if err := os.WriteFile(filepath.Join(s.root, "file.bin"), content(1<<20+7), 0o644); err != nil {
		l.t.Fatal(err)
	}
	args := append([]string{"netns", "exec", l.server, rotaryBin, "serve", "--listen", addr + ":2121", "--root", s.root,
		"--user", "u:p", "--public-ip", outsideAddr, "--passive-ports", passive, "--admin-listen", "", "--login-fail-delay", "1ms"}, extra...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	s.cmd = cmd
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	l.t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if l.t.Failed() {
			l.t.Logf("%s output:\n%s", name, s.out.String())
		}
	})
	if !s.out.WaitForText(15*time.Second, "msg=listening") {
		l.t.Fatalf("%s did not start:\n%s", name, s.out.String())
	}
	return s
}

// inClient runs a command in the client namespace.
func (l *lab) inClient(name string, args ...string) ([]byte, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.client, name}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+l.t.TempDir())
	return cmd.CombinedOutput()
}

// rules runs `rotary rules` on the host and returns its output.
func rules(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(rotaryBin, append([]string{"rules"}, args...)...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("rotary rules %v: %v %s", args, err, stderr)
	}
	return string(out)
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func content(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// curlGet downloads file.bin through the router's outside address with
// PASV (--disable-epsv) or EPSV and checks it by sha256.
func (l *lab) curlGet(t testing.TB, epsv bool) {
	t.Helper()
	args := []string{"-sS", "--max-time", "20", "-o", "-"}
	if !epsv {
		args = append(args, "--disable-epsv")
	}
	out, err := l.inClient("curl", append(args, "ftp://u:p@"+outsideAddr+":2121/file.bin")...)
	if err != nil || sha(out) != sha(content(1<<20+7)) {
		t.Fatalf("curl (epsv %v) through the kernel NAT: %d bytes, %v\n%.300s", epsv, len(out), err, out)
	}
}

// ftplibCheck logs in with Python's ftplib, checks that the 227 reply
// names the outside address and a port in want, downloads by sha256 and
// uploads.
func (l *lab) ftplibCheck(t testing.TB, lo, hi int) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is missing: scripts/install-test-deps.sh installs it")
	}
	script := `
import ftplib, hashlib, io, re, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], 2121, timeout=20)
ftp.login("u", "p")
resp = ftp.sendcmd("PASV")
m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", resp)
host = ".".join(m.group(1, 2, 3, 4)); port = int(m.group(5)) * 256 + int(m.group(6))
assert host == sys.argv[1], resp
assert int(sys.argv[2]) <= port <= int(sys.argv[3]), resp
buf = io.BytesIO()
ftp.retrbinary("RETR file.bin", buf.write)
ftp.storbinary("STOR up.bin", io.BytesIO(buf.getvalue()))
print(hashlib.sha256(buf.getvalue()).hexdigest())
ftp.quit()
`
	out, err := l.inClient("python3", "-c", script, outsideAddr, strconv.Itoa(lo), strconv.Itoa(hi))
	if err != nil || strings.TrimSpace(string(out)) != sha(content(1<<20+7)) {
		t.Fatalf("ftplib through the kernel NAT: %v\n%s", err, out)
	}
}

// lftpGet downloads with lftp in passive mode.
func (l *lab) lftpGet(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("lftp"); err != nil {
		t.Fatal("lftp is missing: scripts/install-test-deps.sh installs it")
	}
	dst := filepath.Join(t.TempDir(), "got.bin")
	out, err := l.inClient("lftp", "-u", "u,p", "-p", "2121", "-e",
		"set ftp:passive-mode on; set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; get file.bin -o "+dst+"; bye", outsideAddr)
	got, _ := os.ReadFile(dst)
	if err != nil || sha(got) != sha(content(1<<20+7)) {
		t.Fatalf("lftp through the kernel NAT: %v\n%s", err, out)
	}
}

var formats = []string{"nftables", "iptables"}

// TestServerSettings: `rotary rules` of the server's own settings, loaded
// into the router's kernel, carries real sessions: curl with PASV and
// EPSV, lftp, and ftplib (which also checks the 227 address), with
// transfers checked by sha256; an upload lands on the server.
func TestServerSettings(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			l := newLab(t)
			s := l.serve("serve", serverA, "5500-5520")
			l.apply(format, rules(t, "--format", format, "--listen", serverA+":2121", "--passive-ports", "5500-5520", "--public-ip", outsideAddr))
			l.curlGet(t, false)
			l.curlGet(t, true)
			l.lftpGet(t)
			l.ftplibCheck(t, 5500, 5520)
			if got, _ := os.ReadFile(filepath.Join(s.root, "up.bin")); sha(got) != sha(content(1<<20+7)) {
				t.Fatal("the upload through the kernel NAT differs")
			}
		})
	}
}

// TestPublicPassivePorts: a server that listens on 5500-5520 and announces
// 6500-6520, behind the port-translating DNAT rotary rules writes for it.
func TestPublicPassivePorts(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			l := newLab(t)
			l.serve("serve", serverA, "5500-5520", "--public-passive-ports", "6500-6520")
			l.apply(format, rules(t, "--format", format, "--listen", serverA+":2121", "--passive-ports", "5500-5520",
				"--public-passive-ports", "6500-6520", "--public-ip", outsideAddr))
			l.curlGet(t, false)
			l.curlGet(t, true)
			l.ftplibCheck(t, 6500, 6520)
		})
	}
}

// iosExample is one of the gateway's example configurations with the
// lab's addresses in place of the loopback ones.
func iosExample(t testing.TB, name string, repl ...string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("../../internal/nat/ios/testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.NewReplacer(repl...).Replace(string(src))), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFromIOSSeed: the seed's gateway configuration, rendered with
// --from-ios, is the same forwarding in the kernel.
func TestFromIOSSeed(t *testing.T) {
	cfg := iosExample(t, "seed-single-server.ios", "127.0.0.2", outsideAddr, "127.0.0.1", serverA)
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			l := newLab(t)
			l.serve("serve", serverA, "5500-5520")
			l.apply(format, rules(t, "--format", format, "--from-ios", cfg))
			l.curlGet(t, false)
			l.ftplibCheck(t, 5500, 5520)
		})
	}
}

// TestFromIOSTwoServers: two servers behind one outside address, control
// connections round-robin (numgen in nftables, statistic in iptables),
// each server's passive sub-range to that server.
func TestFromIOSTwoServers(t *testing.T) {
	cfg := iosExample(t, "two-servers-rotary.ios", "127.0.0.2", outsideAddr, "127.0.0.11", serverA, "127.0.0.12", serverB)
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			l := newLab(t)
			a := l.serve("serve-A", serverA, "5500-5510")
			b := l.serve("serve-B", serverB, "5511-5520")
			l.apply(format, rules(t, "--format", format, "--from-ios", cfg))
			const sessions = 6
			for i := 0; i < sessions; i++ {
				l.curlGet(t, i%2 == 0)
			}
			na, nb := strings.Count(a.out.String(), "session opened"), strings.Count(b.out.String(), "session opened")
			if na+nb != sessions || na != sessions/2 {
				t.Errorf("round robin: server A got %d and server B %d of %d sessions, want %d each", na, nb, sessions, sessions/2)
			}
		})
	}
}
