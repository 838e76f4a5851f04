// Package e2e runs the real rotary binary: `rotary gateway` in front of one
// or two `rotary serve` processes on loopback addresses (127.0.0.2 stands for
// the public address), driven by curl, lftp, Python's ftplib and
// jlaffaye/ftp.
package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/rotary-ftp/rotary/internal/storage/s3/s3test"
	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

var rotaryBin string

func TestMain(m *testing.M) {
	if runtime.GOOS != "linux" {
		// Several 127.0.0.x addresses on loopback are a Linux default.
		fmt.Println("e2e: skipped (needs Linux loopback addresses)")
		os.Exit(0)
	}
	// scripts/test.sh builds the binary once for every package that runs
	// it; alone, the package builds its own.
	if rotaryBin = os.Getenv("ROTARY_BIN"); rotaryBin != "" {
		os.Exit(s3test.Main(m))
	}
	dir, err := os.MkdirTemp("", "rotary-e2e")
	if err != nil {
		panic(err)
	}
	rotaryBin = filepath.Join(dir, "rotary")
	if out, err := exec.Command("go", "build", "-o", rotaryBin, "../../cmd/rotary").CombinedOutput(); err != nil {
		fmt.Printf("go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := s3test.Main(m) // stops the MinIO of the S3 tests, if one started
	os.RemoveAll(dir)
	os.Exit(code)
}

// userspaceGateway pins `rotary gateway` to the userspace datapath: these
// tests run on loopback in the host's namespace, where --datapath auto as
// root would program nftables (the kernel datapath has its own tests in
// namespaces, test/kernel).
func userspaceGateway(args []string) []string {
	if len(args) > 0 && args[0] == "gateway" && (len(args) < 2 || args[1] != "show") {
		return append([]string{"gateway", "--datapath", "userspace"}, args[1:]...)
	}
	return args
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

// start runs rotary with args and waits until every addr in ready accepts.
func start(t testing.TB, name string, ready []string, args ...string) *proc {
	t.Helper()
	args = userspaceGateway(args)
	p := &proc{name: name, cmd: exec.Command(rotaryBin, args...), out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	// Wait for the process's own startup line first: a dial alone could
	// reach some other program that already holds the address.
	marker := "msg=listening"
	if len(args) > 0 && args[0] == "gateway" {
		marker = `msg="gateway running"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.out.String(), marker) {
		select {
		case <-p.done:
			t.Fatalf("%s exited: %s", name, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", name, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, addr := range ready {
		waitListening(t, p, addr)
	}
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func waitListening(t testing.TB, p *proc, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited: %s", p.name, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not listening: %v\n%s", p.name, addr, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAdminAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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

// ports are a control port and a passive range that nothing on the
// machine uses on any of addrs (a running `rotary serve` on 2121 and
// 5500-5520 included): the control port comes from :0, the range is a
// block of n ports probed free, below Linux's ephemeral range.
type ports struct {
	ctl    int
	lo, hi int
}

func (p ports) ctlOn(host string) string { return net.JoinHostPort(host, strconv.Itoa(p.ctl)) }
func (p ports) passive() string          { return fmt.Sprintf("%d-%d", p.lo, p.hi) }

func freePorts(t testing.TB, n int, addrs ...string) ports {
	t.Helper()
	l, err := net.Listen("tcp", addrs[0]+":0")
	if err != nil {
		t.Fatal(err)
	}
	ctl := l.Addr().(*net.TCPAddr).Port
	l.Close()
	for try := 0; try < 50; try++ {
		lo := 20000 + mrand.IntN(10000)
		if lo <= ctl && ctl < lo+n {
			continue
		}
		hosts := append(append([]string(nil), addrs...), ctlHosts...)
		slices.Sort(hosts)
		if blockFree(lo, n, slices.Compact(hosts)) {
			return ports{ctl: ctl, lo: lo, hi: lo + n - 1}
		}
	}
	t.Fatal("no free block of passive ports")
	return ports{}
}

// ctlHosts are the loopback addresses e2e servers and gateways listen on.
var ctlHosts = []string{"127.0.0.1", "127.0.0.2", "127.0.0.11", "127.0.0.12"}

func blockFree(lo, n int, hosts []string) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for p := lo; p < lo+n; p++ {
		for _, h := range hosts {
			l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(p)))
			if err != nil {
				return false
			}
			ls = append(ls, l)
		}
	}
	return true
}

// iosConfig writes the testdata IOS file name (or a path with a slash)
// with its ports replaced: each (old, new) pair is a text replacement.
func iosConfig(t testing.TB, name string, repl ...string) string {
	t.Helper()
	path := name
	if !strings.Contains(name, "/") {
		path = filepath.Join("../../internal/nat/ios/testdata", name)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(repl...).Replace(string(src))
	p := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// seedConfig is the seed's IOS file on the ports p.
func seedConfig(t testing.TB, p ports) string {
	t.Helper()
	return iosConfig(t, "seed-single-server.ios", " 2121", " "+strconv.Itoa(p.ctl),
		"range 5500 5520", fmt.Sprintf("range %d %d", p.lo, p.hi))
}

// shippedSeed is examples/seed-single-server.ios, which users copy (PROXY
// protocol on), on the ports p.
func shippedSeed(t testing.TB, p ports) string {
	t.Helper()
	return iosConfig(t, "../../examples/seed-single-server.ios", " 2121", " "+strconv.Itoa(p.ctl),
		"range 5500 5520", fmt.Sprintf("range %d %d", p.lo, p.hi))
}

// TestSeedScenario is the article's setup as the README gives it
// (examples/seed-single-server.ios): the server inside on 127.0.0.1 with
// its passive range, the gateway on the outside address 127.0.0.2 running
// the three IOS commands plus a static control forward, with PROXY
// protocol so that the server sees the real clients.
func TestSeedScenario(t *testing.T) {
	root := t.TempDir()
	data := content(3<<20 + 11)
	os.WriteFile(filepath.Join(root, "file.bin"), data, 0o644)
	pp := freePorts(t, 21, "127.0.0.1", "127.0.0.2")
	serveAdmin := freeAdminAddr(t)
	serve := start(t, "serve", []string{pp.ctlOn("127.0.0.1")}, "serve", "--listen", pp.ctlOn("127.0.0.1"), "--root", root,
		"--user", "u:p", "--public-ip", "127.0.0.2", "--passive-ports", pp.passive(), "--proxy-protocol-from", "127.0.0.1/32",
		"--ban-after", "2", "--login-fail-delay", "10ms", "--admin-listen", serveAdmin)
	admin := freeAdminAddr(t)
	gateway := start(t, "gateway", []string{pp.ctlOn("127.0.0.2"), fmt.Sprintf("127.0.0.2:%d", pp.lo), fmt.Sprintf("127.0.0.2:%d", pp.hi)},
		"gateway", "--config", shippedSeed(t, pp), "--admin", admin)
	if strings.Contains(gateway.out.String(), "without PROXY protocol") {
		t.Errorf("the shipped example warns about PROXY protocol:\n%s", gateway.out.String())
	}
	url := "ftp://u:p@" + pp.ctlOn("127.0.0.2") + "/"

	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("no curl")
		}
		for _, mode := range [][]string{nil, {"--disable-epsv"}} {
			out, err := exec.Command("curl", append(mode, "-sS", "--max-time", "30", url+"file.bin")...).Output()
			if err != nil || sha(out) != sha(data) {
				t.Fatalf("curl %v download through the gateway: %d bytes, %v", mode, len(out), err)
			}
		}
		src := filepath.Join(t.TempDir(), "up.bin")
		os.WriteFile(src, data[:1<<20], 0o644)
		if out, err := exec.Command("curl", "-sS", "--max-time", "30", "-T", src, url+"curl-up.bin").CombinedOutput(); err != nil {
			t.Fatalf("curl upload: %v %s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(root, "curl-up.bin")); sha(got) != sha(data[:1<<20]) {
			t.Fatal("curl upload through the gateway differs")
		}
	})

	t.Run("ftplib", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("no python3")
		}
		script := `
import ftplib, hashlib, io, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.2", int(sys.argv[1]), timeout=30)
ftp.login("u", "p")
resp = ftp.sendcmd("PASV")
assert "(127,0,0,2," in resp, resp  # the public address, not 127.0.0.1
buf = io.BytesIO()
ftp.retrbinary("RETR file.bin", buf.write)
print(hashlib.sha256(buf.getvalue()).hexdigest())
ftp.storbinary("STOR py-up.bin", io.BytesIO(buf.getvalue()))
ftp.quit()
`
		out, err := exec.Command("python3", "-c", script, strconv.Itoa(pp.ctl)).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != sha(data) {
			t.Fatalf("ftplib through the gateway: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(root, "py-up.bin")); sha(got) != sha(data) {
			t.Fatal("ftplib upload differs")
		}
	})

	t.Run("lftp", func(t *testing.T) {
		if _, err := exec.LookPath("lftp"); err != nil {
			t.Skip("no lftp")
		}
		dir := t.TempDir()
		cmds := "set ftp:passive-mode on; set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; " +
			"get file.bin -o " + filepath.Join(dir, "got.bin") + "; put " + filepath.Join(dir, "got.bin") + " -o lftp-up.bin; bye"
		cmd := exec.Command("lftp", "-u", "u,p", "-p", strconv.Itoa(pp.ctl), "-e", cmds, "127.0.0.2")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("lftp: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "got.bin")); sha(got) != sha(data) {
			t.Fatal("lftp download differs")
		}
		if got, _ := os.ReadFile(filepath.Join(root, "lftp-up.bin")); sha(got) != sha(data) {
			t.Fatal("lftp upload differs")
		}
	})

	t.Run("ports outside the ACL are closed", func(t *testing.T) {
		for _, port := range []int{21, pp.lo - 1, pp.hi + 1} {
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.2:%d", port), time.Second); err == nil {
				c.Close()
				t.Errorf("127.0.0.2:%d accepts a connection", port)
			}
		}
	})

	// One client guessing passwords is banned; another client behind the
	// same gateway still logs in (issue 15: without PROXY protocol the
	// server banned the gateway, and so every client).
	t.Run("a ban hits only the guesser", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			c, err := dialFTP(t, pp.ctlOn("127.0.0.2"), "127.0.0.5")
			if err != nil {
				continue // banned: refused with 421 at connect
			}
			c.Login("u", fmt.Sprintf("wrong%d", i))
			c.Quit()
		}
		if !serve.out.WaitForText(5*time.Second, "address banned") {
			t.Fatalf("127.0.0.5 not banned:\n%s", serve.out.String())
		}
		if err := session(t, pp.ctlOn("127.0.0.2"), "127.0.0.6", data); err != nil {
			t.Fatalf("127.0.0.6 cannot log in after 127.0.0.5 was banned: %v", err)
		}
		out, err := exec.Command(rotaryBin, "ban", "list", "--admin", serveAdmin).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "127.0.0.5") || strings.Contains(string(out), "127.0.0.1 ") {
			t.Fatalf("rotary ban list: %v\n%s", err, out)
		}
	})

	t.Run("show translations", func(t *testing.T) {
		out, err := exec.Command(rotaryBin, "gateway", "show", "translations", "--admin", admin).CombinedOutput()
		if err != nil {
			t.Fatalf("show translations: %v\n%s", err, out)
		}
		for _, want := range []string{"Pro", "Inside global", "tcp " + pp.ctlOn("127.0.0.2"), pp.ctlOn("127.0.0.1"), "Total active translations"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("show translations lacks %q:\n%s", want, out)
			}
		}
	})
}

func dialFTP(t *testing.T, addr, local string) (*ftpc.ServerConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	return ftpc.Dial(addr, ftpc.DialWithDialer(d), ftpc.DialWithTimeout(10*time.Second))
}

// session logs in through the gateway at addr, downloads want's file and quits.
func session(t *testing.T, addr, local string, want []byte) error {
	c, err := dialFTP(t, addr, local)
	if err != nil {
		return err
	}
	defer c.Quit()
	if err := c.Login("u", "p"); err != nil {
		return err
	}
	r, err := c.Retr("file.bin")
	if err != nil {
		return err
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("downloaded %d bytes differ", len(got))
	}
	return nil
}

// TestTwoServers is internal/nat/ios/testdata/two-servers-rotary.ios: two servers
// behind one public address, control connections round-robin, each server
// with its own passive sub-range.
func TestTwoServers(t *testing.T) {
	data := content(64 << 10)
	pp := freePorts(t, 21, "127.0.0.2", "127.0.0.11", "127.0.0.12")
	mid := pp.lo + 10
	var servers []*proc
	for i, s := range []struct{ addr, ports string }{
		{pp.ctlOn("127.0.0.11"), fmt.Sprintf("%d-%d", pp.lo, mid)},
		{pp.ctlOn("127.0.0.12"), fmt.Sprintf("%d-%d", mid+1, pp.hi)},
	} {
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "file.bin"), data, 0o644)
		servers = append(servers, start(t, fmt.Sprintf("serve-%c", 'A'+i), []string{s.addr}, "serve", "--listen", s.addr,
			"--root", root, "--user", "u:p", "--public-ip", "127.0.0.2", "--passive-ports", s.ports))
	}
	cfg := iosConfig(t, "two-servers-rotary.ios", "eq 2121", "eq "+strconv.Itoa(pp.ctl), ":2121", ":"+strconv.Itoa(pp.ctl),
		"range 5500 5510", fmt.Sprintf("range %d %d", pp.lo, mid), "range 5511 5520", fmt.Sprintf("range %d %d", mid+1, pp.hi))
	gw := pp.ctlOn("127.0.0.2")
	start(t, "gateway", []string{gw}, "gateway", "--config", cfg, "--admin", "")

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	sem := make(chan struct{}, 8)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := session(t, gw, "", data); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("session through the gateway: %v", err)
	}
	for _, s := range servers {
		s.out.WaitFor(5*time.Second, func(out string) bool { return strings.Count(out, "session opened") >= 10 })
		if n := strings.Count(s.out.String(), "session opened"); n < 10 {
			t.Errorf("%s got %d of 40 sessions; round robin should give each about 20", s.name, n)
		}
	}

	// Kill server A under load: sessions that were on A end with it, but
	// from then on every new session reaches B, the first one included
	// (the gateway tries the next member within the syn-timeout), and none
	// hangs (issue 15).
	load := make(chan struct{})
	var loadWG sync.WaitGroup
	for i := 0; i < 4; i++ {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for {
				select {
				case <-load:
					return
				default:
					session(t, gw, "", data) // some fail: they were on A
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	servers[0].kill()
	killed := time.Now()
	for i := 0; i < 10; i++ {
		if err := session(t, gw, "", data); err != nil {
			t.Fatalf("session %d after server A was killed: %v", i, err)
		}
	}
	close(load)
	loadWG.Wait()
	t.Logf("10 sessions on B within %v of the kill", time.Since(killed).Round(time.Millisecond))
}

// TestProxyProtocol: the gateway sends PROXY v2 headers on control and data
// connections; the server logs the real client and still checks that data
// connections come from the control connection's client.
func TestProxyProtocol(t *testing.T) {
	root := t.TempDir()
	data := content(100 << 10)
	os.WriteFile(filepath.Join(root, "file.bin"), data, 0o644)
	pp := freePorts(t, 21, "127.0.0.1", "127.0.0.2")
	base, err := os.ReadFile(seedConfig(t, pp))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "proxy.ios")
	os.WriteFile(cfg, append(base, "rotary proxy-protocol v2 pool ftp\nrotary proxy-protocol v2 static\n"...), 0o644)
	serve := start(t, "serve", []string{pp.ctlOn("127.0.0.1")}, "serve", "--listen", pp.ctlOn("127.0.0.1"), "--root", root,
		"--user", "u:p", "--public-ip", "127.0.0.2", "--passive-ports", pp.passive(), "--proxy-protocol-from", "127.0.0.1/32")
	gw := pp.ctlOn("127.0.0.2")
	start(t, "gateway", []string{gw}, "gateway", "--config", cfg, "--admin", "")

	if err := session(t, gw, "127.0.0.5", data); err != nil {
		t.Fatalf("session from 127.0.0.5 through the PROXY gateway: %v", err)
	}
	if !serve.out.WaitForText(5*time.Second, "client=127.0.0.5") {
		t.Fatalf("server log does not name the real client 127.0.0.5:\n%s", serve.out.String())
	}

	// A data connection from 127.0.0.6 to 127.0.0.5's passive port, through
	// the gateway, is refused; 127.0.0.5's own still works.
	c, err := dialFTP(t, gw, "127.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	ctl, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}).Dial("tcp", gw)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	ctl.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	readReply := func() string {
		var got string
		for !strings.Contains(got, "\r\n") {
			n, err := ctl.Read(buf)
			if err != nil {
				t.Fatalf("read: %v (%q)", err, got)
			}
			got += string(buf[:n])
		}
		return got
	}
	readReply()
	fmt.Fprintf(ctl, "USER u\r\n")
	readReply()
	fmt.Fprintf(ctl, "PASS p\r\n")
	readReply()
	fmt.Fprintf(ctl, "EPSV\r\n")
	reply := readReply()
	var port int
	if _, err := fmt.Sscanf(reply[strings.Index(reply, "(|||"):], "(|||%d|)", &port); err != nil {
		t.Fatalf("EPSV reply %q", reply)
	}
	thief, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.6")}}).Dial("tcp", fmt.Sprintf("127.0.0.2:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	own, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}).Dial("tcp", fmt.Sprintf("127.0.0.2:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	own.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(ctl, "RETR file.bin\r\n")
	if r := readReply(); !strings.HasPrefix(r, "150") {
		t.Fatalf("RETR: %q", r)
	}
	got, _ := io.ReadAll(own)
	if !bytes.Equal(got, data) {
		t.Fatalf("own data connection got %d bytes", len(got))
	}
	// The thief's connection came first; the transfer's accept refused it
	// on the way to its own.
	thief.SetDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(thief); len(b) != 0 || os.IsTimeout(err) {
		t.Fatalf("127.0.0.6's data connection: %d bytes, %v; want it closed without data", len(b), err)
	}
	if !serve.out.WaitForText(5*time.Second, "127.0.0.6") {
		t.Errorf("refused data connection from 127.0.0.6 not logged")
	}
}
