package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftptest"
)

// BenchmarkBehindNAT compares, through `rotary gateway`, the plain
// forwarded range (the seed), the FTP ALG (no range forwarded) and
// coordinated mode (one member): control-connection latency (connect,
// greeting, close) and a 256 MiB RETR over EPSV. Figures in BENCHMARKS.md:
//
//	go test -run XXX -bench BehindNAT -benchtime 3x ./test/e2e/
func BenchmarkBehindNAT(b *testing.B) {
	root := b.TempDir()
	f, _ := os.Create(filepath.Join(root, "big.bin"))
	f.Truncate(256 << 20)
	f.Close()
	for _, setup := range []string{"forward", "alg", "coordinated"} {
		b.Run(setup, func(b *testing.B) {
			pp := freePorts(b, 21, "127.0.0.1", "127.0.0.2")
			inside, outside := pp.ctlOn("127.0.0.1"), pp.ctlOn("127.0.0.2")
			args := []string{"serve", "--listen", inside, "--root", root, "--user", "u:p", "--passive-ports", pp.passive(),
				"--log-level", "warn", "--admin-listen", "", "--proxy-protocol-from", "127.0.0.1/32"}
			c := strconv.Itoa(pp.ctl)
			text := "interface Gi0/0\n ip address 127.0.0.2 255.0.0.0\n ip nat outside\ninterface Gi0/1\n ip address 127.0.0.1 255.0.0.0\n ip nat inside\n"
			switch setup {
			case "forward":
				args = append(args, "--public-ip", "127.0.0.2")
				text += "ip nat inside source static tcp 127.0.0.1 " + c + " 127.0.0.2 " + c + "\n" +
					"ip nat pool ftp 127.0.0.1 127.0.0.1 netmask 255.255.255.255 type rotary\n" +
					fmt.Sprintf("access-list 100 permit tcp any host 127.0.0.2 range %d %d\n", pp.lo, pp.hi) +
					"ip nat inside destination list 100 pool ftp\nrotary proxy-protocol v2 static\nrotary proxy-protocol v2 pool ftp\n"
			case "alg":
				text += "ip nat inside source static tcp 127.0.0.1 " + c + " 127.0.0.2 " + c + "\n" +
					"access-list 120 permit tcp any host 127.0.0.2 eq " + c + "\nip nat service list 120 ftp tcp port " + c + "\n" +
					"rotary proxy-protocol v2 static\n"
			case "coordinated":
				text += "ip nat pool ftp 127.0.0.1 127.0.0.1 netmask 255.255.255.255 type rotary\n" +
					"access-list 100 permit tcp any host 127.0.0.2 eq " + c + "\nip nat inside destination list 100 pool ftp\n" +
					fmt.Sprintf("rotary proxy-protocol v2 pool ftp\nrotary coordinate pool ftp passive-range %d %d\n", pp.lo, pp.hi)
			}
			cfg := filepath.Join(b.TempDir(), "nat.ios")
			os.WriteFile(cfg, []byte(text), 0o644)
			defer startB(b, "serve", inside, args...)()
			defer startB(b, "gateway", outside, "gateway", "--config", cfg, "--admin", "")()
			b.Run("control-latency", func(b *testing.B) {
				buf := make([]byte, 128)
				for i := 0; i < b.N; i++ {
					conn, err := net.DialTimeout("tcp", outside, 5*time.Second)
					if err != nil {
						b.Fatal(err)
					}
					conn.SetDeadline(time.Now().Add(5 * time.Second))
					if _, err := conn.Read(buf); err != nil {
						b.Fatal(err)
					}
					conn.Close()
				}
			})
			b.Run("RETR-256MiB", func(b *testing.B) {
				ctl := ftptest.Dial(b, outside)
				ctl.Login("u", "p")
				ctl.Must(200, "TYPE I")
				devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
				defer devnull.Close()
				b.SetBytes(256 << 20)
				for i := 0; i < b.N; i++ {
					ctl.Net().SetDeadline(time.Now().Add(time.Minute))
					d := ctl.EPSV()
					d.SetDeadline(time.Now().Add(time.Minute))
					ctl.Must(150, "RETR big.bin")
					n, err := io.Copy(devnull, d)
					d.Close()
					if err != nil || n != 256<<20 {
						b.Fatalf("%d bytes, %v", n, err)
					}
					ctl.Expect(226)
				}
			})
		})
	}
}
