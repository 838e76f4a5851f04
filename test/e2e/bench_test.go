package e2e

import (
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

// BenchmarkRETR1GiB compares a 1 GiB RETR straight from the server with the
// same RETR through `rotary gateway` (the seed configuration), and reports
// the gateway's new-connection rate. Run with
//
//	go test -run XXX -bench . -benchtime 3x ./test/e2e/
func BenchmarkRETR1GiB(b *testing.B) {
	root := b.TempDir()
	f, _ := os.Create(filepath.Join(root, "big.bin"))
	f.Truncate(1 << 30) // sparse: served from the page cache
	f.Close()
	serve := startB(b, "serve", "127.0.0.1:2121", "serve", "--listen", "127.0.0.1:2121", "--root", root,
		"--user", "u:p", "--public-ip", "127.0.0.2", "--passive-ports", "5500-5520", "--log-level", "warn")
	defer serve()
	cfg, _ := filepath.Abs("../../internal/nat/ios/testdata/seed-single-server.ios")
	gw := startB(b, "gateway", "127.0.0.2:2121", "gateway", "--config", cfg, "--admin", "")
	defer gw()

	for _, target := range []struct{ name, addr string }{{"direct", "127.0.0.1:2121"}, {"gateway", "127.0.0.2:2121"}} {
		b.Run(target.name, func(b *testing.B) {
			ctl, err := net.DialTimeout("tcp", target.addr, 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer ctl.Close()
			tp := textproto.NewConn(ctl)
			expect := func(code int) string {
				_, msg, err := tp.ReadResponse(code)
				if err != nil {
					b.Fatal(err)
				}
				return msg
			}
			expect(220)
			tp.PrintfLine("USER u")
			expect(331)
			tp.PrintfLine("PASS p")
			expect(230)
			tp.PrintfLine("TYPE I")
			expect(200)
			// The sink splices the data connection into /dev/null, so the
			// client costs next to nothing and the server or the gateway
			// sets the pace.
			devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer devnull.Close()
			host, _, _ := net.SplitHostPort(target.addr)
			b.SetBytes(1 << 30)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tp.PrintfLine("EPSV")
				msg := expect(229)
				var port int
				fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port)
				d, err := net.Dial("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
				if err != nil {
					b.Fatal(err)
				}
				tp.PrintfLine("RETR big.bin")
				expect(150)
				n, err := io.Copy(devnull, d)
				d.Close()
				if err != nil || n != 1<<30 {
					b.Fatalf("%d bytes, %v", n, err)
				}
				expect(226)
			}
		})
	}
	for _, target := range []struct{ name, addr string }{{"direct", "127.0.0.1:2121"}, {"gateway", "127.0.0.2:2121"}} {
		b.Run("connections-"+target.name, func(b *testing.B) {
			// Connect, read the 220 greeting, close: one session (and
			// through the gateway one translation) each.
			buf := make([]byte, 128)
			for i := 0; i < b.N; i++ {
				c, err := net.DialTimeout("tcp", target.addr, 5*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// startB starts rotary for a benchmark and returns its stop function.
func startB(b *testing.B, name, ready string, args ...string) func() {
	b.Helper()
	p := &proc{name: name, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(rotaryBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ready, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			p.kill()
			b.Fatalf("%s not listening on %s: %s", name, ready, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() {
		p.kill()
		if b.Failed() {
			fmt.Println(p.out.String())
		}
	}
}
