package ftp_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// The limits that used to be constants are Server fields.
func TestLimitsAreServerFields(t *testing.T) {
	ts := startServer(t, 2, func(s *ftp.Server) {
		s.MaxLoginFailures = 1
		s.MaxCommandErrors = 2
	})
	r := ts.raw(t)
	r.Must(331, "USER u")
	r.Must(421, "PASS wrong") // the first failure closes, with 1
	r = ts.raw(t)
	r.Must(500, "BOGUS")
	r.Must(421, "BOGUS") // the second error in a row closes, with 2
}

// An implicit FTPS listener whose connections cannot get TLS (FTPS turned
// off by a reload) closes them one by one and keeps accepting: it used to
// make Serve back off as if the listener failed.
func TestImplicitListenerWithoutTLSConfigKeepsAccepting(t *testing.T) {
	ts := startTLSServer(t, ftp.TLSOptions{}, nil)
	conf := ts.srv.TLSConfig
	ts.srv.Update(func(s *ftp.Server) { s.TLSConfig = nil })
	for i := 0; i < 5; i++ {
		c, err := net.DialTimeout("tcp", ts.implicitAddr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if n, err := io.Copy(io.Discard, c); n != 0 || err != nil {
			t.Fatalf("connection %d: read %d bytes, %v; want a plain close", i, n, err)
		}
		c.Close()
	}
	ts.srv.Update(func(s *ftp.Server) { s.TLSConfig = conf })
	ts.tlsClient(t, true, ts.clientConfig(false))
	logs := ts.logs.String()
	if strings.Contains(logs, "accept failed") {
		t.Errorf("Serve backed off:\n%s", logs)
	}
	if strings.Count(logs, "implicit FTPS connection closed") != 5 {
		t.Errorf("want one log line per refused connection:\n%s", logs)
	}
}
