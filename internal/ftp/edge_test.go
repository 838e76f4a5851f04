package ftp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/ftpclient"
	"github.com/rotary-ftp/rotary/internal/storage"
)

// fullDisk is a driver whose uploads fail with ENOSPC after limit bytes.
type fullDisk struct {
	storage.Driver
	limit int64
}

func (d fullDisk) Create(ctx context.Context, name string, mode storage.CreateMode, offset int64) (storage.Upload, error) {
	up, err := d.Driver.Create(ctx, name, mode, offset)
	if err != nil {
		return nil, err
	}
	return &fullUpload{Upload: up, left: d.limit}, nil
}

type fullUpload struct {
	storage.Upload
	left int64
}

func (u *fullUpload) Write(p []byte) (int, error) {
	if int64(len(p)) > u.left {
		n, _ := u.Upload.Write(p[:u.left])
		u.left = 0
		return n, &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	}
	u.left -= int64(len(p))
	return u.Upload.Write(p)
}

func (u *fullUpload) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{u}, r)
}

func TestDiskFull(t *testing.T) {
	ts := startServer(t, 4, nil)
	ts.backend.wrap = func(d storage.Driver) storage.Driver { return fullDisk{Driver: d, limit: 1000} }
	target := filepath.Join(ts.root, "f.txt")
	writeFile(t, target, []byte("old"))
	r := ts.raw(t)
	r.Login("u", "p")
	d := r.EPSV()
	r.Must(150, "STOR f.txt")
	d.Write(bytes.Repeat([]byte("x"), 100000))
	d.Close()
	if code, msg := r.Read(); code != 452 {
		t.Fatalf("upload to a full disk: %d %q, want 452", code, msg)
	}
	if got, _ := os.ReadFile(target); string(got) != "old" {
		t.Fatalf("file after failed upload: %q", truncate(string(got)))
	}
	if entries, _ := os.ReadDir(ts.root); len(entries) != 1 {
		t.Fatalf("%d entries in root after failed upload, want 1", len(entries))
	}
	r.Must(200, "NOOP")
}

func TestIPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback")
	}
	l.Close()
	ts := startServer(t, 4, nil)
	// startServer listens on 127.0.0.1; serve [::1] with the same server too.
	l6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.Serve(l6)
	writeFile(t, filepath.Join(ts.root, "six.txt"), []byte("over IPv6"))
	r := dialRaw(t, l6.Addr().String(), nil)
	r.Login("u", "p")
	r.Must(425, "PASV") // 227 cannot carry an IPv6 address
	r.Must(522, "EPSV 1")
	d := r.EPSV()
	r.Must(150, "RETR six.txt")
	got, _ := io.ReadAll(d)
	r.Expect(226)
	if string(got) != "over IPv6" {
		t.Fatalf("EPSV over IPv6 got %q", got)
	}
	// EPRT |2| in active mode.
	al, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	r.Must(522, "PORT 127,0,0,1,200,1")
	r.Must(200, "EPRT |2|::1|%d|", al.Addr().(*net.TCPAddr).Port)
	r.Must(150, "RETR six.txt")
	c, err := al.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(c)
	c.Close()
	r.Expect(226)
	if string(got) != "over IPv6" {
		t.Fatalf("EPRT over IPv6 got %q", got)
	}
}

// TestPassiveAnnouncesPublicAddress: the 227 reply names the address
// PassiveAddress gives, while the listener binds the control connection's
// local address.
func TestPassiveAnnouncesPublicAddress(t *testing.T) {
	ts := startServer(t, 4, func(s *ftp.Server) {
		s.PassiveAddress = func(client, local netip.Addr) netip.Addr {
			if client == netip.MustParseAddr("127.0.0.7") {
				return local
			}
			return netip.MustParseAddr("127.0.0.2")
		}
	})
	r := ts.raw(t)
	r.Login("u", "p")
	msg := r.Must(227, "PASV")
	var h [4]int
	var p1, p2 int
	if _, err := fmt.Sscanf(msg[strings.Index(msg, "("):], "(%d,%d,%d,%d,%d,%d)", &h[0], &h[1], &h[2], &h[3], &p1, &p2); err != nil {
		t.Fatalf("parse %q: %v", msg, err)
	}
	if h != [4]int{127, 0, 0, 2} {
		t.Fatalf("227 names %v, want 127.0.0.2", h)
	}
	// The listener is on 127.0.0.1 (the control connection's local address), not 127.0.0.2.
	port := p1<<8 | p2
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.2:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatal("passive listener reachable on 127.0.0.2: it bound more than the local address")
	}
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		t.Fatalf("passive listener not on 127.0.0.1: %v", err)
	}
	c.Close()
	inside := dialRaw(t, ts.addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)})
	inside.Login("u", "p")
	if msg := inside.Must(227, "PASV"); !strings.Contains(msg, "(127,0,0,1,") {
		t.Fatalf("overridden client got %q, want the local address", msg)
	}
}

// TestPassiveAnnouncesPublicPort: 227 and 229 name the port PassivePort
// gives (a NAT that maps 6500+i to the local port), while the listener
// stays on the local port; a client PassivePort leaves alone is told the
// local port.
func TestPassiveAnnouncesPublicPort(t *testing.T) {
	var lo int
	ts := startServer(t, 4, func(s *ftp.Server) {
		lo = s.Passive.Range().Lo
		s.PassivePort = func(client netip.Addr, local int) int {
			if client == netip.MustParseAddr("127.0.0.7") {
				return local
			}
			return local - lo + 6500
		}
	})
	r := ts.raw(t)
	r.Login("u", "p")
	for _, cmd := range []string{"PASV", "EPSV"} {
		code, msg := r.Cmd("%s", cmd)
		var port int
		var err error
		switch code {
		case 227:
			port, err = ftpclient.ParsePASV(msg)
		case 229:
			_, err = fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port)
		default:
			t.Fatalf("%s: %d %s", cmd, code, msg)
		}
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if port < 6500 || port > 6503 {
			t.Fatalf("%s announced port %d, want 6500-6503 (%q)", cmd, port, msg)
		}
		// The listener is on the local port that maps to it.
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port-6500+lo), time.Second)
		if err != nil {
			t.Fatalf("%s: no listener on local port %d: %v", cmd, port-6500+lo, err)
		}
		c.Close()
	}
	inside := dialRaw(t, ts.addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)})
	inside.Login("u", "p")
	port, err := ftpclient.ParsePASV(inside.Must(227, "PASV"))
	if err != nil || port < lo || port > lo+3 {
		t.Fatalf("client left alone was told port %d (%v), want the local range %d-%d", port, err, lo, lo+3)
	}
}
