package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildRotary builds the binary once per test run: scripts/test.sh builds
// it once for every package (ROTARY_BIN); alone, this package builds its own.
func buildRotary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if builtBin = os.Getenv("ROTARY_BIN"); builtBin != "" {
			return
		}
		dir, err := os.MkdirTemp("", "rotary-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "rotary")
		if runtime.GOOS == "windows" {
			builtBin += ".exe"
		}
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// passivePorts hands each test server of this package its own passive
// range, in a block (15000-17999) that other packages' tests do not use,
// below Linux's ephemeral range (32768-60999), where outgoing connections
// would take ports from under the tests.
var nextPassive = 15000 + (os.Getpid()%20)*150

func passivePorts(n int) (lo, hi int) {
	lo = nextPassive
	nextPassive += n
	return lo, lo + n - 1
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestServeBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGTERM")
	}
	bin := buildRotary(t)

	t.Run("flag errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"serve", "--passive-ports", "6000-5000"},
			{"serve", "--passive-ip-override", "10.0.0.0/8"},
			{"serve", "--user", "nopassword"},
			{"serve", "--listen", "127.0.0.1:99999"},
			{"serve", "stray"},
			{"nonsense"},
		} {
			cmd := exec.Command(bin, args...)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Errorf("rotary %v: %v, want exit status 2\n%s", args, err, out)
			}
			if len(bytes.TrimSpace(out)) == 0 {
				t.Errorf("rotary %v: no message", args)
			}
		}
	})

	t.Run("help", func(t *testing.T) {
		out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("--help: %v", err)
		}
		for _, f := range []string{"-listen", "-root", "-user", "-anonymous", "-passive-ports", "-public-ip", "-passive-ip-override", "-idle-timeout", "-max-conns", "-max-conns-per-ip"} {
			if !strings.Contains(string(out), f) {
				t.Errorf("--help lacks %s", f)
			}
		}
	})

	t.Run("generated user and graceful stop", func(t *testing.T) {
		dir := t.TempDir()
		port := freePort(t)
		lo, hi := passivePorts(10)
		cmd := exec.Command(bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--passive-ports", fmt.Sprintf("%d-%d", lo, hi))
		cmd.Dir = dir
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("reading the password line: %v", err)
		}
		m := regexp.MustCompile(`user "rotary" with password (\S+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no generated password in %q", line)
		}
		var c *ftpc.ServerConn
		for i := 0; i < 50; i++ {
			if c, err = ftpc.Dial(fmt.Sprintf("127.0.0.1:%d", port), ftpc.DialWithTimeout(2*time.Second)); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if err := c.Login("rotary", m[1]); err != nil {
			t.Fatalf("login with the printed password: %v", err)
		}
		if err := c.Stor("hello.txt", strings.NewReader("hi")); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "ftproot", "hello.txt")); err != nil || string(b) != "hi" {
			t.Fatalf("default root ./ftproot: %q, %v", b, err)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no exit within 10 s of SIGTERM")
		}
		if err := c.NoOp(); err == nil {
			t.Fatal("session still alive after shutdown")
		}
		logs := stderr.String()
		for _, want := range []string{"session opened", "login", "msg=transfer", "result=ok", "shutting down", "stopped"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		}
	})
}
