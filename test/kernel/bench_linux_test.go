//go:build linux

package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkDatapath: a 1 GiB RETR (curl, EPSV, to /dev/null) from the
// client namespace, direct to the server (routed by the router, no NAT),
// through the kernel datapath and through the userspace one; and new
// sessions per second (connect, login, quit) the same three ways. Run with
// -count N: the three alternate in each round. scripts/bench-datapath.sh.
func BenchmarkDatapath(b *testing.B) {
	cfg := iosExample(b, "seed-single-server.ios", "127.0.0.2", outsideAddr, "127.0.0.1", serverA)
	for _, kind := range []string{"retr-1GiB", "sessions"} {
		for _, path := range []string{"direct", "kernel", "userspace"} {
			b.Run(kind+"/"+path, func(b *testing.B) {
				l := newLab(b)
				s := l.serve("serve", serverA, "5500-5520")
				run(b, "ip", "-n", l.client, "route", "add", "198.19.0.0/24", "via", outsideAddr)
				addr := serverA
				if path != "direct" {
					l.gateway(cfg, "--datapath", path)
					addr = outsideAddr
				}
				const size = 1 << 30
				if kind == "retr-1GiB" {
					f, err := os.Create(filepath.Join(s.root, "big.bin"))
					if err != nil {
						b.Fatal(err)
					}
					f.Truncate(size)
					f.Close()
					b.SetBytes(size)
				}
				url := fmt.Sprintf("ftp://u:p@%s:2121/", addr)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var cmd *exec.Cmd
					if kind == "retr-1GiB" {
						cmd = exec.Command("ip", "netns", "exec", l.client, "curl", "-sS", "-o", "/dev/null", url+"big.bin")
					} else {
						cmd = exec.Command("ip", "netns", "exec", l.client, "curl", "-sS", "-o", "/dev/null", "-I", url)
					}
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("curl %s via %s: %v %s", kind, path, err, out)
					}
				}
			})
		}
	}
}
