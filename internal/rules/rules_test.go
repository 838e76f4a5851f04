package rules

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/nat/forward"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
	"github.com/rotary-ftp/rotary/internal/passive"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// seed is the README's "Behind NAT" server: 192.168.1.10 behind a router
// whose outside address is 203.0.113.5.
func seed() config.Config {
	c := config.Defaults()
	c.Listen = []string{"192.168.1.10:21"}
	c.PassivePorts = passive.Range{Lo: 5500, Hi: 5520}
	c.PublicIP = "203.0.113.5"
	return c
}

// remapped is seed with public-passive-ports 6500-6520 and an implicit
// FTPS port.
func remapped() config.Config {
	c := seed()
	c.PublicPassivePorts = passive.Range{Lo: 6500, Hi: 6520}
	c.ImplicitTLSListen = []string{"192.168.1.10:990"}
	return c
}

func fromIOSText(t *testing.T, name, text string) *Model {
	t.Helper()
	c, _, err := ios.Parse(name, strings.NewReader(text), ios.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromIOS(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fromIOSFile(t *testing.T, path string) *Model {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fromIOSText(t, filepath.Base(path), string(text))
}

// filtered is an access list that decides by source: 10.0.0.0/8 may use
// the range except 10.1.2.3, everyone else only port 5500.
const filtered = `ip nat pool ftp 192.168.1.10 192.168.1.10 prefix-length 24 type rotary
ip access-list extended PASV
 deny tcp host 10.1.2.3 host 203.0.113.5 range 5500 5520
 permit tcp 10.0.0.0 0.255.255.255 host 203.0.113.5 range 5500 5520
 permit tcp any host 203.0.113.5 eq 5500
ip nat inside destination list PASV pool ftp
ip nat inside source static tcp 192.168.1.10 21 203.0.113.5 21
`

func seedModel(t *testing.T) *Model {
	m, err := FromSettings(seed(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGolden renders each model in each format it can and compares with
// testdata/NAME.FORMAT (go test ./internal/rules -update rewrites them).
// The README shows the seed's outputs.
func TestGolden(t *testing.T) {
	remap, err := FromSettings(remapped(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	models := []struct {
		name    string
		m       *Model
		formats []string
	}{
		{"seed", seedModel(t), Formats},
		{"remapped", remap, Formats},
		{"two-servers", fromIOSFile(t, "../nat/ios/testdata/two-servers-rotary.ios"), Formats},
		{"filtered", fromIOSText(t, "filtered.ios", filtered), []string{"ios", "nftables", "iptables", "pf"}},
	}
	for _, tt := range models {
		for _, format := range tt.formats {
			var got bytes.Buffer
			if err := Render(&got, tt.m, format, RenderOptions{OutsideIf: "em0"}); err != nil {
				t.Errorf("%s as %s: %v", tt.name, format, err)
				continue
			}
			path := filepath.Join("testdata", tt.name+"."+format)
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/rules -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s as %s differs from %s:\n%s", tt.name, format, path, got.String())
			}
		}
	}
}

// TestIOSRoundTrips: the ios output, parsed by the gateway's parser and
// planned by its userspace datapath, is the plan of the settings (or of the
// IOS file) it was rendered from: `rotary gateway --print-plan` of `rotary
// rules --format ios` lists the same forwarding.
func TestIOSRoundTrips(t *testing.T) {
	remap, err := FromSettings(remapped(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		m    *Model
	}{
		{"seed", seedModel(t)},
		{"remapped", remap},
		{"two servers", fromIOSFile(t, "../nat/ios/testdata/two-servers-rotary.ios")},
		{"seed file", fromIOSFile(t, "../nat/ios/testdata/seed-single-server.ios")},
		{"filtered", fromIOSText(t, "filtered.ios", filtered)},
	} {
		var out bytes.Buffer
		if err := Render(&out, tt.m, "ios", RenderOptions{}); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		c, _, err := ios.Parse("rendered.ios", &out, ios.ParseOptions{Strict: true})
		if err != nil {
			t.Fatalf("%s: the ios output does not parse: %v\n%s", tt.name, err, out.String())
		}
		rules, err := forward.Compile(c)
		if err != nil {
			t.Fatalf("%s: the gateway cannot run the ios output: %v", tt.name, err)
		}
		var got, want []string
		for _, l := range rules.Plan() {
			// The model is forwards only; the ALG on port 21 is the
			// router's service (on by default on IOS too), not a forward.
			l.Line, l.Datapath, l.FTPALG = 0, DatapathName, false
			got = append(got, l.String())
		}
		for _, l := range tt.m.Plan() {
			l.Line = 0
			want = append(want, l.String())
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || len(want) == 0 {
			t.Errorf("%s: the gateway's plan of the ios output:\n%s\nthe model's plan:\n%s", tt.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestPlanOfIOSFileIsTheGatewaysPlan: FromIOS reads a file as the gateway
// does, for the files the gateway can run.
func TestPlanOfIOSFileIsTheGatewaysPlan(t *testing.T) {
	for _, path := range []string{"../nat/ios/testdata/seed-single-server.ios", "../nat/ios/testdata/two-servers-rotary.ios"} {
		text, _ := os.ReadFile(path)
		c, _, err := ios.Parse(path, bytes.NewReader(text), ios.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules, err := forward.Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		m, err := FromIOS(c)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, l := range m.Plan() {
			got = append(got, l.String())
		}
		for _, l := range rules.Plan() {
			l.Datapath = DatapathName
			want = append(want, l.String())
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: model plan\n%s\ngateway plan\n%s", path, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestErrors: what cannot be rendered faithfully is one error naming the
// setting or the IOS position, and nothing is written.
func TestErrors(t *testing.T) {
	withPublic := func(ip string) config.Config { c := seed(); c.PublicIP = ip; return c }
	anyListen := seed()
	anyListen.Listen = []string{"0.0.0.0:21", "[::]:21"}
	sizes := seed()
	sizes.PublicPassivePorts = passive.Range{Lo: 6500, Hi: 6510}
	clash := seed()
	clash.Listen = []string{"192.168.1.10:5510"}
	tests := []struct {
		name   string
		cfg    config.Config
		opts   Options
		ios    string
		format string
		ropts  RenderOptions
		want   string
	}{
		{name: "unknown format", cfg: seed(), format: "cisco", want: "--format cisco: unknown format: want one of ios, nftables, iptables, pf, netsh"},
		{name: "host name as --outside-ip for pf", cfg: seed(), opts: Options{OutsideIP: "ftp.example.org"}, format: "pf", ropts: RenderOptions{OutsideIf: "em0"},
			want: "--outside-ip ftp.example.org: pf: not an IPv4 address"},
		{name: "pf needs the interface", cfg: seed(), format: "pf", want: "--outside-if: pf: rdr rules name the interface"},
		{name: "host name public-ip for ios", cfg: withPublic("ftp.example.org"), format: "ios", want: "public-ip ftp.example.org: not an IPv4 address: ip nat statements name the outside"},
		{name: "host name public-ip for nftables without an interface", cfg: withPublic("ftp.example.org"), format: "nftables",
			want: "public-ip ftp.example.org: not an IPv4 address: the DNAT rules match the outside address (or give --outside-if NAME"},
		{name: "host name --outside-ip for nftables even with an interface", cfg: seed(), opts: Options{OutsideIP: "ftp.example.org"}, format: "nftables",
			ropts: RenderOptions{OutsideIf: "eth0"}, want: "--outside-ip ftp.example.org: nftables matches the outside address: want an IPv4 address"},
		{name: "no outside address for iptables", cfg: withPublic(""), format: "iptables", want: "--outside-ip: iptables: the DNAT rules match the outside address"},
		{name: "IPv6 public-ip", cfg: withPublic("2001:db8::1"), format: "nftables", want: "public-ip 2001:db8::1: not an IPv4 address"},
		{name: "bad --inside-ip", cfg: seed(), opts: Options{InsideIP: "server"}, format: "ios", want: "--inside-ip server: not an IPv4 address"},
		{name: "listen on every address", cfg: anyListen, format: "ios", want: "listen 0.0.0.0:21: names no IPv4 address of the server"},
		{name: "ranges of different sizes", cfg: sizes, format: "ios", want: "public-passive-ports 6500-6510: 11 ports, but passive-ports 5500-5520 has 21"},
		{name: "control port inside the range", cfg: clash, format: "ios", want: "passive-ports 5500-5520: port 5510 is also a control port"},
		{name: "DST any", ios: "ip nat pool p 10.0.0.1 10.0.0.1 prefix-length 24 type rotary\naccess-list 100 permit tcp any any range 5500 5520\nip nat inside destination list 100 pool p\n",
			format: "nftables", want: "x.ios:2:32: unexpected \"any\": expected host A or A WILDCARD"},
		{name: "proxy protocol for nftables", ios: "ip nat pool p 10.0.0.1 10.0.0.1 prefix-length 24 type rotary\naccess-list 100 permit tcp any host 1.2.3.4 range 5500 5520\nip nat inside destination list 100 pool p\nrotary proxy-protocol v2 pool p\n",
			format: "nftables", want: "x.ios:3:1: nftables cannot send a PROXY v2 header"},
		{name: "non-contiguous source for pf", ios: "ip nat pool p 10.0.0.1 10.0.0.1 prefix-length 24 type rotary\naccess-list 100 permit tcp 10.0.0.1 0.255.0.255 host 1.2.3.4 range 5500 5520\nip nat inside destination list 100 pool p\n",
			format: "pf", ropts: RenderOptions{OutsideIf: "em0"}, want: "x.ios:2:1: unexpected \"10.0.0.0 0.255.0.255\" (pf matches source prefixes"},
		{name: "non-contiguous source for iptables", ios: "ip nat pool p 10.0.0.1 10.0.0.1 prefix-length 24 type rotary\naccess-list 100 permit tcp 10.0.0.1 0.255.0.255 host 1.2.3.4 range 5500 5520\nip nat inside destination list 100 pool p\n",
			format: "iptables", want: "x.ios:2:1: unexpected \"10.0.0.0 0.255.0.255\" (iptables matches source prefixes"},
		{name: "deny before permit for netsh", ios: filtered, format: "netsh", want: "x.ios:3:2: unexpected \"deny\" (netsh: Windows Firewall rules have no order"},
		{name: "two rules claim a port", ios: filtered + "ip nat inside source static tcp 192.168.1.10 5500 203.0.113.5 5500\n", format: "ios",
			want: "x.ios:6:1: unexpected \"203.0.113.5:5500\": expected an outside address and port no other rule uses (203.0.113.5:5500 is already forwarded by line 8)"},
	}
	for _, tt := range tests {
		var m *Model
		var err error
		if tt.ios != "" {
			c, _, perr := ios.Parse("x.ios", strings.NewReader(tt.ios), ios.ParseOptions{})
			if perr != nil {
				t.Fatalf("%s: %v", tt.name, perr)
			}
			m, err = FromIOS(c)
		} else {
			m, err = FromSettings(tt.cfg, tt.opts)
		}
		var out bytes.Buffer
		if err == nil {
			err = Render(&out, m, tt.format, tt.ropts)
		}
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want prefix %q", tt.name, err, tt.want)
		}
		var re *Error
		var ie *ios.Error
		if err != nil && !errors.As(err, &re) && !errors.As(err, &ie) {
			t.Errorf("%s: %T is neither a rules.Error nor an ios.Error", tt.name, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: wrote %d bytes before failing", tt.name, out.Len())
		}
	}
}

// TestDefaults: --inside-ip and --outside-ip override the listen address
// and public-ip; 0.0.0.0 and [::] listeners of one port are one forward.
func TestDefaults(t *testing.T) {
	c := seed()
	c.Listen = []string{"0.0.0.0:21", "[::]:21"}
	c.PublicIP = "ftp.example.org"
	m, err := FromSettings(c, Options{InsideIP: "192.168.1.20", OutsideIP: "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range m.Forwards {
		got = append(got, f.Describe(m))
	}
	want := []string{"198.51.100.7:21 -> 192.168.1.20:21", "198.51.100.7:5500-5520 -> 192.168.1.20:5500-5520"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("forwards:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
