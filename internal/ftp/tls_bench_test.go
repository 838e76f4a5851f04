package ftp_test

import (
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
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
	r.authTLS(conf)
	r.c.SetDeadline(time.Time{})
	r.login()
	r.must(200, "TYPE I")
	r.must(200, "PBSZ 0")
	r.must(200, "PROT P")
	return ts, r, conf
}

func BenchmarkRETR1GiBTLS(b *testing.B) {
	ts, r, conf := benchTLSSession(b)
	path := filepath.Join(ts.root, "big.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	// A sparse file reads as zeros from the page cache without disk I/O.
	if err := f.Truncate(benchFileSize); err != nil {
		b.Fatal(err)
	}
	f.Close()
	buf := make([]byte, 256<<10)
	b.SetBytes(benchFileSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := r.pasvConn()
		d.SetDeadline(time.Now().Add(5 * time.Minute))
		r.must(150, "RETR big.bin")
		td := tls.Client(d, conf)
		n, err := io.CopyBuffer(io.Discard, td, buf)
		if err != nil || n != benchFileSize {
			b.Fatalf("received %d bytes, %v", n, err)
		}
		td.Close()
		r.expect(226)
	}
}

func BenchmarkSTOR1GiBTLS(b *testing.B) {
	ts, r, conf := benchTLSSession(b)
	chunk := make([]byte, 256<<10)
	b.SetBytes(benchFileSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := r.pasvConn()
		d.SetDeadline(time.Now().Add(5 * time.Minute))
		r.must(150, "STOR up.bin")
		td := tls.Client(d, conf)
		for sent := 0; sent < benchFileSize; sent += len(chunk) {
			if _, err := td.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		td.Close() // close_notify ends the upload
		r.expect(226)
		b.StopTimer()
		os.Remove(filepath.Join(ts.root, "up.bin")) // keep the disk from filling
		b.StartTimer()
	}
}
