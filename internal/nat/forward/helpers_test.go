package forward

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Loopback addresses standing in for the two sides of the gateway.
var (
	outsideIP = netip.MustParseAddr("127.0.0.2")
	backendA  = netip.MustParseAddr("127.0.0.11")
	backendB  = netip.MustParseAddr("127.0.0.12")
)

// listenSame opens listeners on one port number shared by every address,
// as a rotary pool needs (it keeps the destination port).
func listenSame(tb testing.TB, addrs ...netip.Addr) (uint16, []*net.TCPListener) {
	tb.Helper()
	for try := 0; try < 50; try++ {
		first, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addrs[0], 0)))
		if err != nil {
			tb.Fatal(err)
		}
		port := uint16(first.Addr().(*net.TCPAddr).Port)
		lns := []*net.TCPListener{first}
		for _, a := range addrs[1:] {
			ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(addrs) {
			return port, lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	tb.Fatalf("no port free on all of %v", addrs)
	return 0, nil
}

// serveBackend accepts on ln until it is closed, running h per connection.
func serveBackend(tb testing.TB, ln *net.TCPListener, h func(c *net.TCPConn)) {
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				h(c)
			}()
		}
	}()
}

// echo sends back what it reads, then passes the FIN on.
func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

// hashSink reads to EOF and answers the hex SHA-256 of what it read.
func hashSink(c *net.TCPConn) {
	h := sha256.New()
	io.Copy(h, c)
	io.WriteString(c, hex.EncodeToString(h.Sum(nil)))
}

// identify answers its own address and closes.
func identify(c *net.TCPConn) {
	io.WriteString(c, c.LocalAddr().(*net.TCPAddr).IP.String())
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func startServer(tb testing.TB, r *Rules) *Server {
	tb.Helper()
	s := &Server{Logger: quietLog()}
	if err := s.Start(r); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func dial(tb testing.TB, ap netip.AddrPort) *net.TCPConn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", ap.String(), 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	return tc
}

// readAll reads to EOF; a reset counts as the end too (a refused flow).
func readAll(c net.Conn) string {
	b, _ := io.ReadAll(c)
	return string(b)
}

// roundTrip writes msg and reads one line-free reply of len(msg) bytes.
func roundTrip(tb testing.TB, c *net.TCPConn, msg string) {
	tb.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		tb.Fatalf("echo of %q: %v", msg, err)
	}
	if string(buf) != msg {
		tb.Fatalf("echo = %q, want %q", buf, msg)
	}
}

// refuses reports whether nothing accepts on ap any more.
func refuses(ap netip.AddrPort) bool {
	c, err := net.DialTimeout("tcp", ap.String(), time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// waitFor polls cond every 10 ms for at most d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}
