package ios

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseString(src string, opts ParseOptions) (*Config, []Warning, error) {
	return Parse("t.ios", strings.NewReader(src), opts)
}

const header = "ip nat pool p 127.0.0.11 127.0.0.12 prefix-length 24 type rotary\n"

// TestParseForms parses one small file per statement form and checks the
// part of the model that the form produces.
func TestParseForms(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		opts  ParseOptions
		check func(t *testing.T, c *Config)
	}{
		{
			name: "interface blocks",
			src: `interface GigabitEthernet 0/0
 description outside link
 ip address 127.0.0.2 255.0.0.0
 ip address 192.0.2.1 255.255.255.0 secondary
 ip nat outside
 no shutdown
interface Gi0/1
 ip address 127.0.0.11 255.255.255.0
 ip nat inside
 shutdown
 exit
ip nat inside source static tcp 127.0.0.11 21 127.0.0.2 21
`,
			check: func(t *testing.T, c *Config) {
				if len(c.Interfaces) != 2 {
					t.Fatalf("interfaces = %d", len(c.Interfaces))
				}
				o := c.Interfaces[0]
				if o.Name != "GigabitEthernet0/0" || o.NAT != "outside" || o.Description != "outside link" ||
					len(o.Addresses) != 2 || o.Addresses[0] != netip.MustParsePrefix("127.0.0.2/8") || o.Shutdown {
					t.Errorf("outside = %+v", o)
				}
				if i := c.Interfaces[1]; i.NAT != "inside" || !i.Shutdown || i.Addresses[0].Bits() != 24 {
					t.Errorf("inside = %+v", i)
				}
			},
		},
		{
			name: "pool netmask and prefix-length",
			src: `ip nat pool a 127.0.0.11 127.0.0.12 netmask 255.255.255.0 type rotary
IP NAT POOL b 127.0.0.13 127.0.0.13 prefix-length 32 TYPE ROTARY
access-list 100 permit tcp any host 127.0.0.2 eq 21
access-list 101 permit tcp any host 127.0.0.2 eq 22
ip nat inside destination list 100 pool a
ip nat inside destination list 101 pool b
`,
			check: func(t *testing.T, c *Config) {
				a, b := c.Pools[0], c.Pools[1]
				if a.PrefixLen != 24 || a.Type != "rotary" || len(a.Members()) != 2 || a.Members()[1] != netip.MustParseAddr("127.0.0.12") {
					t.Errorf("pool a = %+v members %v", a, a.Members())
				}
				if b.Name != "b" || b.PrefixLen != 32 || len(b.Members()) != 1 {
					t.Errorf("pool b = %+v", b)
				}
			},
		},
		{
			name: "numbered ACL with remark and every port operator",
			src: header + `access-list 2001 remark passive range
access-list 2001 deny tcp host 192.0.2.9 host 127.0.0.2 eq ftp
access-list 2001 permit tcp 192.0.2.0 0.0.0.255 gt 1023 host 127.0.0.2 range 5500 5502
access-list 2001 permit tcp any neq 25 host 127.0.0.2 lt 3
access-list 2001 permit tcp any lt 1024 host 127.0.0.2 eq ftp-data www 8080
ip nat inside destination list 2001 pool p
`,
			check: func(t *testing.T, c *Config) {
				acl := c.ACLs[0]
				if acl.Name != "2001" || !acl.Numbered || len(acl.Remarks) != 1 || acl.Remarks[0] != "passive range" || len(acl.Entries) != 4 {
					t.Fatalf("acl = %+v", acl)
				}
				e := acl.Entries[1]
				if e.Seq != 20 || e.Source.String() != "192.0.2.0 0.0.0.255" || e.SourcePort.String() != "gt 1023" || e.DestPort.String() != "range 5500 5502" {
					t.Errorf("entry 2 = %+v", e)
				}
				if got := acl.Entries[3].DestPort; got.Op != "eq" || len(got.Ports) != 3 || got.Ports[0] != 20 || got.Ports[1] != 80 {
					t.Errorf("entry 4 ports = %+v", got)
				}
				if acl.Entries[0].Action != Deny || acl.Entries[0].DestPort.Ports[0] != 21 {
					t.Errorf("entry 1 = %+v", acl.Entries[0])
				}
			},
		},
		{
			name: "named ACL with sequence numbers, remark and exit",
			src: header + `ip access-list extended FTP
 remark control and data
 20 permit tcp any host 127.0.0.2 eq 2121
 10 deny tcp host 192.0.2.7 host 127.0.0.2 eq 2121
 permit tcp any host 127.0.0.2 range 5500 5501
 exit
ip nat inside destination list FTP pool p
`,
			check: func(t *testing.T, c *Config) {
				acl := c.ACLs[0]
				if acl.Numbered || acl.Name != "FTP" || len(acl.Entries) != 3 {
					t.Fatalf("acl = %+v", acl)
				}
				if acl.Entries[0].Seq != 10 || acl.Entries[0].Action != Deny || acl.Entries[1].Seq != 20 || acl.Entries[2].Seq != 30 {
					t.Errorf("order = %d %d %d", acl.Entries[0].Seq, acl.Entries[1].Seq, acl.Entries[2].Seq)
				}
				r := c.DestinationRules[0]
				if r.ACL != "FTP" || r.Pool != "p" {
					t.Errorf("rule = %+v", r)
				}
			},
		},
		{
			name: "static maps",
			src: `ip nat inside source static tcp 127.0.0.1 2121 127.0.0.2 21 extendable
ip nat inside source static tcp 127.0.0.1 ftp 127.0.0.3 ftp
`,
			check: func(t *testing.T, c *Config) {
				s := c.StaticMaps[0]
				if s.Local != netip.MustParseAddrPort("127.0.0.1:2121") || s.Global != netip.MustParseAddrPort("127.0.0.2:21") || !s.Extendable {
					t.Errorf("static = %+v", s)
				}
				if c.StaticMaps[1].Global.Port() != 21 || c.StaticMaps[1].Extendable {
					t.Errorf("static 2 = %+v", c.StaticMaps[1])
				}
			},
		},
		{
			name: "timeouts and defaults",
			src: `ip nat translation tcp-timeout 3600
ip nat translation finrst-timeout never
`,
			check: func(t *testing.T, c *Config) {
				if c.Timeouts.TCP.Duration().Seconds() != 3600 || !c.Timeouts.FinRst.Never || c.Timeouts.FinRst.Duration() != 0 {
					t.Errorf("timeouts = %+v", c.Timeouts)
				}
				if c.Timeouts.Syn.Seconds != DefaultSynTimeout {
					t.Errorf("syn default = %+v", c.Timeouts.Syn)
				}
			},
		},
		{
			name: "syn-timeout",
			src:  "ip nat translation syn-timeout 5\n",
			check: func(t *testing.T, c *Config) {
				if c.Timeouts.Syn.Seconds != 5 || c.Timeouts.TCP.Seconds != DefaultTCPTimeout {
					t.Errorf("timeouts = %+v", c.Timeouts)
				}
			},
		},
		{
			name: "rotary extensions",
			src: header + `access-list 100 permit tcp any host 127.0.0.2 eq 21
ip nat inside destination list 100 pool p
ip nat inside source static tcp 127.0.0.1 2121 127.0.0.2 2121
ip nat inside source static tcp 127.0.0.1 2122 127.0.0.2 2122
rotary proxy-protocol v2 pool p
rotary proxy-protocol v2 static 127.0.0.2 2122
rotary health-check interval 2
`,
			check: func(t *testing.T, c *Config) {
				if len(c.Rotary.ProxyProtocol) != 2 || c.Rotary.HealthInterval().Seconds() != 2 {
					t.Errorf("rotary = %+v", c.Rotary)
				}
				plan, _ := c.Plan()
				want := "127.0.0.2:21 -> pool p (proxy-protocol v2)\n127.0.0.2:2121 -> static 127.0.0.1:2121\n127.0.0.2:2122 -> static 127.0.0.1:2122 (proxy-protocol v2)\n"
				if plan.String() != want {
					t.Errorf("plan =\n%s\nwant\n%s", plan, want)
				}
			},
		},
		{
			name: "health-check off, comments, blank lines, CRLF",
			src:  "! a comment\r\n\r\n   ! indented comment\r\nrotary health-check off\r\nend\r\n",
			check: func(t *testing.T, c *Config) {
				if c.Rotary.HealthInterval() != 0 {
					t.Errorf("health = %+v", c.Rotary.HealthCheck)
				}
			},
		},
		{
			name: "strict mode turns health checks off",
			src:  "ip nat translation tcp-timeout 10\n",
			opts: ParseOptions{Strict: true},
			check: func(t *testing.T, c *Config) {
				if c.Rotary.HealthInterval() != 0 || !c.Rotary.Strict {
					t.Errorf("strict = %+v", c.Rotary)
				}
			},
		},
		{
			name: "lenient skips unknown lines and blocks",
			src: `hostname R1
router ospf 1
 network 10.0.0.0 0.0.0.255 area 0
interface Gi0/0
 ip address 127.0.0.2 255.0.0.0
 ip nat outside
 duplex auto
ip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21
interface Gi0/1
 ip address 127.0.0.1 255.255.255.255
 ip nat inside
`,
			opts: ParseOptions{Lenient: true},
			check: func(t *testing.T, c *Config) {
				if len(c.Interfaces) != 2 || len(c.StaticMaps) != 1 {
					t.Errorf("model = %+v", c)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := parseString(tc.src, tc.opts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.check(t, c)
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("model does not marshal: %v", err)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	_, ws, err := parseString("hostname R1\n ip something\n"+header+"access-list 100 permit tcp any host 127.0.0.2 eq 21\n"+
		"access-list 101 deny tcp any host 127.0.0.2 eq 22\naccess-list 101 permit tcp any host 127.0.0.2 eq 22\nip nat inside destination list 101 pool p\n", ParseOptions{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, w := range ws {
		msgs = append(msgs, w.String())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`t.ios:1:1: warning: unknown command "hostname R1": line ignored`,
		"access list 100 is not used",
		"t.ios:7:1: warning: access list 101 denies every destination it names: this rule opens no listener",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "ip something") {
		t.Errorf("indented line of a skipped block was reported:\n%s", all)
	}
}

// TestParseErrors checks position, token and message of each kind of bad input.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		opts      ParseOptions
		want      string // the whole Error() text
	}{
		{"match-host", "ip nat pool p 127.0.0.1 127.0.0.1 prefix-length 32 type match-host\n",
			ParseOptions{}, `t.ios:1:57: unexpected "match-host": expected "rotary" (type match-host is not supported by the gateway)`},
		{"missing type", "ip nat pool p 127.0.0.1 127.0.0.1 netmask 255.255.255.255\n",
			ParseOptions{}, `t.ios:1:58: unexpected end of line: expected "type rotary" (a pool without a type is not supported by the gateway: it runs rotary pools for ip nat inside destination)`},
		{"bad mask", "ip nat pool p 127.0.0.1 127.0.0.1 netmask 255.0.255.0 type rotary\n",
			ParseOptions{}, `t.ios:1:43: unexpected "255.0.255.0": expected a netmask (contiguous, like 255.255.255.0)`},
		{"pool outside its network", "ip nat pool p 127.0.0.1 127.0.1.1 prefix-length 24 type rotary\n",
			ParseOptions{}, `t.ios:1:25: unexpected "127.0.1.1": expected an end address in 127.0.0.0/24 (a pool's addresses must share one network)`},
		{"unknown line", "! ok\nhostname R1\n",
			ParseOptions{}, `t.ios:2:1: unexpected "hostname": expected "interface", "ip", "access-list", "rotary" or "!"`},
		{"unknown ip command", "ip route 0.0.0.0 0.0.0.0 192.0.2.1\n",
			ParseOptions{}, `t.ios:1:1: unexpected "ip": expected "ip nat" or "ip access-list"`},
		{"unlistable ACL any", header + "access-list 100 permit tcp any any eq 21\nip nat inside destination list 100 pool p\n",
			ParseOptions{}, `t.ios:2:32: unexpected "any": expected host A or A WILDCARD (the gateway listens on concrete addresses and ports, so access list 100 (used on line 3) must name a finite set of destinations)`},
		{"unlistable ACL gt", header + "access-list 100 permit tcp any host 127.0.0.2 gt 1023\nip nat inside destination list 100 pool p\n",
			ParseOptions{}, `t.ios:2:47: unexpected "gt": expected eq, range or lt naming the destination ports ("gt" has no upper bound; name the ports with eq, range or lt; the gateway listens on concrete addresses and ports, so access list 100 (used on line 3) must name a finite set of destinations)`},
		{"unlistable ACL no port", header + "ip access-list extended X\n permit tcp any host 127.0.0.2\nip nat inside destination list X pool p\n",
			ParseOptions{}, `t.ios:3:31: unexpected end of line: expected eq, range or lt naming the destination ports (no destination port operator means every port; name the ports with eq, range or lt; the gateway listens on concrete addresses and ports, so access list X (used on line 4) must name a finite set of destinations)`},
		{"udp", "access-list 100 permit udp any host 127.0.0.2 eq 21\n",
			ParseOptions{}, `t.ios:1:24: unexpected "udp": expected "tcp" (the gateway forwards TCP only)`},
		{"standard ACL", "access-list 10 permit any\n",
			ParseOptions{}, `t.ios:1:13: unexpected "10": expected an extended access list number (100-199, 2000-2699) (standard access lists match sources only; the gateway needs destinations)`},
		{"bad port", "access-list 100 permit tcp any host 127.0.0.2 eq 70000\n",
			ParseOptions{}, `t.ios:1:50: unexpected "70000": expected a port number (0-65535) or name (ftp, ftp-data, www, ...)`},
		{"range reversed", "access-list 100 permit tcp any host 127.0.0.2 range 10 5\n",
			ParseOptions{}, `t.ios:1:56: unexpected "5": expected an upper port not below 10`},
		{"trailing token", "access-list 100 permit tcp any host 127.0.0.2 eq 21 log\n",
			ParseOptions{}, `t.ios:1:53: unexpected "log": expected end of line`},
		{"unindented entry", "ip access-list extended X\npermit tcp any host 127.0.0.2 eq 21\n",
			ParseOptions{}, `t.ios:2:1: unexpected "permit": expected a global command ("interface", "ip", "access-list", "rotary" or "!") (access-list entries must be indented under ip access-list extended NAME)`},
		{"indented without block", " ip nat outside\n",
			ParseOptions{}, `t.ios:1:2: unexpected "ip": expected a global command at the start of the line (indented lines belong to an interface or ip access-list extended block)`},
		{"source NAT", "ip nat inside source list 1 interface Gi0/0 overload\n",
			ParseOptions{Lenient: true}, `t.ios:1:22: unexpected "list": expected "static" (source NAT (list, route-map) translates inside clients going out; not supported by the gateway)`},
		{"static without tcp", "ip nat inside source static 127.0.0.1 127.0.0.2\n",
			ParseOptions{}, `t.ios:1:29: unexpected "127.0.0.1": expected "tcp" (the gateway forwards TCP ports: use static tcp LOCAL LPORT GLOBAL GPORT)`},
		{"duplicate static", "ip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\nip nat inside source static tcp 127.0.0.3 21 127.0.0.2 21\n",
			ParseOptions{}, `t.ios:2:56: unexpected "21": expected an inside global address and port not yet mapped (127.0.0.2:21 is already mapped on line 1)`},
		{"udp-timeout", "ip nat translation udp-timeout 30\n",
			ParseOptions{}, `t.ios:1:20: unexpected "udp-timeout": expected "tcp-timeout", "finrst-timeout" or "syn-timeout" (the other translation settings do not apply to a TCP gateway)`},
		{"bad timeout", "ip nat translation tcp-timeout soon\n",
			ParseOptions{}, `t.ios:1:32: unexpected "soon": expected a number of seconds (1-2147483) or "never"`},
		{"undefined pool", "access-list 100 permit tcp any host 127.0.0.2 eq 21\nip nat inside destination list 100 pool nope\n",
			ParseOptions{}, `t.ios:2:41: unexpected "nope": expected a pool defined in this file`},
		{"undefined ACL", header + "ip nat inside destination list 150 pool p\n",
			ParseOptions{}, `t.ios:2:32: unexpected "150": expected an access list defined in this file`},
		{"two rules one port", header + "access-list 100 permit tcp any host 127.0.0.2 eq 21\nip nat inside destination list 100 pool p\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n",
			ParseOptions{}, `t.ios:3:1: unexpected "127.0.0.2:21": expected an outside address and port no other rule uses (127.0.0.2:21 is already taken by ip nat inside source static (line 4))`},
		{"rotary in strict mode", "rotary health-check off\n",
			ParseOptions{Strict: true}, `t.ios:1:1: unexpected "rotary": expected an IOS command (Rotary extensions are off in strict IOS mode)`},
		{"proxy-protocol unknown pool", "rotary proxy-protocol v2 pool nope\n",
			ParseOptions{}, `t.ios:1:31: unexpected "nope": expected a pool defined in this file`},
		{"proxy-protocol v1", "rotary proxy-protocol v1 pool p\n",
			ParseOptions{}, `t.ios:1:23: unexpected "v1": expected "v2"`},
		{"interface mismatch", "interface Gi0/0\n ip address 192.0.2.1 255.255.255.0\n ip nat outside\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n",
			ParseOptions{}, `t.ios:4:1: unexpected "127.0.0.2": expected an address on an interface with ip nat outside (the gateway listens on outside addresses; add it to an outside interface or remove the interface blocks)`},
		{"pool not inside", "interface Gi0/1\n ip address 127.0.0.1 255.255.255.0\n ip nat inside\nip nat pool p 127.0.0.1 127.0.1.1 prefix-length 16 type rotary\n",
			ParseOptions{}, `t.ios:4:1: unexpected "127.0.1.1": expected an address on an interface with ip nat inside (pool members are inside hosts)`},
		{"static local not inside", "interface Gi0/1\n ip address 127.0.0.1 255.255.255.0\n ip nat outside\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n",
			ParseOptions{}, `t.ios:4:1: unexpected "127.0.0.1": expected an address on an interface with ip nat inside (the inside local address is an inside host)`},
		{"duplicate sequence", "ip access-list extended X\n 10 permit tcp any host 127.0.0.2 eq 1\n 10 permit tcp any host 127.0.0.2 eq 2\n",
			ParseOptions{}, `t.ios:3:2: unexpected "10": expected an unused sequence number (entry 10 is already on line 2)`},
		{"too many listeners", header + "access-list 100 permit tcp any host 127.0.0.2 range 1 65535\nip nat inside destination list 100 pool p\n",
			ParseOptions{}, `t.ios:2:47: unexpected "range": expected at most 4096 destination ports and addresses (each outside address and port is one listening socket)`},
		{"long line", strings.Repeat("!", MaxLineBytes+1),
			ParseOptions{}, `t.ios:1:4097: line longer than 4096 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseString(tc.src, tc.opts)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *ios.Error: %v", err, err)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

// TestExamples parses the shared example files (copied into testdata) and
// checks the plan they produce.
func TestExamples(t *testing.T) {
	want := map[string]string{
		"seed-single-server.ios": "127.0.0.2:2121 -> static 127.0.0.1:2121\n127.0.0.2:5500..5520 -> pool ftp\n",
		"two-servers-rotary.ios": "127.0.0.2:2121 -> pool ftp-ctl\n127.0.0.2:5500..5510 -> pool ftp-a\n127.0.0.2:5511..5520 -> pool ftp-b\n",
	}
	dirs := []string{"testdata", filepath.Join("..", "..", "..", "..", "shared", "examples")}
	for _, dir := range dirs {
		for name, plan := range want {
			path := filepath.Join(dir, name)
			f, err := os.Open(path)
			if errors.Is(err, os.ErrNotExist) && dir != "testdata" {
				continue // the shared folder is beside the checkout only on developer machines and CI
			}
			if err != nil {
				t.Fatal(err)
			}
			c, ws, err := Parse(path, f, ParseOptions{})
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if len(ws) != 0 {
				t.Errorf("%s: warnings %v", path, ws)
			}
			p, err := c.Plan()
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != plan {
				t.Errorf("%s plan:\n%s\nwant:\n%s", path, p, plan)
			}
		}
	}
}

// TestPlanFirstMatch checks ACL evaluation: first match, implicit deny, and
// per-source filtering when only some sources are permitted.
func TestPlanFirstMatch(t *testing.T) {
	src := header + `ip access-list extended X
 deny tcp any host 127.0.0.2 eq 5501
 permit tcp any host 127.0.0.2 range 5500 5503
 deny tcp host 192.0.2.9 host 127.0.0.2 eq 5502
 permit tcp host 192.0.2.1 host 127.0.0.2 eq 5504
 deny tcp host 192.0.2.9 host 127.0.0.2 eq 5503
ip nat inside destination list X pool p
`
	c, _, err := parseString(src, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Plan()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint16]Listener{}
	for _, l := range p.Listeners {
		got[l.Address.Port()] = l
	}
	if _, ok := got[5501]; ok {
		t.Error("5501 is denied first but has a listener")
	}
	for _, port := range []uint16{5500, 5502, 5503} {
		if l, ok := got[port]; !ok || l.Filter != nil {
			t.Errorf("%d: listener %+v, want one without filter (permit any matched first)", port, l)
		}
	}
	l, ok := got[5504]
	if !ok || l.Filter == nil {
		t.Fatalf("5504: %+v, want a filtered listener", l)
	}
	if !l.Permits(netip.MustParseAddrPort("192.0.2.1:40000")) || l.Permits(netip.MustParseAddrPort("192.0.2.2:40000")) {
		t.Error("5504 filter: want only 192.0.2.1 permitted (implicit deny)")
	}
	if len(l.Members) != 2 {
		t.Errorf("members = %v", l.Members)
	}
}
