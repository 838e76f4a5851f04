package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeIOS(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.ios")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runGatewayCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	// These tests are about the userspace plan and its messages; the
	// kernel datapath has its own in test/kernel.
	code = gatewayMain(append([]string{"--datapath", "userspace"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestGatewayPrintPlan(t *testing.T) {
	code, out, errOut := runGatewayCmd(t, "--config", "../../internal/nat/ios/testdata/seed-single-server.ios", "--print-plan")
	want := "127.0.0.2:2121 -> static 127.0.0.1:2121 [userspace]\n127.0.0.2:5500..5520 -> pool ftp [userspace]\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", code, out, want, errOut)
	}
	// The seed forwards FTP without PROXY protocol: both statements are
	// named, with the line to add (issue 15).
	for _, w := range []string{":14:1: warning: static 127.0.0.2:2121 -> 127.0.0.1:2121 without PROXY protocol", "add `rotary proxy-protocol v2 static`",
		":19:1: warning: pool ftp without PROXY protocol", "add `rotary proxy-protocol v2 pool ftp`"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	// The shipped example turns it on: no warning.
	code, out, errOut = runGatewayCmd(t, "--config", "../../examples/seed-single-server.ios", "--print-plan")
	want = "127.0.0.2:2121 -> static 127.0.0.1:2121 (proxy-protocol v2) [userspace]\n127.0.0.2:5500..5520 -> pool ftp (proxy-protocol v2) [userspace]\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("examples/seed-single-server.ios: exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", code, out, want, errOut)
	}
}

// TestGatewayBeyondUserspace: a configuration IOS accepts and the userspace
// datapath cannot run is a model (--print-model succeeds) and a
// configuration error for the plan and for a run, exit 2 with its place,
// before anything is opened.
func TestGatewayBeyondUserspace(t *testing.T) {
	path := writeIOS(t, "ip nat pool p 127.0.0.11 127.0.0.12 prefix-length 24 type rotary\n"+
		"access-list 100 permit tcp any any eq 21\nip nat inside destination list 100 pool p\n")
	code, out, errOut := runGatewayCmd(t, "--config", path, "--print-model")
	var model struct {
		ACLs []struct {
			Entries []struct {
				Destination struct{ Any bool } `json:"destination"`
			} `json:"entries"`
		} `json:"access_lists"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &model) != nil || len(model.ACLs) != 1 || !model.ACLs[0].Entries[0].Destination.Any {
		t.Fatalf("--print-model: exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	want := path + `:2:32: unexpected "any": expected host A or A WILDCARD`
	for _, args := range [][]string{{"--print-plan"}, {"--admin", ""}} {
		code, out, errOut := runGatewayCmd(t, append([]string{"--config", path}, args...)...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "rotary gateway: "+want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, code, out, errOut, want)
		}
	}
}

func TestGatewayCompileWarnings(t *testing.T) {
	path := writeIOS(t, "ip nat pool p 127.0.0.11 127.0.0.12 prefix-length 24 type rotary\n"+
		"access-list 101 deny tcp any host 127.0.0.2 eq 22\nip nat inside destination list 101 pool p\n"+
		"ip nat inside source static tcp 127.0.0.1 2121 127.0.0.2 2121\n"+
		"rotary proxy-protocol v2 static\nrotary proxy-protocol v2 pool p\n")
	code, out, errOut := runGatewayCmd(t, "--config", path, "--print-plan")
	warn := path + ":3:1: warning: access list 101 denies every destination it names: this rule opens no listener\n"
	if code != 0 || out != "127.0.0.2:2121 -> static 127.0.0.1:2121 (proxy-protocol v2) [userspace]\n" || errOut != warn {
		t.Fatalf("exit %d, stdout %q, stderr %q; want the static line and %q", code, out, errOut, warn)
	}
}

// A router's whole running config runs with --lenient: the plan is its FTP
// forwarding, every other line a warning on stderr; without --lenient it
// is refused at its first foreign line (issue 15).
func TestGatewayLenientFullRouter(t *testing.T) {
	path := "../../examples/full-router.ios"
	code, out, errOut := runGatewayCmd(t, "--config", path, "--lenient", "--print-plan")
	want := "203.0.113.5:21 -> static 192.168.1.10:21 (ftp alg) [userspace]\n203.0.113.5:5500..5520 -> pool ftp [userspace]\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", code, out, want, errOut)
	}
	if !strings.Contains(errOut, "full-router.ios:73:22: warning: line ignored:") || !strings.Contains(errOut, "overload") {
		t.Errorf("the overload NAT line is not named in a warning:\n%s", errOut)
	}
	if code, _, errOut := runGatewayCmd(t, "--config", path, "--print-plan"); code != 2 || !strings.Contains(errOut, "full-router.ios:12:1") {
		t.Errorf("without --lenient: exit %d, %s", code, errOut)
	}
}
