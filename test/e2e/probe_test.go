package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// probeReport is the part of `rotary probe --json` the tests read.
type probeReport struct {
	PASV struct {
		Announced string `json:"announced"`
		OK        bool   `json:"ok"`
		Problem   string `json:"problem"`
	} `json:"pasv"`
	EPSV struct {
		Supported, Reachable bool
	} `json:"epsv"`
	Range struct {
		Lo, Hi  int
		Learned bool
	} `json:"range"`
	Ports []struct {
		Port      int    `json:"port"`
		Reachable bool   `json:"reachable"`
		Cause     string `json:"cause"`
		Resumed   *bool  `json:"tls_resumed"`
	} `json:"ports"`
	TLSReuse *struct {
		DataResumed         bool `json:"data_connections_resume"`
		NonResumingAccepted bool `json:"non_resuming_accepted"`
	} `json:"tls_session_reuse"`
	Problems []string `json:"problems"`
}

// probe runs `rotary probe --json args...` and returns its exit status,
// its report and its stderr.
func probe(t *testing.T, args ...string) (int, probeReport, string) {
	t.Helper()
	cmd := exec.Command(rotaryBin, append([]string{"probe", "--json", "--timeout", "3s"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep probeReport
	if code != 2 {
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("probe %v: exit %d, not one JSON document: %v\n%s\n%s", args, code, err, out, stderr.String())
		}
	}
	return code, rep, stderr.String()
}

// unreachable lists the ports the report calls unreachable.
func (r probeReport) unreachable() []int {
	var out []int
	for _, p := range r.Ports {
		if !p.Reachable {
			out = append(out, p.Port)
		}
	}
	return out
}

func portsFrom(lo, hi int) []int {
	var out []int
	for p := lo; p <= hi; p++ {
		out = append(out, p)
	}
	return out
}

// seedSetup runs the seed: a server on 127.0.0.1 (with serveArgs) and the
// gateway on 127.0.0.2 with the seed's IOS file, its ACL's range replaced
// by aclRange when that is not "".
func seedSetup(t *testing.T, pp ports, aclRange string, serveArgs ...string) string {
	t.Helper()
	args := append([]string{"serve", "--listen", pp.ctlOn("127.0.0.1"), "--root", t.TempDir(), "--user", "u:p",
		"--passive-ports", pp.passive(), "--admin-listen", "", "--login-fail-delay", "1ms"}, serveArgs...)
	start(t, "serve", []string{pp.ctlOn("127.0.0.1")}, args...)
	if aclRange == "" {
		aclRange = fmt.Sprintf("range %d %d", pp.lo, pp.hi)
	}
	cfg := iosConfig(t, "seed-single-server.ios", " 2121", " "+strconv.Itoa(pp.ctl), "range 5500 5520", aclRange)
	start(t, "gateway", []string{pp.ctlOn("127.0.0.2")}, "gateway", "--config", cfg, "--admin", "")
	return "ftp://u:p@" + pp.ctlOn("127.0.0.2") + "/"
}

// TestProbeSeed: through rotary gateway running the seed configuration
// every port is reachable: exit 0, with the range learned from the server
// and given with --ports; the table says so too.
func TestProbeSeed(t *testing.T) {
	pp := freePorts(t, 21, "127.0.0.1", "127.0.0.2")
	url := seedSetup(t, pp, "", "--public-ip", "127.0.0.2")
	for _, extra := range [][]string{nil, {"--ports", pp.passive()}, {"--max-sessions", "4"}} {
		code, rep, stderr := probe(t, append(extra, url)...)
		if code != 0 || len(rep.Ports) != 21 || len(rep.unreachable()) != 0 || !rep.PASV.OK || !rep.EPSV.Reachable {
			t.Errorf("probe %v: exit %d, %d ports, unreachable %v, problems %v %s", extra, code, len(rep.Ports), rep.unreachable(), rep.Problems, stderr)
		}
		if rep.Range.Lo != pp.lo || rep.Range.Hi != pp.hi || rep.Range.Learned != (extra == nil || extra[0] != "--ports") {
			t.Errorf("probe %v: range %+v, want %s", extra, rep.Range, pp.passive())
		}
	}
	out, err := exec.Command(rotaryBin, "probe", url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok: 21 passive ports reachable") || !strings.Contains(string(out), "PORT   STATE") {
		t.Errorf("probe table: %v\n%s", err, out)
	}
}

// TestProbePartialACL: an ACL that forwards only part of the range: exit 1,
// and exactly the missing ports are named, as refused.
func TestProbePartialACL(t *testing.T) {
	pp := freePorts(t, 21, "127.0.0.1", "127.0.0.2")
	url := seedSetup(t, pp, fmt.Sprintf("range %d %d", pp.lo, pp.hi-5), "--public-ip", "127.0.0.2")
	for _, extra := range [][]string{nil, {"--ports", pp.passive()}} {
		code, rep, stderr := probe(t, append(extra, url)...)
		want := portsFrom(pp.hi-4, pp.hi)
		if code != 1 || fmt.Sprint(rep.unreachable()) != fmt.Sprint(want) {
			t.Fatalf("probe %v: exit %d, unreachable %v, want exit 1 and %v; %s", extra, code, rep.unreachable(), want, stderr)
		}
		for _, p := range rep.Ports {
			if !p.Reachable && !strings.Contains(p.Cause, "not forwarded") {
				t.Errorf("port %d: cause %q, want not forwarded", p.Port, p.Cause)
			}
		}
		joined := strings.Join(rep.Problems, "\n")
		if !strings.Contains(joined, fmt.Sprintf("5 of 21 passive ports unreachable: %d-%d: refused", pp.hi-4, pp.hi)) {
			t.Errorf("problems do not name the missing ports: %s", joined)
		}
	}
	// A --ports wider than the server's range: the ports it never hands out are named.
	code, rep, _ := probe(t, "--ports", fmt.Sprintf("%d-%d", pp.lo, pp.hi+2), url)
	if code != 1 || !strings.Contains(strings.Join(rep.Problems, "\n"), fmt.Sprintf("ports %d-%d of --ports", pp.hi+1, pp.hi+2)) {
		t.Errorf("wider --ports: exit %d, problems %v", code, rep.Problems)
	}
}

// TestProbeNoPublicIP: a server without --public-ip behind the gateway
// announces its own address; the probe names the mismatch and the fix.
func TestProbeNoPublicIP(t *testing.T) {
	pp := freePorts(t, 21, "127.0.0.1", "127.0.0.2")
	url := seedSetup(t, pp, "")
	code, rep, stderr := probe(t, url)
	want := "server announced 127.0.0.1 but you connected to 127.0.0.2: set public-ip"
	if code != 1 || rep.PASV.OK || !strings.HasPrefix(rep.PASV.Problem, want) {
		t.Fatalf("exit %d, pasv %+v, want exit 1 and %q; %s", code, rep.PASV, want, stderr)
	}
	if len(rep.unreachable()) != 0 {
		t.Errorf("the ports themselves are forwarded, yet unreachable: %v", rep.unreachable())
	}
}

// TestProbeFTPS: explicit and implicit FTPS, with and without
// tls-require-session-reuse: data connections resume the control session;
// one that does not is refused only when the server requires reuse.
func TestProbeFTPS(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("require-session-reuse=%v", reuse), func(t *testing.T) {
			pp := freePorts(t, 6, "127.0.0.1")
			implicit := freePorts(t, 1, "127.0.0.1").ctl
			args := []string{"serve", "--listen", pp.ctlOn("127.0.0.1"), "--root", t.TempDir(), "--user", "u:p",
				"--passive-ports", pp.passive(), "--admin-listen", "", "--tls-self-signed", "--state-dir", t.TempDir(),
				"--implicit-tls-listen", fmt.Sprintf("127.0.0.1:%d", implicit)}
			if reuse {
				args = append(args, "--tls-require-session-reuse")
			}
			start(t, "serve", []string{pp.ctlOn("127.0.0.1")}, args...)
			for _, target := range [][]string{
				{"--tls", "ftp://u:p@" + pp.ctlOn("127.0.0.1") + "/"},
				{fmt.Sprintf("ftps://u:p@127.0.0.1:%d/", implicit)},
			} {
				code, rep, stderr := probe(t, target...)
				if code != 0 || len(rep.Ports) != 6 || rep.TLSReuse == nil {
					t.Fatalf("probe %v: exit %d, %d ports, problems %v, %s", target, code, len(rep.Ports), rep.Problems, stderr)
				}
				for _, p := range rep.Ports {
					if p.Resumed == nil || !*p.Resumed {
						t.Errorf("probe %v: port %d did not resume the TLS session", target, p.Port)
					}
				}
				if !rep.TLSReuse.DataResumed || rep.TLSReuse.NonResumingAccepted == reuse {
					t.Errorf("probe %v: session reuse %+v with tls-require-session-reuse %v", target, *rep.TLSReuse, reuse)
				}
			}
		})
	}
}

// TestProbeBadInput: one clear line on stderr and exit status 2.
func TestProbeBadInput(t *testing.T) {
	pp := freePorts(t, 2, "127.0.0.1")
	start(t, "serve", []string{pp.ctlOn("127.0.0.1")}, "serve", "--listen", pp.ctlOn("127.0.0.1"), "--root", t.TempDir(),
		"--user", "u:p", "--passive-ports", pp.passive(), "--admin-listen", "", "--login-fail-delay", "1ms")
	closed := freePorts(t, 1, "127.0.0.1").ctl
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no credentials", []string{"ftp://" + pp.ctlOn("127.0.0.1") + "/"}, "rotary probe: probe URL ftp://" + pp.ctlOn("127.0.0.1") + "/: no credentials"},
		{"refused login", []string{"ftp://u:wrong@" + pp.ctlOn("127.0.0.1") + "/"}, "rotary probe: " + pp.ctlOn("127.0.0.1") + ": login as u: server answered 530"},
		{"nothing listening", []string{fmt.Sprintf("ftp://u:p@127.0.0.1:%d/", closed)}, "rotary probe: connect to 127.0.0.1:"},
		{"bad ports", []string{"--ports", "6000-5000", "ftp://u:p@" + pp.ctlOn("127.0.0.1") + "/"}, "rotary probe: --ports 6000-5000: low end above high end"},
		{"no URL", nil, "rotary probe: want one URL"},
		{"not ftp", []string{"http://u:p@127.0.0.1/"}, "rotary probe: probe URL \"http://u:p@127.0.0.1/\": want ftp://"},
	}
	for _, tt := range tests {
		code, _, stderr := probe(t, tt.args...)
		if code != 2 || !strings.HasPrefix(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line %q", tt.name, code, stderr, tt.want)
		}
	}
}

// TestPublicPassivePortsThroughGateway: a server that listens on one range
// and announces another, behind a gateway that maps port for port (the
// IOS that `rotary rules` writes for these settings: one static map per
// port); curl, lftp and ftplib transfer through it, and the probe finds
// every announced port reachable.
func TestPublicPassivePortsThroughGateway(t *testing.T) {
	pp := freePorts(t, 21, "127.0.0.1", "127.0.0.2")
	var pub ports
	for {
		pub = freePorts(t, 21, "127.0.0.1", "127.0.0.2")
		if pub.hi < pp.lo || pub.lo > pp.hi {
			break
		}
	}
	root := t.TempDir()
	data := content(1<<20 + 3)
	os.WriteFile(filepath.Join(root, "file.bin"), data, 0o644)
	settings := []string{"--listen", pp.ctlOn("127.0.0.1"), "--passive-ports", pp.passive(), "--public-passive-ports", pub.passive(), "--public-ip", "127.0.0.2"}
	start(t, "serve", []string{pp.ctlOn("127.0.0.1")}, append([]string{"serve", "--root", root, "--user", "u:p", "--admin-listen", ""}, settings...)...)
	iosText, err := exec.Command(rotaryBin, append([]string{"rules", "--format", "ios"}, settings...)...).Output()
	if err != nil {
		t.Fatalf("rotary rules: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "remap.ios")
	os.WriteFile(cfg, iosText, 0o644)
	start(t, "gateway", []string{pp.ctlOn("127.0.0.2")}, "gateway", "--config", cfg, "--admin", "")
	url := "ftp://u:p@" + pp.ctlOn("127.0.0.2") + "/"

	for _, mode := range [][]string{{"--disable-epsv"}, nil} {
		out, err := exec.Command("curl", append(mode, "-sS", "--max-time", "20", url+"file.bin")...).Output()
		if err != nil || sha(out) != sha(data) {
			t.Fatalf("curl %v: %d bytes, %v", mode, len(out), err)
		}
	}
	dir := t.TempDir()
	lftp := exec.Command("lftp", "-u", "u,p", "-p", strconv.Itoa(pp.ctl), "-e",
		"set ftp:passive-mode on; set ftp:prefer-epsv no; set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; get file.bin -o "+filepath.Join(dir, "got.bin")+"; bye", "127.0.0.2")
	lftp.Env = append(os.Environ(), "HOME="+dir)
	if out, err := lftp.CombinedOutput(); err != nil {
		t.Fatalf("lftp: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "got.bin")); sha(got) != sha(data) {
		t.Fatal("lftp download differs")
	}
	script := `
import ftplib, hashlib, io, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.2", int(sys.argv[1]), timeout=20)
ftp.login("u", "p")
port = ftplib.parse227(ftp.sendcmd("PASV"))[1]
assert int(sys.argv[2]) <= port <= int(sys.argv[3]), port  # the announced range
buf = io.BytesIO()
ftp.retrbinary("RETR file.bin", buf.write)
print(hashlib.sha256(buf.getvalue()).hexdigest())
ftp.quit()
`
	out, err := exec.Command("python3", "-c", script, strconv.Itoa(pp.ctl), strconv.Itoa(pub.lo), strconv.Itoa(pub.hi)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != sha(data) {
		t.Fatalf("ftplib: %v\n%s", err, out)
	}
	code, rep, stderr := probe(t, url)
	if code != 0 || rep.Range.Lo != pub.lo || rep.Range.Hi != pub.hi || len(rep.Ports) != 21 {
		t.Fatalf("probe: exit %d, range %+v (want %s), problems %v %s", code, rep.Range, pub.passive(), rep.Problems, stderr)
	}
}
