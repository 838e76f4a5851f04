package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// algConfig is the seed setup with the FTP ALG in place of the passive
// range: one static control forward, `ip nat service list` for its port
// (not 21), no ACL or pool for the range. proxy adds PROXY protocol.
func algConfig(t *testing.T, ctl int, proxy bool) string {
	t.Helper()
	c := strconv.Itoa(ctl)
	text := `interface GigabitEthernet0/0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
interface GigabitEthernet0/1
 ip address 127.0.0.1 255.0.0.0
 ip nat inside
ip nat inside source static tcp 127.0.0.1 ` + c + ` 127.0.0.2 ` + c + `
access-list 120 permit tcp any host 127.0.0.2 eq ` + c + `
ip nat service list 120 ftp tcp port ` + c + `
ip nat translation syn-timeout 10
`
	if proxy {
		text += "rotary proxy-protocol v2 static\n"
	}
	p := filepath.Join(t.TempDir(), "alg.ios")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFTPALG: the server runs with no --public-ip and the gateway forwards
// no passive range; the ALG opens each data connection's translation.
// Without PROXY protocol the server announces its inside address and the
// ALG rewrites it; with it the server announces the outside address (the
// PROXY destination) and the ALG only opens the translation.
func TestFTPALG(t *testing.T) {
	root := t.TempDir()
	data := content(2<<20 + 7)
	os.WriteFile(filepath.Join(root, "file.bin"), data, 0o644)
	for _, proxy := range []bool{false, true} {
		t.Run(fmt.Sprintf("proxy=%v", proxy), func(t *testing.T) {
			pp := freePorts(t, 21, "127.0.0.1", "127.0.0.2")
			args := []string{"serve", "--listen", pp.ctlOn("127.0.0.1"), "--root", root, "--user", "u:p",
				"--passive-ports", pp.passive(), "--admin-listen", ""}
			if proxy {
				args = append(args, "--proxy-protocol-from", "127.0.0.1/32")
			}
			start(t, "serve", []string{pp.ctlOn("127.0.0.1")}, args...)
			gw := start(t, "gateway", []string{pp.ctlOn("127.0.0.2")}, "gateway", "--config", algConfig(t, pp.ctl, proxy), "--admin", freeAdminAddr(t))
			url := "ftp://u:p@" + pp.ctlOn("127.0.0.2") + "/"

			t.Run("curl", func(t *testing.T) {
				if _, err := exec.LookPath("curl"); err != nil {
					t.Skip("no curl")
				}
				for _, mode := range [][]string{{"--ftp-pasv"}, {"--disable-epsv"}} {
					out, err := exec.Command("curl", append(mode, "-sS", "--max-time", "30", "--interface", "127.0.0.3", url+"file.bin")...).Output()
					if err != nil || sha(out) != sha(data) {
						t.Fatalf("curl %v through the ALG: %d bytes, %v\n%s", mode, len(out), err, gw.out.String())
					}
				}
			})
			t.Run("ftplib", func(t *testing.T) {
				if _, err := exec.LookPath("python3"); err != nil {
					t.Skip("no python3")
				}
				script := `
import ftplib, hashlib, io, sys
ftp = ftplib.FTP(source_address=("127.0.0.4", 0))
ftp.connect("127.0.0.2", int(sys.argv[1]), timeout=30)
ftp.login("u", "p")
resp = ftp.sendcmd("PASV")
assert "(127,0,0,2," in resp, resp  # the outside address, rewritten or announced
buf = io.BytesIO()
ftp.retrbinary("RETR file.bin", buf.write)
print(hashlib.sha256(buf.getvalue()).hexdigest())
ftp.quit()
`
				out, err := exec.Command("python3", "-c", script, strconv.Itoa(pp.ctl)).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != sha(data) {
					t.Fatalf("ftplib through the ALG: %v\n%s", err, out)
				}
			})
			t.Run("lftp", func(t *testing.T) {
				if _, err := exec.LookPath("lftp"); err != nil {
					t.Skip("no lftp")
				}
				for _, epsv := range []string{"off", "on"} {
					dir := t.TempDir()
					cmds := "set ftp:passive-mode on; set ftp:prefer-epsv " + epsv + "; set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; " +
						"get file.bin -o " + filepath.Join(dir, "got.bin") + "; bye"
					cmd := exec.Command("lftp", "-u", "u,p", "-p", strconv.Itoa(pp.ctl), "-e", cmds, "127.0.0.2")
					cmd.Env = append(os.Environ(), "HOME="+dir)
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("lftp (prefer-epsv %s): %v\n%s", epsv, err, out)
					}
					if got, _ := os.ReadFile(filepath.Join(dir, "got.bin")); sha(got) != sha(data) {
						t.Fatalf("lftp (prefer-epsv %s) download differs", epsv)
					}
				}
			})
			t.Run("another client is refused on a one-shot port", func(t *testing.T) {
				ctl, err := net.DialTimeout("tcp", pp.ctlOn("127.0.0.2"), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer ctl.Close()
				port := pasv(t, ctl)
				d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.6")}}
				dc, err := d.Dial("tcp", fmt.Sprintf("127.0.0.2:%d", port))
				if err == nil {
					dc.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, rerr := dc.Read(make([]byte, 1))
					dc.Close()
					if n > 0 || rerr == nil {
						t.Fatalf("127.0.0.6 reached the one-shot port %d of 127.0.0.1's session", port)
					}
				}
				// The session's own client still gets it.
				own, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.2:%d", port), 5*time.Second)
				if err != nil {
					t.Fatalf("the client of the session cannot take its one-shot port: %v", err)
				}
				own.Close()
			})
		})
	}
}

// pasv logs in on a raw control connection and returns the port of a PASV reply.
func pasv(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 0, 4096)
	read := func(code string) string {
		for {
			lines := strings.Split(string(buf), "\n")
			for i, l := range lines[:len(lines)-1] {
				if strings.HasPrefix(l, code+" ") {
					buf = []byte(strings.Join(lines[i+1:], "\n"))
					return l
				}
			}
			tmp := make([]byte, 1024)
			n, err := c.Read(tmp)
			if err != nil {
				t.Fatalf("waiting for %s: %v (%q)", code, err, buf)
			}
			buf = append(buf, tmp[:n]...)
		}
	}
	read("220")
	fmt.Fprintf(c, "USER u\r\n")
	read("331")
	fmt.Fprintf(c, "PASS p\r\n")
	read("230")
	fmt.Fprintf(c, "PASV\r\n")
	l := read("227")
	var a, b, cc, d, p1, p2 int
	i := strings.IndexByte(l, '(')
	if _, err := fmt.Sscanf(l[i:], "(%d,%d,%d,%d,%d,%d)", &a, &b, &cc, &d, &p1, &p2); err != nil || a != 127 || d != 2 {
		t.Fatalf("PASV reply %q", l)
	}
	return p1<<8 | p2
}

// TestFTPALGStepsAsideForTLS: under FTPS the ALG sees AUTH TLS and steps
// aside (logged once per connection); with --public-ip and the range
// forwarded, transfers work as without an ALG.
func TestFTPALGStepsAsideForTLS(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	root := t.TempDir()
	data := content(1<<20 + 3)
	os.WriteFile(filepath.Join(root, "file.bin"), data, 0o644)
	pp := freePorts(t, 21, "127.0.0.1", "127.0.0.2")
	start(t, "serve", []string{pp.ctlOn("127.0.0.1")}, "serve", "--listen", pp.ctlOn("127.0.0.1"), "--root", root, "--user", "u:p",
		"--public-ip", "127.0.0.2", "--passive-ports", pp.passive(), "--proxy-protocol-from", "127.0.0.1/32",
		"--admin-listen", "", "--tls-self-signed", "--state-dir", t.TempDir())
	cfg := iosConfig(t, shippedSeed(t, pp), "ip nat translation tcp-timeout", fmt.Sprintf(
		"access-list 121 permit tcp any host 127.0.0.2 eq %d\nip nat service list 121 ftp tcp port %d\nip nat translation tcp-timeout", pp.ctl, pp.ctl))
	gw := start(t, "gateway", []string{pp.ctlOn("127.0.0.2"), fmt.Sprintf("127.0.0.2:%d", pp.lo)}, "gateway", "--config", cfg, "--admin", freeAdminAddr(t))
	url := "ftp://u:p@" + pp.ctlOn("127.0.0.2") + "/file.bin"
	for _, mode := range []string{"--ftp-pasv", "--disable-epsv"} {
		out, err := exec.Command("curl", mode, "-sS", "-k", "--ssl-reqd", "--max-time", "30", url).Output()
		if err != nil || sha(out) != sha(data) {
			t.Fatalf("curl %s over FTPS through the gateway: %d bytes, %v\n%s", mode, len(out), err, gw.out.String())
		}
	}
	if n := strings.Count(gw.out.String(), "FTP ALG steps aside"); n != 2 {
		t.Fatalf("the ALG logged stepping aside %d times for 2 FTPS connections:\n%s", n, gw.out.String())
	}
}
