package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runRulesCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = rulesMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestRulesIOSRoundTrip: `rotary gateway --print-plan` of `rotary rules
// --format ios` for the seed's server settings is the plan of the seed's
// own IOS file, and the IOS output of that file plans the same again.
func TestRulesIOSRoundTrip(t *testing.T) {
	seedFile := "../../internal/nat/ios/testdata/seed-single-server.ios"
	_, want, _ := runGatewayCmd(t, "--config", seedFile, "--print-plan")
	for _, args := range [][]string{
		{"--listen", "127.0.0.1:2121", "--public-ip", "127.0.0.2", "--passive-ports", "5500-5520"},
		{"--config", writeTOML(t, "listen = [\"127.0.0.1:2121\"]\npublic-ip = \"127.0.0.2\"\npassive-ports = \"5500-5520\"\n")},
		{"--from-ios", seedFile},
	} {
		code, out, errOut := runRulesCmd(append([]string{"--format", "ios"}, args...)...)
		if code != 0 {
			t.Fatalf("rules %v: exit %d: %s", args, code, errOut)
		}
		code, plan, errOut := runGatewayCmd(t, "--config", writeIOS(t, out), "--print-plan")
		if code != 0 || plan != want {
			t.Errorf("rules %v: gateway plan of the ios output (exit %d, %s):\n%s\nwant:\n%s", args, code, errOut, plan, want)
		}
	}
}

func writeTOML(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rotary.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRulesBadInput: each mistake is one line on stderr, exit status 2,
// and nothing on stdout.
func TestRulesBadInput(t *testing.T) {
	seed := []string{"--listen", "192.168.1.10:21", "--passive-ports", "5500-5520", "--public-ip", "203.0.113.5"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", append([]string{"--format", "cisco"}, seed...), "rotary rules: --format cisco: unknown format: want one of ios, nftables, iptables, pf, netsh"},
		{"no format", seed, "rotary rules: --format is required"},
		{"host name where an address is needed", append([]string{"--format", "pf", "--outside-if", "em0", "--outside-ip", "ftp.example.org"}, seed...),
			"rotary rules: --outside-ip ftp.example.org: pf: not an IPv4 address"},
		{"ranges of different sizes", append([]string{"--format", "nftables", "--public-passive-ports", "6500-6510"}, seed...),
			"rotary rules: --public-passive-ports 6500-6510: 11 ports, but passive-ports 5500-5520 has 21"},
		{"ranges of different sizes in a file", []string{"--format", "ios", "--config", writeTOML(t, "passive-ports = \"5500-5520\"\npublic-passive-ports = \"6500-6501\"\n")},
			"rotary rules: rotary.toml:2: public-passive-ports: 6500-6501: 2 ports"},
		{"serve flag with --from-ios", []string{"--format", "ios", "--from-ios", "x.ios", "--listen", "1.2.3.4:21"},
			"rotary rules: --from-ios renders the IOS file alone: --listen is a serve setting"},
		{"missing IOS file", []string{"--format", "ios", "--from-ios", filepath.Join(t.TempDir(), "none.ios")}, "rotary rules: open "},
		{"IOS error", []string{"--format", "nftables", "--from-ios", writeIOS(t, "ip nat pool p 10.0.0.1\n")}, "rotary rules: "},
		{"unknown flag", []string{"--format", "ios", "--nonsense"}, "rotary rules: flag provided but not defined: -nonsense"},
	}
	for _, tt := range tests {
		code, out, errOut := runRulesCmd(tt.args...)
		firstLine, _, _ := strings.Cut(errOut, "\n")
		if code != 2 || out != "" || !strings.HasPrefix(firstLine, tt.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.name, code, out, errOut, tt.want)
		}
		if strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: want one line on stderr, got %q", tt.name, errOut)
		}
	}
}

// TestRulesHelp: --help is rules' usage and its own flags, exit 0.
func TestRulesHelp(t *testing.T) {
	code, out, errOut := runRulesCmd("--help")
	if code != 0 || out != "" || !strings.Contains(errOut, "rotary rules --format FORMAT --from-ios FILE") ||
		!strings.Contains(errOut, "-outside-if NAME") || strings.Contains(errOut, "-ban-after") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
}
