package forward

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rotary-ftp/rotary/internal/nat"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

const poolP = "ip nat pool p 127.0.0.11 127.0.0.12 prefix-length 24 type rotary\n"

func parse(t testing.TB, src string) *ios.Config {
	t.Helper()
	c, _, err := ios.Parse("t.ios", strings.NewReader(src), ios.ParseOptions{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// TestCompileErrors: what the userspace datapath cannot run parses (see
// ios.TestParseBeyondUserspace) and is refused here, at the statement that
// asks for it, in the words Parse used before the datapaths split off.
func TestCompileErrors(t *testing.T) {
	many := poolP + "access-list 100 permit tcp any host 127.0.0.2 range 1 2100\nip nat inside destination list 100 pool p\n" +
		"access-list 101 permit tcp any host 127.0.0.3 range 1 2100\nip nat inside destination list 101 pool p\n"
	tests := []struct{ name, src, want string }{
		{"unlistable ACL any", poolP + "access-list 100 permit tcp any any eq 21\nip nat inside destination list 100 pool p\n",
			`t.ios:2:32: unexpected "any": expected host A or A WILDCARD (the gateway listens on concrete addresses and ports, so access list 100 (used on line 3) must name a finite set of destinations)`},
		{"unlistable ACL gt", poolP + "access-list 100 permit tcp any host 127.0.0.2 gt 1023\nip nat inside destination list 100 pool p\n",
			`t.ios:2:47: unexpected "gt": expected eq, range or lt naming the destination ports ("gt" has no upper bound; name the ports with eq, range or lt; the gateway listens on concrete addresses and ports, so access list 100 (used on line 3) must name a finite set of destinations)`},
		{"unlistable ACL neq", poolP + "access-list 100 permit tcp any host 127.0.0.2 neq 25\nip nat inside destination list 100 pool p\n",
			`t.ios:2:47: unexpected "neq": expected eq, range or lt naming the destination ports ("neq" has no upper bound; name the ports with eq, range or lt; the gateway listens on concrete addresses and ports, so access list 100 (used on line 3) must name a finite set of destinations)`},
		{"unlistable ACL no port", poolP + "ip access-list extended X\n permit tcp any host 127.0.0.2\nip nat inside destination list X pool p\n",
			`t.ios:3:31: unexpected end of line: expected eq, range or lt naming the destination ports (no destination port operator means every port; name the ports with eq, range or lt; the gateway listens on concrete addresses and ports, so access list X (used on line 4) must name a finite set of destinations)`},
		{"wildcard too wide", poolP + "access-list 100 permit tcp any 127.0.0.0 0.0.255.255 eq 21\nip nat inside destination list 100 pool p\n",
			`t.ios:2:32: unexpected "127.0.0.0": expected host A or a wildcard naming fewer addresses (127.0.0.0 0.0.255.255 names 65536 addresses; the gateway listens on concrete addresses and ports, so access list 100 (used on line 3) must name a finite set of destinations)`},
		{"two rules one port", poolP + "access-list 100 permit tcp any host 127.0.0.2 eq 21\nip nat inside destination list 100 pool p\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n",
			`t.ios:3:1: unexpected "127.0.0.2:21": expected an outside address and port no other rule uses (127.0.0.2:21 is already taken by ip nat inside source static (line 4))`},
		{"interface mismatch", "interface Gi0/0\n ip address 192.0.2.1 255.255.255.0\n ip nat outside\ninterface Gi0/1\n ip address 127.0.0.1 255.255.255.255\n ip nat inside\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n",
			`t.ios:7:1: unexpected "127.0.0.2": expected an address on an interface with ip nat outside (the gateway listens on outside addresses; add it to an outside interface or remove the interface blocks)`},
		{"too many listeners", poolP + "access-list 100 permit tcp any host 127.0.0.2 range 1 65535\nip nat inside destination list 100 pool p\n",
			`t.ios:2:47: unexpected "range": expected at most 4096 destination ports and addresses (each outside address and port is one listening socket)`},
		{"too many listeners in all", many,
			`t.ios:5:1: unexpected "127.0.0.3:1997": expected at most 4096 listeners in all (each outside address and port is one listening socket)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := parse(t, tc.src)
			r, err := Compile(c)
			if err == nil {
				t.Fatalf("Compile accepted it: %d routes", len(r.Routes))
			}
			var pe *ios.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *ios.Error: %v", err, err)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

func TestCompileWarnings(t *testing.T) {
	c := parse(t, poolP+"access-list 101 deny tcp any host 127.0.0.2 eq 22\naccess-list 101 permit tcp any host 127.0.0.2 eq 22\nip nat inside destination list 101 pool p\n")
	r, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, w := range r.Warnings() {
		msgs = append(msgs, w.String())
	}
	want := "t.ios:4:1: warning: access list 101 denies every destination it names: this rule opens no listener"
	if len(msgs) != 1 || msgs[0] != want || len(r.Routes) != 0 {
		t.Errorf("warnings %q and %d routes, want [%q] and none", msgs, len(r.Routes), want)
	}
}

// TestPlan lists what Compile makes of a configuration as --print-plan
// shows it, datapath and IOS line included.
func TestPlan(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
		lines     []int
	}{
		{"rotary extensions", poolP + `access-list 100 permit tcp any host 127.0.0.2 eq 21
ip nat inside destination list 100 pool p
ip nat inside source static tcp 127.0.0.1 2121 127.0.0.2 2121
ip nat inside source static tcp 127.0.0.1 2122 127.0.0.2 2122
rotary proxy-protocol v2 pool p
rotary proxy-protocol v2 static 127.0.0.2 2122
`, []string{
			"127.0.0.2:21 -> pool p (proxy-protocol v2) (ftp alg) [userspace]",
			"127.0.0.2:2121 -> static 127.0.0.1:2121 [userspace]",
			"127.0.0.2:2122 -> static 127.0.0.1:2122 (proxy-protocol v2) [userspace]",
		}, []int{3, 4, 5}},
		{"runs fold, gaps and filters split them", poolP + `ip access-list extended X
 permit tcp any host 127.0.0.2 range 5500 5502
 permit tcp any host 127.0.0.2 eq 5504
 permit tcp host 192.0.2.1 host 127.0.0.2 eq 5505
 permit tcp any host 127.0.0.3 lt 3
ip nat inside destination list X pool p
`, []string{
			"127.0.0.2:5500..5502 -> pool p [userspace]",
			"127.0.0.2:5504 -> pool p [userspace]",
			"127.0.0.2:5505 -> pool p (sources filtered by list X) [userspace]",
			"127.0.0.3:1..2 -> pool p [userspace]",
		}, []int{7, 7, 7, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Compile(parse(t, tc.src))
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, r.Plan(), tc.want, tc.lines)
		})
	}
}

func checkPlan(t *testing.T, plan []nat.PlanLine, want []string, lines []int) {
	t.Helper()
	var got []string
	var gotLines []int
	for _, l := range plan {
		got = append(got, l.String())
		gotLines = append(gotLines, l.Line)
		if l.Datapath != DatapathName {
			t.Errorf("%s: datapath %q", l, l.Datapath)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if lines != nil && !reflect.DeepEqual(gotLines, lines) {
		t.Errorf("IOS lines %v, want %v", gotLines, lines)
	}
}

// TestExamples compiles the shared example files (copied into
// ../ios/testdata), which forward without PROXY protocol and so get one
// warning per statement, and the repository's examples/, which turn it on
// and get none.
func TestExamples(t *testing.T) {
	type want struct {
		plan    []string
		noProxy int // warnings about PROXY protocol
	}
	shared := map[string]want{
		"seed-single-server.ios": {[]string{"127.0.0.2:2121 -> static 127.0.0.1:2121 [userspace]", "127.0.0.2:5500..5520 -> pool ftp [userspace]"}, 2},
		"two-servers-rotary.ios": {[]string{"127.0.0.2:2121 -> pool ftp-ctl [userspace]", "127.0.0.2:5500..5510 -> pool ftp-a [userspace]", "127.0.0.2:5511..5520 -> pool ftp-b [userspace]"}, 3},
	}
	shipped := map[string]want{
		"seed-single-server.ios": {[]string{"127.0.0.2:2121 -> static 127.0.0.1:2121 (proxy-protocol v2) [userspace]", "127.0.0.2:5500..5520 -> pool ftp (proxy-protocol v2) [userspace]"}, 0},
		"two-servers-rotary.ios": {[]string{"127.0.0.2:2121 -> pool ftp-ctl (proxy-protocol v2) [userspace]", "127.0.0.2:5500..5510 -> pool ftp-a (proxy-protocol v2) [userspace]", "127.0.0.2:5511..5520 -> pool ftp-b (proxy-protocol v2) [userspace]"}, 0},
	}
	for _, set := range []struct {
		dir      string
		files    map[string]want
		optional bool
	}{
		{filepath.Join("..", "ios", "testdata"), shared, false},
		{filepath.Join("..", "..", "..", "..", "shared", "examples"), shared, true},
		{filepath.Join("..", "..", "..", "examples"), shipped, false},
	} {
		for name, w := range set.files {
			path := filepath.Join(set.dir, name)
			f, err := os.Open(path)
			if errors.Is(err, os.ErrNotExist) && set.optional {
				continue // the shared folder is beside the checkout only on developer machines and CI
			}
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := ios.Parse(path, f, ios.ParseOptions{})
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			r, err := Compile(c)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			n := 0
			for _, warn := range r.Warnings() {
				if !strings.Contains(warn.Message, "without PROXY protocol") {
					t.Errorf("%s: warning %v", path, warn)
				}
				n++
			}
			if n != w.noProxy {
				t.Errorf("%s: %d PROXY warnings, want %d: %v", path, n, w.noProxy, r.Warnings())
			}
			checkPlan(t, r.Plan(), w.plan, nil)
		}
	}
}

// A configuration that does not front an FTP control port (21, 990, 2121)
// gets no PROXY warning; under --strict the advice says the extension is off.
func TestProxyWarnings(t *testing.T) {
	for _, tc := range []struct {
		src    string
		strict bool
		want   []string
	}{
		{"ip nat inside source static tcp 127.0.0.1 8080 127.0.0.2 80\n", false, nil},
		{"ip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n", false, []string{"add `rotary proxy-protocol v2 static`"}},
		{"ip nat inside source static tcp 127.0.0.1 990 127.0.0.2 990\n", true, []string{"off under --strict"}},
		{"ip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\nrotary proxy-protocol v2 static\n", false, nil},
	} {
		c, _, err := ios.Parse("t.ios", strings.NewReader(tc.src), ios.ParseOptions{Strict: tc.strict})
		if err != nil {
			t.Fatal(err)
		}
		r, err := Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings()) != len(tc.want) {
			t.Errorf("%q: warnings %v, want %d", tc.src, r.Warnings(), len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(r.Warnings()[i].Message, w) {
				t.Errorf("%q: warning %q lacks %q", tc.src, r.Warnings()[i].Message, w)
			}
		}
	}
}

// TestCompileFirstMatch: first match and implicit deny decide which ports
// get a listener, and a listener whose list permits only some sources
// carries that list, the model's own value, to be evaluated per connection.
func TestCompileFirstMatch(t *testing.T) {
	c := parse(t, poolP+`ip access-list extended X
 deny tcp any host 127.0.0.2 eq 5501
 permit tcp any host 127.0.0.2 range 5500 5503
 deny tcp host 192.0.2.9 host 127.0.0.2 eq 5502
 permit tcp host 192.0.2.1 host 127.0.0.2 eq 5504
 deny tcp host 192.0.2.9 host 127.0.0.2 eq 5503
ip nat inside destination list X pool p
`)
	r, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint16]Route{}
	for _, rt := range r.Routes {
		got[rt.Listen.Port()] = rt
	}
	if _, ok := got[5501]; ok {
		t.Error("5501 is denied first but has a listener")
	}
	for _, port := range []uint16{5500, 5502, 5503} {
		if rt, ok := got[port]; !ok || rt.ACL != nil {
			t.Errorf("%d: route %+v, want one without a list (permit any matched first)", port, rt)
		}
	}
	rt, ok := got[5504]
	if !ok || rt.ACL != c.ACLs[0] {
		t.Fatalf("5504: %+v, want a route carrying the model's list X", rt)
	}
	if !rt.permits(netip.MustParseAddrPort("192.0.2.1:40000")) || rt.permits(netip.MustParseAddrPort("192.0.2.2:40000")) {
		t.Error("5504 filter: want only 192.0.2.1 permitted (implicit deny)")
	}
	if len(rt.Members) != 2 || rt.Line != 8 {
		t.Errorf("members = %v, line %d", rt.Members, rt.Line)
	}
}

// TestRulesAreData: what the userspace datapath runs is values (addresses,
// names, the model's ACLs), never compiled closures, so --print-plan and
// the running listeners cannot disagree.
func TestRulesAreData(t *testing.T) {
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
				walk(path+"."+typ.Field(i).Name, typ.Field(i).Type)
			}
		}
	}
	walk("Rules", reflect.TypeFor[Rules]())
	if !seen[reflect.TypeFor[ios.ACLEntry]()] {
		t.Fatal("the walk did not reach Route.ACL's entries")
	}
	if len(bad) > 0 {
		t.Errorf("Rules hold code, not data: %v", bad)
	}
}

// FuzzCompile takes what ios.Parse accepts through the userspace datapath:
// no panic, every refusal an *ios.Error, and what compiles is bounded,
// sorted, without a duplicate listener, and fully listed by Plan.
func FuzzCompile(f *testing.F) {
	paths, _ := filepath.Glob("../ios/testdata/*.ios")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(poolP + "ip access-list extended X\n 10 permit tcp 192.0.2.0 0.0.0.255 gt 1023 127.0.0.0 0.0.0.1 eq ftp www\n 20 deny tcp any any\nip nat inside destination list X pool p\n")
	f.Add(poolP + "access-list 100 permit tcp any any eq 21\nip nat inside destination list 100 pool p\n")
	f.Add("rotary proxy-protocol v2 static 127.0.0.2 21\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, _, err := ios.Parse("f.ios", strings.NewReader(src), ios.ParseOptions{Lenient: true})
		if err != nil {
			return
		}
		r, err := Compile(c)
		if err != nil {
			if _, ok := err.(*ios.Error); !ok {
				t.Fatalf("error %T is not *ios.Error: %v", err, err)
			}
			return
		}
		if len(r.Routes) > MaxListeners {
			t.Fatalf("%d listeners", len(r.Routes))
		}
		seen := map[netip.AddrPort]bool{}
		for i, rt := range r.Routes {
			if seen[rt.Listen] {
				t.Fatalf("two routes on %s", rt.Listen)
			}
			seen[rt.Listen] = true
			if i > 0 && !r.Routes[i-1].Listen.Addr().Less(rt.Listen.Addr()) &&
				(r.Routes[i-1].Listen.Addr() != rt.Listen.Addr() || r.Routes[i-1].Listen.Port() >= rt.Listen.Port()) {
				t.Fatalf("routes not sorted: %s before %s", r.Routes[i-1].Listen, rt.Listen)
			}
		}
		listed := 0
		for _, l := range r.Plan() {
			n := 1
			if l.LastPort != 0 {
				n = int(l.LastPort) - int(l.Outside.Port()) + 1
			}
			listed += n
			if !strings.HasSuffix(l.String(), " [userspace]") {
				t.Fatalf("plan line %q", l)
			}
		}
		if listed != len(r.Routes) {
			t.Fatalf("plan lists %d listeners, rules have %d", listed, len(r.Routes))
		}
	})
}

// otherProgram is a Program some other datapath compiled.
type otherProgram struct{}

func (otherProgram) Plan() []nat.PlanLine    { return nil }
func (otherProgram) Warnings() []ios.Warning { return nil }

func TestStartRefusesAnotherDatapathsProgram(t *testing.T) {
	s := &Server{Logger: quietLog()}
	err := s.Start(otherProgram{})
	if err == nil || !strings.Contains(err.Error(), "forward.otherProgram") {
		t.Fatalf("Start(another datapath's program) = %v, want an error naming its type", err)
	}
	if len(s.Addrs()) != 0 {
		t.Fatalf("listening on %v", s.Addrs())
	}
}
