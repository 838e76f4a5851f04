package ios

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
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
			name: "ftp alg services and off",
			src: `access-list 100 permit tcp any host 127.0.0.2 eq 2121
ip nat service list 100 ftp tcp port 2121
no ip nat service alg tcp ftp
ip nat inside source static tcp 127.0.0.11 2121 127.0.0.2 2121
`,
			check: func(t *testing.T, c *Config) {
				if !c.FTPALG.Off || len(c.FTPALG.Services) != 1 {
					t.Fatalf("ftp alg = %+v", c.FTPALG)
				}
				if sv := c.FTPALG.Services[0]; sv.ACL != "100" || sv.Port != 2121 || sv.Pos.Line != 2 {
					t.Errorf("service = %+v", sv)
				}
			},
		},
		{
			name: "rotary coordinate",
			src:  header + "rotary coordinate pool p passive-range 5500 5520 public-ip 203.0.113.7\nrotary proxy-protocol v2 pool p\n",
			check: func(t *testing.T, c *Config) {
				co := c.Rotary.CoordinateFor("p")
				if co == nil || co.Lo != 5500 || co.Hi != 5520 || co.PublicIP != netip.MustParseAddr("203.0.113.7") {
					t.Fatalf("coordinate = %+v", co)
				}
				if got := co.Slices(3); !reflect.DeepEqual(got, [][2]uint16{{5500, 5506}, {5507, 5513}, {5514, 5520}}) {
					t.Errorf("slices of 21 ports for 3 = %v", got)
				}
				if got := co.Slices(2); !reflect.DeepEqual(got, [][2]uint16{{5500, 5510}, {5511, 5520}}) {
					t.Errorf("slices of 21 ports for 2 = %v", got)
				}
				if co.Slices(22) != nil {
					t.Errorf("more members than ports gave slices")
				}
			},
		},
		{
			name: "ftp alg on by default",
			src:  "ip nat inside source static tcp 127.0.0.11 21 127.0.0.2 21\n",
			check: func(t *testing.T, c *Config) {
				if c.FTPALG.Off || len(c.FTPALG.Services) != 0 {
					t.Errorf("ftp alg = %+v", c.FTPALG)
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
				if c.Rotary.ProxyVersionForPool("p") != 2 || c.Rotary.ProxyVersionForPool("q") != 0 {
					t.Errorf("proxy-protocol for pool p = %d, q = %d; want 2 and 0", c.Rotary.ProxyVersionForPool("p"), c.Rotary.ProxyVersionForPool("q"))
				}
				if v := c.Rotary.ProxyVersionForStatic(netip.MustParseAddrPort("127.0.0.2:2122")); v != 2 {
					t.Errorf("proxy-protocol for static 127.0.0.2:2122 = %d, want 2", v)
				}
				if v := c.Rotary.ProxyVersionForStatic(netip.MustParseAddrPort("127.0.0.2:2121")); v != 0 {
					t.Errorf("proxy-protocol for static 127.0.0.2:2121 = %d, want 0 (the line names 2122 only)", v)
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
		{"service for another protocol", "ip nat service list 100 sip tcp port 5060\n",
			ParseOptions{}, `t.ios:1:25: unexpected "sip": expected "ftp" (the gateway's only ALG is FTP's)`},
		{"service with an undefined list", "ip nat service list 100 ftp tcp port 2121\n",
			ParseOptions{}, `t.ios:1:21: unexpected "100": expected an access list defined in this file`},
		{"no service for another alg", "no ip nat service alg tcp sip\n",
			ParseOptions{}, `t.ios:1:27: unexpected "sip": expected "ftp" (only no ip nat service alg tcp ftp is supported by the gateway)`},
		{"coordinate under strict", header + "rotary coordinate pool p passive-range 5500 5520\n",
			ParseOptions{Strict: true}, `t.ios:2:1: unexpected "rotary": expected an IOS command (Rotary extensions are off in strict IOS mode)`},
		{"coordinate without PROXY protocol", header + "rotary coordinate pool p passive-range 5500 5520\n",
			ParseOptions{}, "t.ios:2:24: unexpected \"p\": expected a pool with rotary proxy-protocol v2 (coordinated mode tells each member its passive slice in the PROXY v2 header; add `rotary proxy-protocol v2 pool p`)"},
		{"coordinate an undefined pool", "rotary coordinate pool q passive-range 5500 5520\n",
			ParseOptions{}, `t.ios:1:24: unexpected "q": expected a pool defined in this file`},
		{"coordinate range reversed", header + "rotary coordinate pool p passive-range 5520 5500\n",
			ParseOptions{}, `t.ios:2:45: unexpected "5500": expected an upper port not below 5520 (and a lower port above 0)`},
		{"unknown line", "! ok\nhostname R1\n",
			ParseOptions{}, `t.ios:2:1: unexpected "hostname": expected "interface", "ip", "access-list", "rotary" or "!"`},
		{"unknown ip command", "ip route 0.0.0.0 0.0.0.0 192.0.2.1\n",
			ParseOptions{}, `t.ios:1:1: unexpected "ip": expected "ip nat" or "ip access-list"`},
		{"udp", "access-list 100 permit udp any host 127.0.0.2 eq 21\n",
			ParseOptions{}, `t.ios:1:24: unexpected "udp": expected "tcp" or "ip" (the gateway forwards TCP only; an entry for another protocol never matches a TCP connection)`},
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
			ParseOptions{}, `t.ios:1:22: unexpected "list": expected "static" (source NAT (list, route-map) translates inside clients going out; not supported by the gateway)`},
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
		{"rotary in strict mode", "rotary health-check off\n",
			ParseOptions{Strict: true}, `t.ios:1:1: unexpected "rotary": expected an IOS command (Rotary extensions are off in strict IOS mode)`},
		{"proxy-protocol unknown pool", "rotary proxy-protocol v2 pool nope\n",
			ParseOptions{}, `t.ios:1:31: unexpected "nope": expected a pool defined in this file`},
		{"proxy-protocol v1", "rotary proxy-protocol v1 pool p\n",
			ParseOptions{}, `t.ios:1:23: unexpected "v1": expected "v2"`},
		{"pool not inside", "interface Gi0/1\n ip address 127.0.0.1 255.255.255.0\n ip nat inside\nip nat pool p 127.0.0.1 127.0.1.1 prefix-length 16 type rotary\n",
			ParseOptions{}, `t.ios:4:1: unexpected "127.0.1.1": expected an address on an interface with ip nat inside (pool members are inside hosts)`},
		{"static local not inside", "interface Gi0/1\n ip address 127.0.0.1 255.255.255.0\n ip nat outside\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n",
			ParseOptions{}, `t.ios:4:1: unexpected "127.0.0.1": expected an address on an interface with ip nat inside (the inside local address is an inside host)`},
		{"duplicate sequence", "ip access-list extended X\n 10 permit tcp any host 127.0.0.2 eq 1\n 10 permit tcp any host 127.0.0.2 eq 2\n",
			ParseOptions{}, `t.ios:3:2: unexpected "10": expected an unused sequence number (entry 10 is already on line 2)`},
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

// TestExamples parses the shared example files (copied into testdata):
// no errors, no warnings. forward's tests check the plans they produce.
func TestExamples(t *testing.T) {
	dirs := []string{"testdata", filepath.Join("..", "..", "..", "examples"), filepath.Join("..", "..", "..", "..", "shared", "examples")}
	for _, dir := range dirs {
		for _, name := range []string{"seed-single-server.ios", "two-servers-rotary.ios"} {
			path := filepath.Join(dir, name)
			f, err := os.Open(path)
			if errors.Is(err, os.ErrNotExist) && strings.Contains(dir, "shared") {
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
			if len(c.DestinationRules) == 0 {
				t.Errorf("%s: no destination rules in the model", path)
			}
		}
	}
}

// TestParseBeyondUserspace: configurations IOS runs but the userspace
// forwarder cannot (destinations it cannot list, more than 4096 of them)
// are valid models; forward.Compile is where they are refused.
func TestParseBeyondUserspace(t *testing.T) {
	tests := []struct {
		name, entry string
		dest        AddrMatch
		port        PortMatch
	}{
		{"DST any", "permit tcp any any eq 21", AddrMatch{Any: true}, PortMatch{Op: "eq", Ports: []uint16{21}}},
		{"gt", "permit tcp any host 127.0.0.2 gt 1023", host2, PortMatch{Op: "gt", Ports: []uint16{1023}}},
		{"neq", "permit tcp any host 127.0.0.2 neq 25", host2, PortMatch{Op: "neq", Ports: []uint16{25}}},
		{"no port", "permit tcp any host 127.0.0.2", host2, PortMatch{}},
		{"65535 listeners", "permit tcp any host 127.0.0.2 range 1 65535", host2, PortMatch{Op: "range", Ports: []uint16{1, 65535}}},
		{"a /16 of destinations", "permit tcp any 127.0.0.0 0.0.255.255 eq 21",
			AddrMatch{Address: netip.MustParseAddr("127.0.0.0"), Wildcard: netip.MustParseAddr("0.0.255.255")}, PortMatch{Op: "eq", Ports: []uint16{21}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := header + "ip access-list extended X\n " + tc.entry + "\nip nat inside destination list X pool p\n"
			c, ws, err := parseString(src, ParseOptions{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(ws) != 0 {
				t.Errorf("warnings %v", ws)
			}
			e := c.ACLs[0].Entries[0]
			if e.Dest != tc.dest || e.DestPort.String() != tc.port.String() || !e.Source.Any || e.Action != Permit {
				t.Errorf("entry = %+v, want destination %v %v from any", e, tc.dest, tc.port)
			}
			if e.DestPos != (Pos{3, 17}) || (tc.port.Op != "" && e.PortPos.Column <= e.DestPos.Column) {
				t.Errorf("positions: destination %+v, port %+v", e.DestPos, e.PortPos)
			}
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "DestPos") || strings.Contains(string(b), "PortPos") {
				t.Errorf("--print-model JSON carries the datapath error positions: %s", b)
			}
		})
	}
}

var host2 = AddrMatch{Address: netip.MustParseAddr("127.0.0.2"), Wildcard: netip.IPv4Unspecified()}

// TestModelIsData walks the model's types: no funcs, channels or
// interfaces anywhere, so every consumer (the userspace forwarder, a rules
// renderer, --print-model) sees the same values and nothing runs hidden code.
func TestModelIsData(t *testing.T) {
	var bad []string
	seen := map[reflect.Type]bool{}
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		switch typ.Kind() {
		case reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
			bad = append(bad, path+" ("+typ.String()+")")
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(path+"[]", typ.Elem())
		case reflect.Map:
			walk(path+"[key]", typ.Key())
			walk(path+"[]", typ.Elem())
		case reflect.Struct:
			for i := 0; i < typ.NumField(); i++ {
				f := typ.Field(i)
				walk(path+"."+f.Name, f.Type)
			}
		}
	}
	walk("Config", reflect.TypeFor[Config]())
	if !seen[reflect.TypeFor[ACLEntry]()] || !seen[reflect.TypeFor[PortMatch]()] {
		t.Fatal("the walk did not reach the ACL entries")
	}
	if len(bad) > 0 {
		t.Errorf("the model holds code, not data: %v", bad)
	}
}

// TestFullRouterLenient: a router's whole running config (interfaces,
// routing, NTP, line vty, banners, overload NAT) loads with --lenient:
// every line the gateway does not run is a warning, and the FTP forwarding
// in it is what the model holds (issue 15). Without --lenient its first
// foreign line is an error.
func TestFullRouterLenient(t *testing.T) {
	path := filepath.Join("..", "..", "..", "examples", "full-router.ios")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, ws, err := Parse(path, bytes.NewReader(src), ParseOptions{Lenient: true})
	if err != nil {
		t.Fatalf("lenient parse: %v", err)
	}
	if len(c.StaticMaps) != 1 || c.StaticMaps[0].Global.String() != "203.0.113.5:21" || c.StaticMaps[0].Local.String() != "192.168.1.10:21" {
		t.Errorf("static maps %+v", c.StaticMaps)
	}
	if len(c.Pools) != 1 || c.Pools[0].Name != "ftp" || len(c.DestinationRules) != 1 || c.DestinationRules[0].ACL != "100" {
		t.Errorf("pools %+v, rules %+v", c.Pools, c.DestinationRules)
	}
	// WAN-IN keeps its TCP entries and the ip entry, not the udp and icmp ones.
	var wan *ACL
	for _, a := range c.ACLs {
		if a.Name == "WAN-IN" {
			wan = a
		}
	}
	if wan == nil || len(wan.Entries) != 2 {
		t.Fatalf("WAN-IN %+v: want its two tcp entries (the udp, icmp and logged ip entries are warnings)", wan)
	}
	text := ""
	for _, w := range ws {
		text += w.String() + "\n"
	}
	for _, want := range []string{
		":17:1: warning: unknown command \"hostname R1\"",
		"ip nat inside source list 1 interface GigabitEthernet0/0 overload",
		"access-list 1 permit 192.168.1.0 0.0.0.255",
		"permit udp any eq domain any",
		"banner ignored",
		"line vty 0 4",
		"ntp server",
		"router ospf 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no warning with %q; warnings:\n%s", want, text)
		}
	}
	// The banner's text is not read as a command: no static map from it,
	// and no warning for its lines.
	if strings.Contains(text, "192.168.1.99") {
		t.Errorf("a banner line was read as a command:\n%s", text)
	}
	if _, _, err := Parse(path, bytes.NewReader(src), ParseOptions{}); err == nil || !strings.Contains(err.Error(), "full-router.ios:12:1") {
		t.Errorf("strict parse: %v, want an error at the first foreign line (12, version)", err)
	}
}

// A destination rule naming a pool on a line lenient mode ignored says so.
func TestLenientReferenceToIgnoredLine(t *testing.T) {
	src := "ip nat pool p 127.0.0.1 127.0.0.1 prefix-length 32\n" +
		"access-list 100 permit tcp any host 127.0.0.2 eq 21\n" +
		"ip nat inside destination list 100 pool p\n"
	_, _, err := parseString(src, ParseOptions{Lenient: true})
	if err == nil || !strings.Contains(err.Error(), "pool p is on line 1, which was ignored") {
		t.Fatalf("error %v, want it to name the ignored line", err)
	}
}
