package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftptest"
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
	pp := freePorts(b, 21, "127.0.0.1", "127.0.0.2")
	direct, gateway := pp.ctlOn("127.0.0.1"), pp.ctlOn("127.0.0.2")
	serve := startB(b, "serve", direct, "serve", "--listen", direct, "--root", root,
		"--user", "u:p", "--public-ip", "127.0.0.2", "--passive-ports", pp.passive(), "--log-level", "warn")
	defer serve()
	gw := startB(b, "gateway", gateway, "gateway", "--config", seedConfig(b, pp), "--admin", "")
	defer gw()
	targets := []struct{ name, addr string }{{"direct", direct}, {"gateway", gateway}}

	for _, target := range targets {
		b.Run(target.name, func(b *testing.B) {
			ctl := ftptest.Dial(b, target.addr)
			ctl.Login("u", "p")
			ctl.Must(200, "TYPE I")
			// The sink splices the data connection into /dev/null, so the
			// client costs next to nothing and the server or the gateway
			// sets the pace.
			devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer devnull.Close()
			b.SetBytes(1 << 30)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctl.Net().SetDeadline(time.Now().Add(time.Minute)) // per transfer, not per run
				d := ctl.EPSV()
				d.SetDeadline(time.Now().Add(time.Minute))
				ctl.Must(150, "RETR big.bin")
				n, err := io.Copy(devnull, d)
				d.Close()
				if err != nil || n != 1<<30 {
					b.Fatalf("%d bytes, %v", n, err)
				}
				ctl.Expect(226)
			}
		})
	}
	for _, target := range targets {
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
	p.cmd = exec.Command(rotaryBin, userspaceGateway(args)...)
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
