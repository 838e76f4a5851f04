package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCoordinated: three servers with the same passive range behind one
// `rotary coordinate` line, under FTPS (PROT P): each serves sessions and
// announces only ports of its own slice; one killed, the others go on
// with their slices unchanged.
func TestCoordinated(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	root := t.TempDir()
	data := content(256<<10 + 5)
	os.WriteFile(filepath.Join(root, "file.bin"), data, 0o644)
	hosts := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}
	pp := freePorts(t, 21, append([]string{"127.0.0.2"}, hosts...)...)
	// One configuration file for all three; only the listen address (and
	// the folder of each one's self-signed certificate) differs.
	shared := filepath.Join(t.TempDir(), "rotary.toml")
	os.WriteFile(shared, []byte(fmt.Sprintf(`root = %q
user = ["u:p"]
passive-ports = %q
proxy-protocol-from = ["127.0.0.0/8"]
admin-listen = ""
tls-self-signed = true
`, root, pp.passive())), 0o644)
	var servers []*proc
	for _, h := range hosts {
		addr := h + ":" + strconv.Itoa(pp.ctl)
		servers = append(servers, start(t, "serve "+h, []string{addr}, "serve", "--config", shared, "--listen", addr, "--state-dir", t.TempDir()))
	}
	cfg := filepath.Join(t.TempDir(), "coord.ios")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`interface Gi0/0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface Gi0/1
 ip address 127.0.0.11 255.0.0.0
 ip nat inside
ip nat pool ftp 127.0.0.11 127.0.0.13 netmask 255.0.0.0 type rotary
access-list 100 permit tcp any host 127.0.0.2 eq %d
ip nat inside destination list 100 pool ftp
rotary proxy-protocol v2 pool ftp
rotary health-check interval 1
rotary coordinate pool ftp passive-range %d %d
`, pp.ctl, pp.lo, pp.hi)), 0o644)
	admin := freeAdminAddr(t)
	gw := start(t, "gateway", []string{pp.ctlOn("127.0.0.2")}, "gateway", "--config", cfg, "--admin", admin)
	// 21 ports, 3 members: 7 each, in pool order.
	slice := func(i int) (int, int) { return pp.lo + 7*i, pp.lo + 7*i + 6 }
	epsv := regexp.MustCompile(`229 [^(]*\(\|\|\|(\d+)\|\)`)
	sessions := func(first, n int) {
		t.Helper()
		for i := first; i < first+n; i++ {
			client := fmt.Sprintf("127.0.1.%d", i)
			cmd := exec.Command("curl", "-v", "-sS", "-k", "--ssl-reqd", "--max-time", "30", "--interface", client,
				"ftp://u:p@"+pp.ctlOn("127.0.0.2")+"/file.bin")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || sha(out) != sha(data) {
				t.Fatalf("FTPS session from %s: %d bytes, %v\n%s\ngateway:\n%s", client, len(out), err, stderr.String(), gw.out.String())
			}
			m := epsv.FindStringSubmatch(stderr.String())
			if m == nil {
				t.Fatalf("no 229 reply seen by curl:\n%s", stderr.String())
			}
			port, _ := strconv.Atoi(m[1])
			owner := -1
			// The server logs the session as it ends, maybe after curl exits.
			for deadline := time.Now().Add(5 * time.Second); owner < 0 && time.Now().Before(deadline); {
				for k, s := range servers {
					if strings.Contains(s.out.String(), "client="+client+" ") {
						owner = k
					}
				}
				if owner < 0 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if owner < 0 {
				t.Fatalf("no server logged the session of %s", client)
			}
			if lo, hi := slice(owner); port < lo || port > hi {
				t.Fatalf("server %s announced port %d, outside its slice %d-%d", hosts[owner], port, lo, hi)
			}
		}
	}
	sessions(10, 30)
	for k, s := range servers {
		if !strings.Contains(s.out.String(), "client=127.0.1.") {
			t.Errorf("server %s got no session", hosts[k])
		}
	}
	// The gateway's show commands name each member's slice.
	showSlices := func(what string, want ...string) {
		t.Helper()
		out, err := exec.Command(rotaryBin, "gateway", "show", what, "--admin", admin).CombinedOutput()
		if err != nil {
			t.Fatalf("show %s: %v\n%s", what, err, out)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("show %s lacks %q:\n%s", what, w, out)
			}
		}
	}
	var stats, trans []string
	for i, h := range hosts {
		lo, hi := slice(i)
		stats = append(stats, fmt.Sprintf("member %s up, ", h), fmt.Sprintf("passive slice %d-%d", lo, hi))
		trans = append(trans, fmt.Sprintf("127.0.0.2:%d-%d", lo, hi), fmt.Sprintf("%s:%d-%d", h, lo, hi))
	}
	showSlices("statistics", stats...)
	showSlices("translations", trans...)
	servers[2].kill()
	sessions(50, 10) // the survivors' slices are checked again per session
	lo, hi := slice(2)
	showSlices("statistics", fmt.Sprintf("member 127.0.0.13 down for port(s) [%d]", pp.ctl), fmt.Sprintf("passive slice %d-%d", lo, hi))
}
