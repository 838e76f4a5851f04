package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/passive"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rotary.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"reversed range", "root = \"/srv\"\n\n# passive\n\n\n\npassive-ports = \"6000-5000\"\n",
			"rotary.toml:7: passive-ports: 6000-5000: low end above high end"},
		{"unknown key", "listen = [\":21\"]\npasive-ports = \"5500-5520\"\n",
			"rotary.toml:2: pasive-ports: unknown key (did you mean passive-ports?)"},
		{"wrong type", "max-conns = \"many\"\n", "rotary.toml:1: max-conns: many: want a whole number, 0 or more"},
		{"negative", "max-conns = -1\n", "rotary.toml:1: max-conns: -1: want a whole number, 0 or more"},
		{"list for a single value", "root = [\"a\", \"b\"]\n", "rotary.toml:1: root: want a single value, not a list"},
		{"bad override", "passive-ip-override = [\"10.0.0.0/8=local\", \"10.0.0.0/8\"]\n",
			"rotary.toml:1: passive-ip-override: 10.0.0.0/8: want CIDR=IP or CIDR=local"},
		{"bad duration", "idle-timeout = \"soon\"\n", "rotary.toml:1: idle-timeout: soon: want a duration such as 90s, 5m or 1h"},
		{"table", "[users]\nalice = 1\n", "rotary.toml:1: users: unknown key"},
		{"syntax", "root = \"/srv\"\nlisten = [\":21\"\n", "rotary.toml:2: "},
		{"bad listen", "listen = [\"example.org:21\"]\n", "rotary.toml:1: listen: example.org:21: \"example.org\" is not an IP address"},
		{"admin not an address", "admin-listen = \"2181\"\n", "rotary.toml:1: admin-listen: 2181: want HOST:PORT"},
		{"bad enum", "log-format = \"xml\"\n", "rotary.toml:1: log-format: xml: want one of text, json"},
		{"config in config", "config = \"other.toml\"\n", "rotary.toml:1: config: a config file cannot name another config file"},
	}
	for _, tt := range tests {
		c := Defaults()
		err := LoadFile(writeConfig(t, tt.text), &c)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want prefix %q", tt.name, err, tt.want)
		}
	}
}

func TestFileAndFlags(t *testing.T) {
	path := writeConfig(t, `# Rotary
listen = ["127.0.0.1:2121", "[::1]:2121"]
root = "/srv/ftp"
passive-ports = "5500-5520"
public-ip = "ftp.example.org"
passive-ip-override = ["10.0.0.0/8=local", "192.168.0.0/16=192.168.1.1"]
idle-timeout = "10m"
login-timeout = 30
data-timeout = "2m"
max-conns = 100
anonymous = true
ban-after = 5
log-format = "json"
`)
	c, _, err := Parse("serve", "", []string{"--config", path, "--max-conns", "7", "--listen", "127.0.0.3:21"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.PassivePorts != (passive.Range{Lo: 5500, Hi: 5520}) || c.PublicIP != "ftp.example.org" || c.Root != "/srv/ftp" {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.MaxConns != 7 {
		t.Errorf("flag did not override the file: max-conns %d", c.MaxConns)
	}
	if len(c.Listen) != 1 || c.Listen[0] != "127.0.0.3:21" {
		t.Errorf("a listen flag should replace the file's list: %v", c.Listen)
	}
	if len(c.PassiveIPOverride) != 2 || !c.PassiveIPOverride[0].Local {
		t.Errorf("overrides %+v", c.PassiveIPOverride)
	}
	if c.IdleTimeout != 10*time.Minute || c.LoginTimeout != 30*time.Second || c.DataTimeout != 2*time.Minute {
		t.Errorf("durations %v %v %v", c.IdleTimeout, c.LoginTimeout, c.DataTimeout)
	}
	if !c.Anonymous || c.AnonymousRoot != "/srv/ftp" || c.BanAfter != 5 || c.LogFormat != "json" {
		t.Errorf("%+v", c)
	}
	if c.BanWindow != 10*time.Minute || c.BanFor != 30*time.Minute || c.LoginFailDelay != time.Second {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--passive-ports", "6000-5000"}, "invalid value \"6000-5000\" for flag -passive-ports: low end above high end"},
		{[]string{"--user", "alice"}, "want NAME:PASSWORD"},
		{[]string{"--nonsense"}, "flag provided but not defined: -nonsense"},
		{[]string{"stray"}, "unexpected argument \"stray\""},
		{[]string{"--config", "/nonexistent/rotary.toml"}, "config: open /nonexistent/rotary.toml"},
	}
	for _, tt := range tests {
		_, _, err := Parse("serve", "", tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestPublicPassivePorts: the announced range maps port for port onto
// passive-ports, so the two must have the same size; the error names the
// file and line of the key, or the flag.
func TestPublicPassivePorts(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want string // error prefix; "" for no error
		pub  passive.Range
	}{
		{name: "file", file: "passive-ports = \"5500-5520\"\npublic-passive-ports = \"6500-6520\"\n", pub: passive.Range{Lo: 6500, Hi: 6520}},
		{name: "flags", args: []string{"--passive-ports", "5500-5520", "--public-passive-ports", "6500-6520"}, pub: passive.Range{Lo: 6500, Hi: 6520}},
		{name: "unset", args: []string{"--passive-ports", "5500-5520"}},
		{name: "empty string unsets", file: "public-passive-ports = \"\"\n"},
		{name: "file sizes differ", file: "passive-ports = \"5500-5520\"\n\npublic-passive-ports = \"6500-6510\"\n",
			want: "rotary.toml:3: public-passive-ports: 6500-6510: 11 ports, but passive-ports 5500-5520 has 21: the two ranges map port for port"},
		{name: "flag sizes differ", args: []string{"--passive-ports", "5500-5520", "--public-passive-ports", "6500-6501"},
			want: "--public-passive-ports 6500-6501: 2 ports, but passive-ports 5500-5520 has 21"},
		{name: "flag overrides the file's passive-ports", file: "passive-ports = \"5500-5520\"\npublic-passive-ports = \"6500-6520\"\n",
			args: []string{"--passive-ports", "5500-5509"}, want: "rotary.toml:2: public-passive-ports: 6500-6520: 21 ports, but passive-ports 5500-5509 has 10"},
		{name: "reversed", file: "public-passive-ports = \"7000-6000\"\n", want: "rotary.toml:1: public-passive-ports: 7000-6000: low end above high end"},
	}
	for _, tt := range tests {
		args := tt.args
		if tt.file != "" {
			args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
		}
		c, _, err := Parse("serve", "", args, io.Discard)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want prefix %q", tt.name, err, tt.want)
		case tt.want == "" && c.PublicPassivePorts != tt.pub:
			t.Errorf("%s: public-passive-ports %v, want %v", tt.name, c.PublicPassivePorts, tt.pub)
		}
	}
}

// A non-loopback admin endpoint needs a token file; with one it is fine.
func TestAdminListenNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{name: "loopback", file: "admin-listen = \"127.0.0.1:2181\"\n"},
		{name: "all addresses", file: "root = \"x\"\nadmin-listen = \"0.0.0.0:2181\"\n",
			want: "rotary.toml:2: admin-listen: 0.0.0.0:2181: not a loopback address, and admin-token-file is not set"},
		{name: "flag", args: []string{"--admin-listen", "[::]:2181"}, want: "--admin-listen [::]:2181: not a loopback address, and admin-token-file is not set"},
		{name: "with token", file: "admin-listen = \"0.0.0.0:2181\"\nadmin-token-file = \"token\"\n"},
	} {
		args := tc.args
		if tc.file != "" {
			args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
		}
		c, _, err := Parse("serve", "", args, io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want prefix %q", tc.name, err, tc.want)
		case tc.name == "with token" && !filepath.IsAbs(c.AdminTokenFile):
			t.Errorf("admin-token-file %q: not taken relative to the config file", c.AdminTokenFile)
		}
	}
}

func TestEverySettingIsAFlagAndAKey(t *testing.T) {
	c := Defaults()
	for _, s := range settings {
		v := s.bind(&c)
		emptyDefault := map[string]bool{"public-ip": true, "anonymous-root": true, "users-file": true, "xferlog-file": true, "user": true,
			"passive-ip-override": true, "proxy-protocol-from": true, "tls-cert": true, "tls-key": true, "implicit-tls-listen": true,
			"public-passive-ports": true, "admin-token-file": true, "s3-credentials-file": true}
		if v.String() == "" && !emptyDefault[s.name] {
			t.Errorf("%s has no default shown", s.name)
		}
		if s.help == "" {
			t.Errorf("%s has no help", s.name)
		}
	}
	// The example files in the repository load and validate.
	for _, example := range []string{"examples/rotary.toml", "examples/rotary-windows.toml", "packaging/rotary.toml"} {
		path := filepath.Join("..", "..", filepath.FromSlash(example))
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: %v", example, err)
		}
		c := Defaults()
		if err := LoadFile(path, &c); err != nil {
			t.Errorf("%s: %v", example, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", example, err)
		}
	}
}

// FuzzLoad: no config file makes the loader panic; every error it gives
// is an *Error naming the file and, wherever the problem has one, its line;
// loading is deterministic; and a config that loads can be validated,
// whose errors name the file too.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("passive-ports = \"5500-5520\"\nlisten = [\":21\"]\n"))
	f.Add([]byte("max-conns = 3\nidle-timeout = \"5m\"\n"))
	f.Add([]byte("listen = []\nroot = \"\"\n"))
	f.Add([]byte("\"max-conns\" = 1\n[table]\nx = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c := Defaults()
		err := LoadFile(path, &c)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz.toml" {
				t.Fatalf("error %q (%T) does not name fuzz.toml", err, err)
			}
			if e.Key != "" && e.Line <= 0 {
				t.Fatalf("error %q about a key has no line", err)
			}
			return
		}
		again := Defaults()
		if err := LoadFile(path, &again); err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("a second load differs: %v", err)
		}
		if err := c.Validate(); err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz.toml" {
				t.Fatalf("Validate error %q (%T) does not name fuzz.toml", err, err)
			}
		}
	})
}

func TestRelativePathsFollowTheFile(t *testing.T) {
	path := writeConfig(t, "root = \"ftp\"\nusers-file = \"users.toml\"\nxferlog-file = \"/var/log/x\"\n")
	c := Defaults()
	if err := LoadFile(path, &c); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if c.Root != filepath.Join(dir, "ftp") || c.UsersFile != filepath.Join(dir, "users.toml") || c.XferlogFile != "/var/log/x" {
		t.Fatalf("root %q users-file %q xferlog %q", c.Root, c.UsersFile, c.XferlogFile)
	}
	// A relative path given as a flag stays relative to the working folder.
	c2, _, err := Parse("serve", "", []string{"--config", path, "--root", "here"}, io.Discard)
	if err != nil || c2.Root != "here" {
		t.Fatalf("flag root %q, %v", c2.Root, err)
	}
}

func TestTOMLUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:      "plain",
		`a\tb`:       "a\tb",
		`\e`:         "\x1b",
		`\x41\u00e9`: "Aé",
		`\U0001F600`: "\U0001F600",
		`\"q\"\\`:    `"q"\`,
		`\q`:         `\q`,
		`\u12`:       `\u12`,
		`trailing\`:  `trailing\`,
	} {
		if got := tomlUnescape(in); got != want {
			t.Errorf("tomlUnescape(%q) = %q, want %q", in, got, want)
		}
	}
}
