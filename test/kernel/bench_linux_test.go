//go:build linux

package kernel

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkDatapath: a 1 GiB RETR (curl, EPSV, to /dev/null) from the
// client namespace, direct to the server (routed by the router, no NAT),
// direct with conntrack on in the router (a table with a nat chain and a
// stateful forward rule, translating nothing: what any stateful router
// pays), through the kernel datapath and through the userspace one; and
// new sessions (curl: connect, login, quit; a process each) and logins per
// second (rotary bench login-storm, 16 clients) the same ways; and 4 RETRs
// of 256 MiB at once (4 curls), where the forwarder's CPU competes with
// the server's and the client's for the machine's cores. Run with -count
// N: they alternate in each round. scripts/bench-datapath.sh.
func BenchmarkDatapath(b *testing.B) {
	cfg := iosExample(b, "seed-single-server.ios", "127.0.0.2", outsideAddr, "127.0.0.1", serverA)
	for _, kind := range []string{"retr-1GiB", "retr-4x256MiB", "sessions", "logins"} {
		for _, path := range []string{"direct", "direct-conntrack", "kernel", "userspace"} {
			b.Run(kind+"/"+path, func(b *testing.B) {
				l := newLab(b)
				s := l.serve("serve", serverA, "5500-5520")
				run(b, "ip", "-n", l.client, "route", "add", "198.19.0.0/24", "via", outsideAddr)
				addr := serverA
				switch path {
				case "direct":
				case "direct-conntrack":
					l.apply("nftables", conntrackOnly)
				default:
					l.gateway(cfg, "--datapath", path)
					addr = outsideAddr
				}
				const size = 1 << 30
				files := map[string]int64{"retr-1GiB": 1, "retr-4x256MiB": 4}[kind]
				for i := range files {
					f, err := os.Create(filepath.Join(s.root, fmt.Sprintf("big%d.bin", i)))
					if err != nil {
						b.Fatal(err)
					}
					f.Truncate(size / files)
					f.Close()
				}
				if files > 0 {
					b.SetBytes(size)
				}
				url := fmt.Sprintf("ftp://u:p@%s:2121/", addr)
				if kind == "logins" {
					// Connections per second: rotary bench's login-storm (16
					// clients connect, log in and QUIT, 2,000 logins in all),
					// from the client namespace.
					var rate float64
					for i := 0; i < b.N; i++ {
						out, err := exec.Command("ip", "netns", "exec", l.client, rotaryBin, "bench", url, "--allow-remote",
							"--workload", "login-storm", "--clients", "16", "--logins", "2000", "--json").CombinedOutput()
						if err != nil {
							b.Fatalf("rotary bench via %s: %v %s", path, err, out)
						}
						var rep struct {
							Results []struct {
								OpsPerSec float64 `json:"ops_per_s"`
								Failures  int64   `json:"failures"`
							} `json:"results"`
						}
						if err := json.Unmarshal(out, &rep); err != nil || len(rep.Results) != 1 || rep.Results[0].Failures > 0 {
							b.Fatalf("rotary bench via %s: %v %s", path, err, out)
						}
						rate += rep.Results[0].OpsPerSec
					}
					b.ReportMetric(rate/float64(b.N), "logins/s")
					return
				}
				b.ResetTimer()
				for i := 0; i < b.N && kind == "retr-4x256MiB"; i++ {
					// 4 curls at once, a 256 MiB file each.
					errs := make(chan error, 4)
					for j := range 4 {
						go func() {
							out, err := exec.Command("ip", "netns", "exec", l.client, "curl", "-sS", "-o", "/dev/null", fmt.Sprintf("%sbig%d.bin", url, j)).CombinedOutput()
							if err != nil {
								err = fmt.Errorf("%v %s", err, out)
							}
							errs <- err
						}()
					}
					for range 4 {
						if err := <-errs; err != nil {
							b.Fatalf("curl %s via %s: %v", kind, path, err)
						}
					}
				}
				for i := 0; i < b.N && kind != "retr-4x256MiB"; i++ {
					var cmd *exec.Cmd
					if kind == "retr-1GiB" {
						cmd = exec.Command("ip", "netns", "exec", l.client, "curl", "-sS", "-o", "/dev/null", url+"big0.bin")
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

// conntrackOnly turns conntrack and the NAT hooks on in the router without
// translating anything.
const conntrackOnly = `table ip bench_ct {
	chain prerouting { type nat hook prerouting priority dstnat; }
	chain forward { type filter hook forward priority filter; ct state established,related counter accept; }
}
`
