package ftp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/ftptest"
	"github.com/rotary-ftp/rotary/internal/proxyheader"
)

// dialViaProxy connects from gateway (a trusted local address) and sends a
// PROXY v2 header naming client.
func dialViaProxy(t *testing.T, addr, gateway, client string) net.Conn {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(gateway)}, Timeout: 5 * time.Second}).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := net.ResolveTCPAddr("tcp", client)
	h := proxyproto.HeaderProxyFromAddrs(2, src, c.RemoteAddr())
	if _, err := h.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProxyProtocol(t *testing.T) {
	trust, _ := proxyheader.ParseTrust([]string{"127.0.0.2"})
	ts := startServer(t, 4, func(s *ftp.Server) {
		s.ProxyFrom = trust
		s.Passive.ClientAddr = trust.DataConnHook(2 * time.Second)
		s.MaxConnsPerIP = 1
		s.ProxyHeaderTimeout = 500 * time.Millisecond
	})
	writeFile(t, filepath.Join(ts.root, "x.txt"), []byte("via gateway"))

	c := dialViaProxy(t, ts.addr, "127.0.0.2", "127.0.0.5:40000")
	r := ftptest.Wrap(t, c)
	r.Expect(220)
	r.Login("u", "p")
	msg := r.Must(229, "EPSV")
	var port int
	fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port)
	dataAddr := fmt.Sprintf("127.0.0.1:%d", port)

	// A data connection through the gateway for another client is refused
	// (when the transfer's accept comes to it, first in the queue).
	thief := dialViaProxy(t, dataAddr, "127.0.0.2", "127.0.0.6:40001")
	// The client's own, through the gateway, is accepted.
	d := dialViaProxy(t, dataAddr, "127.0.0.2", "127.0.0.5:40002")
	r.Must(150, "RETR x.txt")
	got, _ := io.ReadAll(d)
	r.Expect(226)
	if string(got) != "via gateway" {
		t.Fatalf("got %q", got)
	}
	thief.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(thief); len(b) != 0 || os.IsTimeout(err) {
		t.Fatalf("data for another client IP delivered: %q, %v; want the connection closed", b, err)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "client=127.0.0.5") {
		t.Errorf("log does not name the real client 127.0.0.5:\n%s", logs)
	}
	if !strings.Contains(logs, "refused") && !strings.Contains(logs, "127.0.0.6") {
		t.Errorf("refused data connection from 127.0.0.6 not logged")
	}
	// Limits apply to the real client: a second session for 127.0.0.5 is
	// refused, one for 127.0.0.7 is not.
	c2 := dialViaProxy(t, ts.addr, "127.0.0.2", "127.0.0.5:40003")
	if line, _ := io.ReadAll(c2); !strings.HasPrefix(string(line), "421 ") {
		t.Fatalf("second session of 127.0.0.5: %q, want 421", line)
	}
	c3 := dialViaProxy(t, ts.addr, "127.0.0.2", "127.0.0.7:40004")
	r3 := ftptest.Wrap(t, c3)
	r3.Expect(220)

	// A trusted peer that sends no header is dropped; an untrusted peer's
	// header is not read (it is a bad command).
	bad, _ := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).Dial("tcp", ts.addr)
	defer bad.Close()
	bad.Write([]byte("USER u\r\n"))
	bad.SetDeadline(time.Now().Add(15 * time.Second))
	if b, _ := io.ReadAll(bad); len(b) != 0 {
		t.Fatalf("trusted peer without header got %q", b)
	}
	spoof := dialViaProxy(t, ts.addr, "127.0.0.3", "127.0.0.99:1")
	rs := ftptest.Wrap(t, spoof)
	rs.Expect(220)
	if code, _ := rs.Cmd("NOOP"); code != 500 {
		t.Fatalf("after a spoofed header NOOP got %d, want 500 for the header line", code)
	}
}

func TestConnFilter(t *testing.T) {
	ts := startServer(t, 2, func(s *ftp.Server) {
		s.ConnFilter = func(c ftp.ConnInfo) error {
			if c.Client.Addr() == netip.MustParseAddr("127.0.0.5") {
				return errors.New("Your address is banned")
			}
			return nil
		}
	})
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 5)}}).Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, _ := io.ReadAll(c); string(line) != "421 Your address is banned\r\n" {
		t.Fatalf("filtered connection got %q", line)
	}
	r := dialRaw(t, ts.addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 6)})
	r.Login("u", "p")
	// Filtered connections do not count against the limits. The refused
	// session's goroutine may still be ending after its close.
	waitFor(t, "the refused session to end", func() bool { return ts.srv.SessionCount() == 1 })
}

func TestDataTimeoutEndsStalledTransfer(t *testing.T) {
	ts := startServer(t, 2, func(s *ftp.Server) { s.DataTimeout = 300 * time.Millisecond })
	r := ts.raw(t)
	r.Login("u", "p")
	// A client that stops reading: the server's writes stall.
	d := startBigTransfer(t, ts, r)
	_ = d
	if code, msg := r.Read(); code != 426 || !strings.Contains(msg, "timed out") {
		t.Fatalf("stalled download: %d %q, want 426 timed out", code, msg)
	}
	// An upload whose client sends nothing more.
	d2 := r.EPSV()
	r.Must(150, "STOR slow.bin")
	d2.Write([]byte("a little"))
	if code, _ := r.Read(); code != 426 {
		t.Fatalf("stalled upload: %d, want 426", code)
	}
	if _, err := os.Stat(filepath.Join(ts.root, "slow.bin")); err == nil {
		t.Fatal("stalled upload was committed")
	}
	if !strings.Contains(ts.logs.String(), "result=stalled") {
		t.Error("stall not logged")
	}
}

func TestRateLimitAndTransferLog(t *testing.T) {
	var mu sync.Mutex
	var records []ftp.TransferRecord
	ts := startServer(t, 4, func(s *ftp.Server) {
		s.TransferLog = func(r ftp.TransferRecord) {
			mu.Lock()
			records = append(records, r)
			mu.Unlock()
		}
	})
	ts.backend.wrapAcct = func(a *ftp.Account) { a.DownloadRate, a.UploadRate = 400<<10, 400<<10 }
	data := randomBytes(200 << 10)
	writeFile(t, filepath.Join(ts.root, "r.bin"), data)
	r := ts.raw(t)
	r.Login("u", "p")
	start := time.Now()
	d := r.EPSV()
	r.Must(150, "RETR r.bin")
	got, _ := io.ReadAll(d)
	r.Expect(226)
	if !bytes.Equal(got, data) {
		t.Fatal("throttled download corrupted")
	}
	d = r.EPSV()
	r.Must(150, "STOR w.bin")
	d.Write(data)
	d.Close()
	r.Expect(226)
	// 400 KiB of data at 400 KiB/s each way, less the first burst: a
	// throttle that works cannot be faster than this (slower is fine).
	if el := time.Since(start); el < 700*time.Millisecond {
		t.Fatalf("200 KiB down and up at 400 KiB/s took only %v", el)
	}
	if w, _ := os.ReadFile(filepath.Join(ts.root, "w.bin")); !bytes.Equal(w, data) {
		t.Fatal("throttled upload corrupted")
	}
	d = r.EPSV()
	r.Must(150, "LIST")
	io.ReadAll(d)
	r.Expect(226)
	mu.Lock()
	defer mu.Unlock()
	if len(records) != 2 {
		t.Fatalf("%d transfer records, want 2 (listings are not logged): %+v", len(records), records)
	}
	if rec := records[0]; rec.Path != "/r.bin" || rec.Upload || rec.Bytes != int64(len(data)) || !rec.Complete || rec.User != "u" || rec.Client.String() != "127.0.0.1" {
		t.Errorf("download record %+v", rec)
	}
	if rec := records[1]; rec.Path != "/w.bin" || !rec.Upload || !rec.Complete {
		t.Errorf("upload record %+v", rec)
	}
}

func TestUpdateChangesLimitsLive(t *testing.T) {
	ts := startServer(t, 2, nil)
	a := ts.raw(t)
	a.Login("u", "p")
	ts.srv.Update(func(s *ftp.Server) { s.MaxConns = 1 })
	c, _ := net.Dial("tcp", ts.addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, _ := io.ReadAll(c); !strings.HasPrefix(string(line), "421 ") {
		t.Fatalf("after Update(MaxConns=1) a second session got %q", line)
	}
	a.Must(200, "NOOP") // the running session is untouched
}

func TestLoginRefusedTellsTheReason(t *testing.T) {
	ts := startServer(t, 2, nil)
	inner := ts.srv.Backend
	ts.srv.Update(func(s *ftp.Server) { s.Backend = refusingBackend{inner} })
	r := ts.raw(t)
	r.Must(331, "USER u")
	if msg := r.Must(530, "PASS p"); msg != "Sorry, the maximum number of sessions (1) for this user are already connected" {
		t.Fatalf("530 text %q", msg)
	}
	// A refusal is not a failed password: three of them do not hang up.
	for i := 0; i < 3; i++ {
		r.Must(331, "USER u")
		r.Must(530, "PASS p")
	}
	r.Must(200, "NOOP")
}

type refusingBackend struct{ ftp.Backend }

func (refusingBackend) Login(ctx context.Context, c ftp.ConnInfo, user, pass string) (*ftp.Account, error) {
	return nil, &ftp.LoginRefused{Reason: "Sorry, the maximum number of sessions (1) for this user are already connected"}
}

// dialViaProxyTLV is dialViaProxy with one TLV in the header.
func dialViaProxyTLV(t *testing.T, addr, gateway, client string, tlv proxyproto.TLV) net.Conn {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(gateway)}, Timeout: 5 * time.Second}).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := net.ResolveTCPAddr("tcp", client)
	h := proxyproto.HeaderProxyFromAddrs(2, src, c.RemoteAddr())
	if err := h.SetTLVs([]proxyproto.TLV{tlv}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// TestProxyCoordinationTLV: a session whose trusted gateway sends Rotary's
// coordination TLV takes its passive ports from the slice and announces the
// public address; a malformed TLV closes the connection with a log line; an
// untrusted peer's header, TLV and all, is not read.
func TestProxyCoordinationTLV(t *testing.T) {
	trust, _ := proxyheader.ParseTrust([]string{"127.0.0.2"})
	ts := startServer(t, 10, func(s *ftp.Server) {
		s.ProxyFrom = trust
		s.Passive.ClientAddr = trust.DataConnHook(2 * time.Second)
		s.ProxyHeaderTimeout = 2 * time.Second
	})
	rng := ts.srv.Passive.Range()
	lo, hi := uint16(rng.Hi-2), uint16(rng.Hi) // the slice: the range's last three ports
	co := proxyheader.Coordination{Lo: lo, Hi: hi, Public: netip.MustParseAddr("203.0.113.9")}
	for i := range 4 { // more sessions than the slice has ports: each still lands in it
		r := ftptest.Wrap(t, dialViaProxyTLV(t, ts.addr, "127.0.0.2", fmt.Sprintf("127.0.0.5:%d", 41000+i), co.TLV()))
		r.Expect(220)
		r.Login("u", "p")
		msg := r.Must(227, "PASV")
		var a, b, c, d, p1, p2 int
		fmt.Sscanf(msg[strings.Index(msg, "(")+1:], "%d,%d,%d,%d,%d,%d", &a, &b, &c, &d, &p1, &p2)
		if got := fmt.Sprintf("%d.%d.%d.%d", a, b, c, d); got != "203.0.113.9" {
			t.Fatalf("PASV announced %s, want the coordinated public address: %s", got, msg)
		}
		if port := uint16(p1*256 + p2); port < lo || port > hi {
			t.Fatalf("PASV port %d outside the slice %d-%d", port, lo, hi)
		}
		msg = r.Must(229, "EPSV")
		var port uint16
		fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port)
		if port < lo || port > hi {
			t.Fatalf("EPSV port %d outside the slice %d-%d", port, lo, hi)
		}
		r.Must(221, "QUIT")
	}
	// Malformed: version 9.
	bad := dialViaProxyTLV(t, ts.addr, "127.0.0.2", "127.0.0.5:41100",
		proxyproto.TLV{Type: proxyproto.PP2Type(proxyheader.TypeRotaryCoordinate), Value: []byte{9, 0, 1, 0, 2, 0}})
	if b, _ := io.ReadAll(bad); len(b) != 0 {
		t.Fatalf("a malformed coordination TLV got %q, want the connection closed", b)
	}
	waitFor(t, "the malformed TLV's log line", func() bool {
		return strings.Contains(ts.logs.String(), "PROXY header from trusted peer rejected")
	})
	// Untrusted: the header is a bad command, the TLV is never parsed.
	spoof := ftptest.Wrap(t, dialViaProxyTLV(t, ts.addr, "127.0.0.3", "127.0.0.99:1", co.TLV()))
	spoof.Expect(220)
	if code, _ := spoof.Cmd("NOOP"); code != 500 {
		t.Fatalf("after an untrusted header NOOP got %d, want 500 for the header line", code)
	}
}
