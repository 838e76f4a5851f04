package ftp_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// The FTPS counterparts of BenchmarkRETR1GiB and BenchmarkSTOR1GiB: the
// same 1 GiB over loopback, with PROT P. The server copies through
// crypto/tls (AES-GCM with AES-NI where the CPU has it) instead of
// sendfile/splice, and the client in this process decrypts, so both ends
// share the machine's cores. Run with
//   go test -run XXX -bench 'GiB' -benchtime 3x ./internal/ftp/

// benchTLSSession returns a logged-in session with AUTH TLS, PBSZ 0 and
// PROT P, and the client TLS configuration for data connections.
func benchTLSSession(b *testing.B) (*tlsServer, *rawConn, *tls.Config) {
	ts := startTLSServer(b, ftp.TLSOptions{}, nil)
	r := ts.raw(b)
	conf := ts.clientConfig(true)
	r.AuthTLS(conf)
	r.Net().SetDeadline(time.Time{})
	r.Login("u", "p")
	r.Must(200, "TYPE I")
	r.Must(200, "PBSZ 0")
	r.Must(200, "PROT P")
	return ts, r, conf
}

func BenchmarkRETR1GiBTLS(b *testing.B) {
	ts, r, conf := benchTLSSession(b)
	benchRETR(b, ts.root, r, func(d net.Conn) net.Conn { return tls.Client(d, conf) })
}

func BenchmarkSTOR1GiBTLS(b *testing.B) {
	ts, r, conf := benchTLSSession(b)
	benchSTOR(b, ts.root, r, func(d net.Conn) net.Conn { return tls.Client(d, conf) })
}
