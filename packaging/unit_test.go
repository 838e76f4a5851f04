// Package packaging holds what installs Rotary as a service: the systemd
// unit (rotary.service); its tests check the unit's settings and, where
// systemd-analyze is installed, have systemd verify it.
package packaging

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unit reads a unit file into section -> key -> values.
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a unit line: %q", path, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestServiceUnit(t *testing.T) {
	u := unit(t, "rotary.service")
	svc := u["Service"]
	for _, tc := range []struct{ key, want string }{
		{"Type", "notify"},
		{"ExecStart", "/usr/local/bin/rotary serve --config /etc/rotary/rotary.toml"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
		{"User", "rotary"},
		{"ProtectSystem", "strict"},
		{"ReadWritePaths", "/srv/ftp"},
		{"StateDirectory", "rotary"},
		{"NoNewPrivileges", "yes"},
		{"AmbientCapabilities", "CAP_NET_BIND_SERVICE"},
		{"CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
	} {
		if got := svc[tc.key]; len(got) != 1 || got[0] != tc.want {
			t.Errorf("[Service] %s = %q, want %q", tc.key, got, tc.want)
		}
	}
	if got := u["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("[Install] WantedBy = %q", got)
	}
	// The server drains for 30 s; systemd must wait longer before SIGKILL.
	if got := svc["TimeoutStopSec"]; len(got) != 1 || got[0] != "45s" {
		t.Errorf("TimeoutStopSec = %q, want 45s (above the 30 s drain)", got)
	}
}

// systemd's own check of the unit, with the binary the tests run.
func TestServiceUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	bin := os.Getenv("ROTARY_BIN")
	if bin == "" {
		t.Skip("ROTARY_BIN is not set (scripts/test.sh sets it)")
	}
	data, err := os.ReadFile("rotary.service")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(bin)
	path := filepath.Join(t.TempDir(), "rotary.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/rotary", abs)), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
