// Package s3test runs a real S3 server, MinIO, for the tests of the S3
// driver and of what is built on it. The server is started at the first
// Require of a test binary, on 127.0.0.1 with free ports and a temporary
// data folder, and stopped (by its PID) by Main, from the package's
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }
//
// The MinIO binary is ROTARY_MINIO, or ${ROTARY_CACHE:-$HOME/.cache/rotary}/bin/minio,
// which scripts/install-minio.sh builds. Without it the tests that
// Require it fail, saying so; with ROTARY_SKIP_S3=1 they skip instead.
// They never pass without having run.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The server's credentials and the bucket Require creates.
const (
	AccessKey = "rotarytest"
	SecretKey = "rotarytest-secret-key"
	Bucket    = "rotary-test"
)

// startTimeout bounds MinIO's start (under a second on an idle machine).
const startTimeout = 60 * time.Second

// ErrNotInstalled is the error of a machine without the MinIO binary.
var ErrNotInstalled = errors.New("MinIO is not installed")

// Server is a running MinIO.
type Server struct {
	// Endpoint is its S3 address, 127.0.0.1:PORT (plain http).
	Endpoint string
	// StartTime is how long it took to answer its health check.
	StartTime time.Duration

	cmd  *exec.Cmd
	dir  string
	logs string
	exit chan error
	n    atomic.Int64
}

// Binary finds the MinIO binary: $ROTARY_MINIO, else the cache path that
// scripts/install-minio.sh builds.
func Binary() (string, error) {
	if p := os.Getenv("ROTARY_MINIO"); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return "", fmt.Errorf("%w: ROTARY_MINIO=%s is not a file (unset it to use the one scripts/install-minio.sh builds)", ErrNotInstalled, p)
		}
		return p, nil
	}
	cache := os.Getenv("ROTARY_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%w: no home folder for the cache (%v); set ROTARY_MINIO", ErrNotInstalled, err)
		}
		cache = filepath.Join(home, ".cache", "rotary")
	}
	name := "minio"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	p := filepath.Join(cache, "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w at %s: run scripts/install-minio.sh to build it there, or set ROTARY_MINIO to a minio binary", ErrNotInstalled, p)
	}
	return p, nil
}

// Start starts a MinIO server of its own and creates Bucket on it.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a port taken between choosing it and MinIO binding it
		s, err := start(bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "rotary-minio-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{Endpoint: "127.0.0.1:" + strconv.Itoa(ports[0]), dir: dir, logs: filepath.Join(dir, "minio.log"), exit: make(chan error, 1)}
	logf, err := os.Create(s.logs)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "server", "--quiet",
		"--address", s.Endpoint, "--console-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--certs-dir", filepath.Join(dir, "certs"), filepath.Join(dir, "data"))
	s.cmd.Env = append(cleanEnv(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off", "HOME="+dir)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	setDeathSignal(s.cmd)
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start MinIO %s: %w", bin, err)
	}
	go func() { s.exit <- s.cmd.Wait() }()
	if err := s.waitLive(); err != nil {
		s.Stop()
		return nil, err
	}
	s.StartTime = time.Since(began)
	if err := s.makeBucket(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// cleanEnv is the environment without settings of a MinIO or AWS the
// developer may have, which would change the test server.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (s *Server) waitLive() error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-s.exit:
			s.exit <- err
			return fmt.Errorf("MinIO exited at start (%v): %s", err, s.logTail())
		default:
		}
		resp, err := client.Get("http://" + s.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("MinIO not live after %v: %s", startTimeout, s.logTail())
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logs)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Core is a client of the server, for tests that look at the bucket
// directly.
func (s *Server) Core() *minio.Core {
	c, err := minio.NewCore(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		panic(err) // only a malformed endpoint fails, and ours is not
	}
	return c
}

func (s *Server) makeBucket() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Core().MakeBucket(ctx, Bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		return fmt.Errorf("create bucket %s on MinIO: %w", Bucket, err)
	}
	return nil
}

// Prefix returns a key prefix ("t/NAME-N/") no other test of this binary
// uses, so that tests share the server and see only their own keys.
func (s *Server) Prefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	return fmt.Sprintf("t/%s-%d/", name, s.n.Add(1))
}

// Stop ends the server (SIGTERM to its PID, SIGKILL after 5 s) and
// removes its data folder.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		if err := s.cmd.Process.Signal(terminate); err != nil {
			s.cmd.Process.Kill()
		}
		select {
		case err := <-s.exit:
			s.exit <- err
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exit
		}
	}
	return os.RemoveAll(s.dir)
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Require returns the test binary's MinIO, starting it at the first call.
// Without MinIO the test fails with the reason and how to get it, or,
// with ROTARY_SKIP_S3=1, skips with it.
func Require(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		shared.srv, shared.err = Start()
		if shared.err == nil {
			fmt.Fprintf(os.Stderr, "s3test: MinIO on %s, live after %v\n", shared.srv.Endpoint, shared.srv.StartTime.Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		if errors.Is(shared.err, ErrNotInstalled) && os.Getenv("ROTARY_SKIP_S3") == "1" {
			t.Skipf("S3 tests skipped (ROTARY_SKIP_S3=1): %v", shared.err)
		}
		t.Fatalf("this test needs a MinIO server: %v (ROTARY_SKIP_S3=1 skips the S3 tests when MinIO is not installed)", shared.err)
	}
	return shared.srv
}

// Main runs the tests and stops the MinIO that Require started. Use it as
// TestMain's body: os.Exit(s3test.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "s3test: stopping MinIO: %v\n", err)
		}
	}
	return code
}

// PID is the server's process ID (benchmarks read its CPU time).
func (s *Server) PID() int { return s.cmd.Process.Pid }
