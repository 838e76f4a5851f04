package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

// server is a running `rotary serve` for a test.
type server struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	addr string
	done chan error
}

func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("uses signals")
	}
	s := &server{out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(buildRotary(t), append([]string{"serve"}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("server output:\n%s", s.out.String())
		}
	})
	for i := 0; i < 100; i++ {
		for _, a := range strings.Split(s.out.String(), "\n") {
			if _, rest, ok := strings.Cut(a, "msg=listening addr="); ok {
				s.addr, _, _ = strings.Cut(rest, " ")
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("rotary serve exited: %v\n%s", err, s.out.String())
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("rotary serve did not start:\n%s", s.out.String())
	return nil
}

func (s *server) login(t *testing.T, user, pass, from string) (*ftpc.ServerConn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := ftpc.Dial(s.addr, ftpc.DialWithDialer(d), ftpc.DialWithTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, pass); err != nil {
		c.Quit()
		return nil, err
	}
	t.Cleanup(func() { c.Quit() })
	return c, nil
}

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func is550(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code == 550
}

// TestUsersAndRights: real clients log in as users with different rights;
// each forbidden operation gets 550 and each allowed one succeeds. Every
// transfer lands in the xferlog.
func TestUsersAndRights(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"alice", "bob", "carol", "pub"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
		write(t, filepath.Join(dir, d, "readme.txt"), "hello "+d)
	}
	write(t, filepath.Join(dir, "users.toml"), fmt.Sprintf(`# test users
[users.alice]
password = %q
home = "alice"

[users.bob]
password = %q
home = "bob"
perms = "list,read"

[users.carol]
password = %q
home = "carol"
perms = ["list", "read", "write"]
`, hash(t, "a-pass"), hash(t, "b-pass"), hash(t, "c-pass")))
	pp, _ := passivePorts(21)
	write(t, filepath.Join(dir, "rotary.toml"), fmt.Sprintf(`listen = ["127.0.0.1:0"]
users-file = "users.toml"
anonymous = true
anonymous-root = "pub"
passive-ports = "%d-%d"
xferlog-file = "xferlog"
admin-listen = ""
login-fail-delay = "10ms"
`, pp, pp+20))
	s := startServe(t, "--config", filepath.Join(dir, "rotary.toml"))

	type op struct {
		name string
		do   func(c *ftpc.ServerConn) error
	}
	ops := []op{
		{"list", func(c *ftpc.ServerConn) error { _, err := c.List("/"); return err }},
		{"read", func(c *ftpc.ServerConn) error {
			r, err := c.Retr("readme.txt")
			if err == nil {
				io.Copy(io.Discard, r)
				r.Close()
			}
			return err
		}},
		{"write", func(c *ftpc.ServerConn) error { return c.Stor("new.txt", strings.NewReader("new")) }},
		{"rename", func(c *ftpc.ServerConn) error { return c.Rename("readme.txt", "renamed.txt") }},
		{"mkdir", func(c *ftpc.ServerConn) error { return c.MakeDir("sub") }},
		{"delete", func(c *ftpc.ServerConn) error { return c.Delete("new.txt") }},
	}
	allowed := map[string]map[string]bool{
		"alice":     {"list": true, "read": true, "write": true, "rename": true, "mkdir": true, "delete": true},
		"bob":       {"list": true, "read": true},
		"carol":     {"list": true, "read": true, "write": true},
		"anonymous": {"list": true, "read": true},
	}
	pass := map[string]string{"alice": "a-pass", "bob": "b-pass", "carol": "c-pass", "anonymous": "me@example.org"}
	for _, user := range []string{"alice", "bob", "carol", "anonymous"} {
		c, err := s.login(t, user, pass[user], "")
		if err != nil {
			t.Fatalf("%s: login: %v", user, err)
		}
		for _, o := range ops {
			err := o.do(c)
			switch {
			case allowed[user][o.name] && err != nil:
				t.Errorf("%s %s: %v, want success", user, o.name, err)
			case !allowed[user][o.name] && !is550(err):
				t.Errorf("%s %s: %v, want 550", user, o.name, err)
			}
		}
	}
	if _, err := s.login(t, "bob", "wrong", ""); err == nil {
		t.Fatal("wrong password accepted")
	}
	// Each user is confined to their own home.
	if _, err := os.Stat(filepath.Join(dir, "alice", "sub")); err != nil {
		t.Errorf("alice's mkdir not in her home: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "carol", "new.txt")); err != nil {
		t.Errorf("carol's upload not in her home: %v", err)
	}
	// The xferlog line is written after the 226; wait for all of them.
	var xl []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		xl, _ = os.ReadFile(filepath.Join(dir, "xferlog"))
		if strings.Count(string(xl), "\n") >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("xferlog has %d lines:\n%s", strings.Count(string(xl), "\n"), xl)
		}
	}
	if !strings.Contains(string(xl), " /new.txt b _ i r carol ftp 0 * c") || !strings.Contains(string(xl), " /readme.txt b _ o a anonymous ftp 0 * c") {
		t.Errorf("xferlog lines:\n%s", xl)
	}
}

// TestBruteForceBan: a password guesser from 127.0.0.5 is banned while
// 127.0.0.6 still logs in; rotary ban list shows the ban and ban del lifts it.
func TestBruteForceBan(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.x loopback addresses")
	}
	dir := t.TempDir()
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pp, _ := passivePorts(6)
	s := startServe(t, "--listen", "127.0.0.1:0", "--root", dir, "--user", "u:right", "--passive-ports", fmt.Sprintf("%d-%d", pp, pp+5),
		"--ban-after", "4", "--ban-window", "1m", "--ban-for", "1h", "--login-fail-delay", "10ms", "--admin-listen", admin)
	banned := false
	for i := 0; i < 10 && !banned; i++ {
		_, err := s.login(t, "u", fmt.Sprintf("guess%d", i), "127.0.0.5")
		if err == nil {
			t.Fatal("a guess logged in")
		}
		banned = strings.Contains(err.Error(), "421")
	}
	if !banned {
		t.Fatalf("10 bad logins from 127.0.0.5 did not end in a 421 ban")
	}
	if _, err := s.login(t, "u", "right", "127.0.0.5"); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("banned address logged in or got %v", err)
	}
	if _, err := s.login(t, "u", "right", "127.0.0.6"); err != nil {
		t.Fatalf("127.0.0.6 cannot log in while 127.0.0.5 is banned: %v", err)
	}
	if !s.out.WaitForText(5*time.Second, "address banned") {
		t.Error("ban not logged")
	}
	out, err := exec.Command(buildRotary(t), "ban", "list", "--admin", admin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "127.0.0.5") {
		t.Fatalf("rotary ban list: %v\n%s", err, out)
	}
	if out, err := exec.Command(buildRotary(t), "ban", "del", "127.0.0.5", "--admin", admin).CombinedOutput(); err != nil {
		t.Fatalf("rotary ban del: %v\n%s", err, out)
	}
	if _, err := s.login(t, "u", "right", "127.0.0.5"); err != nil {
		t.Fatalf("after ban del: %v", err)
	}
	if out, _ := exec.Command(buildRotary(t), "ban", "list", "--admin", admin).CombinedOutput(); !strings.Contains(string(out), "no bans") {
		t.Fatalf("ban list after del: %s", out)
	}
}

// TestReloadOnSIGHUP: a broken config is refused and the server keeps
// serving; a good one is applied without dropping the running session.
func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "home"), 0o755)
	users := filepath.Join(dir, "users.toml")
	write(t, users, fmt.Sprintf("[users.alice]\npassword = %q\nhome = \"home\"\n", hash(t, "a")))
	cfg := filepath.Join(dir, "rotary.toml")
	pp, _ := passivePorts(10)
	good := fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nusers-file = \"users.toml\"\npassive-ports = \"%d-%d\"\nadmin-listen = \"\"\n", pp, pp+9)
	write(t, cfg, good)
	s := startServe(t, "--config", cfg)
	alice, err := s.login(t, "alice", "a", "")
	if err != nil {
		t.Fatal(err)
	}
	hup := func() { s.cmd.Process.Signal(syscall.SIGHUP) }

	write(t, cfg, good+"passive-ports = \"9-1\"\n") // broken: duplicate key
	hup()
	if !s.out.WaitForText(5*time.Second, "reload refused") {
		t.Fatalf("broken config not refused:\n%s", s.out.String())
	}
	write(t, cfg, good+"max-conns = \"lots\"\n")
	hup()
	s.out.WaitFor(5*time.Second, func(out string) bool { return strings.Count(out, "reload refused") >= 2 })
	if n := strings.Count(s.out.String(), "reload refused"); n != 2 {
		t.Fatalf("%d refusals, want 2", n)
	}
	if err := alice.NoOp(); err != nil {
		t.Fatalf("running session dropped by a refused reload: %v", err)
	}
	if _, err := s.login(t, "alice", "a", ""); err != nil {
		t.Fatalf("new login after a refused reload: %v", err)
	}

	// A good change: bob is added to the users file.
	write(t, users, fmt.Sprintf("[users.alice]\npassword = %q\nhome = \"home\"\n\n[users.bob]\npassword = %q\nhome = \"home\"\n", hash(t, "a"), hash(t, "b")))
	write(t, cfg, good)
	hup()
	if !s.out.WaitForText(5*time.Second, "configuration reloaded") {
		t.Fatalf("good config not reloaded:\n%s", s.out.String())
	}
	if _, err := s.login(t, "bob", "b", ""); err != nil {
		t.Fatalf("bob after reload: %v", err)
	}
	if err := alice.Stor("still-here.txt", strings.NewReader("x")); err != nil {
		t.Fatalf("alice's session after reload: %v", err)
	}
}

func TestCheck(t *testing.T) {
	bin := buildRotary(t)
	dir := t.TempDir()
	ctl := freePort(t)
	pp, _ := passivePorts(5)
	cfg := filepath.Join(dir, "rotary.toml")
	write(t, cfg, fmt.Sprintf("listen = [\"127.0.0.1:%d\"]\npassive-ports = \"%d-%d\"\nadmin-listen = \"\"\n", ctl, pp, pp+4))
	run := func() (int, string) {
		out, err := exec.Command(bin, "check", "--config", cfg).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, string(out)
	}
	if code, out := run(); code != 0 {
		t.Fatalf("good config: exit %d\n%s", code, out)
	}
	// Occupy the control port and one passive port.
	l1, _ := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ctl))
	defer l1.Close()
	l2, _ := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", pp+2))
	defer l2.Close()
	code, out := run()
	if code != 1 || !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", ctl)) || !strings.Contains(out, fmt.Sprint(pp+2)) {
		t.Fatalf("ports in use: exit %d\n%s", code, out)
	}
	write(t, cfg, "listen = [\"127.0.0.1:0\"]\n\npassive-ports = \"6000-5000\"\n")
	code, out = run()
	if code != 2 || !strings.Contains(out, "rotary.toml:3: passive-ports: 6000-5000: low end above high end") {
		t.Fatalf("bad config: exit %d\n%s", code, out)
	}
}

var _ = bufio.NewReader

// TestJSONLogs: log-format json makes every log line a JSON object.
func TestJSONLogs(t *testing.T) {
	dir := t.TempDir()
	lo, hi := passivePorts(4)
	s := startServeJSON(t, "--listen", "127.0.0.1:0", "--root", dir, "--user", "u:p", "--passive-ports", fmt.Sprintf("%d-%d", lo, hi),
		"--log-format", "json", "--admin-listen", "")
	c, err := s.login(t, "u", "p", "")
	if err != nil {
		t.Fatal(err)
	}
	c.Quit()
	if !s.out.WaitForText(5*time.Second, `"msg":"session closed"`) {
		t.Fatalf("no session closed line:\n%s", s.out.String())
	}
	lines := strings.Split(strings.TrimSpace(s.out.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("only %d log lines", len(lines))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		if m["msg"] == nil || m["level"] == nil {
			t.Fatalf("JSON line without msg/level: %q", l)
		}
		// Durations are seconds (README "Logs"), not slog's nanoseconds.
		if m["msg"] == "session closed" {
			if d, ok := m["duration"].(float64); !ok || d < 0 || d > 60 {
				t.Fatalf("session closed duration %#v, want seconds (0 <= d <= 60): %q", m["duration"], l)
			}
		}
	}
	if !strings.Contains(s.out.String(), `"msg":"login"`) {
		t.Fatalf("no login line:\n%s", s.out.String())
	}
}

// startServeJSON is startServe for JSON logs (the listening address is in
// an "addr" field).
func startServeJSON(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(buildRotary(t), append([]string{"serve"}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	for i := 0; i < 100 && s.addr == ""; i++ {
		for _, l := range strings.Split(s.out.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "listening" {
				s.addr, _ = m["addr"].(string)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s.addr == "" {
		t.Fatalf("no listening line:\n%s", s.out.String())
	}
	return s
}
