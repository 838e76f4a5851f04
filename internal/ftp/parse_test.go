package ftp

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line, verb, arg string
	}{
		{"NOOP", "NOOP", ""},
		{"noop", "NOOP", ""},
		{"RETR file.txt", "RETR", "file.txt"},
		{"retr  two spaces", "RETR", " two spaces"},
		{"STOR name with spaces ", "STOR", "name with spaces "},
		{"USER", "USER", ""},
		{"USER ", "USER", ""},
		{"OPTS UTF8 ON", "OPTS", "UTF8 ON"},
		{"", "", ""},
		{"VERYLONGVERB x", "VERYLONGVERB", "x"},
	}
	for _, tt := range tests {
		verb, arg := parseCommand(tt.line)
		if verb != tt.verb || arg != tt.arg {
			t.Errorf("parseCommand(%q) = %q, %q; want %q, %q", tt.line, verb, arg, tt.verb, tt.arg)
		}
	}
}

func TestStripTelnet(t *testing.T) {
	tests := []struct{ in, want string }{
		{"NOOP\r\n", "NOOP"},
		{"NOOP\n", "NOOP"},
		{"\xff\xf4\xff\xf2ABOR\r\n", "ABOR"},   // IAC IP, IAC DM (RFC 959 abort sequence)
		{"\xff\xfb\x01NOOP\r\n", "NOOP"},       // IAC WILL ECHO
		{"STOR a\xff\xffb\r\n", "STOR a\xffb"}, // IAC IAC is a literal 0xff
		{"NOOP\xff", "NOOP"},                   // dangling IAC
		{"\r\n", ""},
	}
	for _, tt := range tests {
		if got := string(stripTelnet([]byte(tt.in))); got != tt.want {
			t.Errorf("stripTelnet(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct{ cwd, arg, want string }{
		{"/", "", "/"},
		{"/", "a", "/a"},
		{"/a", "b/c", "/a/b/c"},
		{"/a", "..", "/"},
		{"/a", "../../../etc/passwd", "/etc/passwd"},
		{"/a", "/x/./y//z/", "/x/y/z"},
		{"/", "..", "/"},
		{"/a/b", "../c", "/a/c"},
		{"/", `..\..\x`, `/..\..\x`},
	}
	for _, tt := range tests {
		s := &session{cwd: tt.cwd}
		if got := s.resolve(tt.arg); got != tt.want {
			t.Errorf("resolve(cwd=%q, %q) = %q, want %q", tt.cwd, tt.arg, got, tt.want)
		}
	}
}

func TestParsePORT(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"127,0,0,1,4,1", "127.0.0.1:1025", true},
		{" 10,1,2,3,255,255 ", "10.1.2.3:65535", true},
		{"127,0,0,1,4", "", false},
		{"127,0,0,1,4,256", "", false},
		{"a,b,c,d,e,f", "", false},
		{"-1,0,0,1,4,1", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := parsePORT(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got.String() != tt.want) {
			t.Errorf("parsePORT(%q) = %v, %v; want %s ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseEPRT(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		ok    bool
		proto bool // error is "protocol not supported"
	}{
		{"|1|132.235.1.2|6275|", "132.235.1.2:6275", true, false},
		{"|2|1080::8:800:200C:417A|5282|", "[1080::8:800:200c:417a]:5282", true, false},
		{"!1!127.0.0.1!2000!", "127.0.0.1:2000", true, false},
		{"|1|::1|2000|", "", false, false},
		{"|2|127.0.0.1|2000|", "", false, false},
		{"|3|x|1|", "", false, true},
		{"|1|127.0.0.1|0|", "", false, false},
		{"|1|127.0.0.1|70000|", "", false, false},
		{"|1|127.0.0.1|", "", false, false},
		{"1|127.0.0.1|5|", "", false, false},
	}
	for _, tt := range tests {
		got, err := parseEPRT(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got.String() != tt.want) || (tt.proto != (err == errEPRTProto)) {
			t.Errorf("parseEPRT(%q) = %v, %v; want %s ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestAppendReply(t *testing.T) {
	tests := []struct {
		code int
		text string
		want string
	}{
		{200, "ok", "200 ok\r\n"},
		{211, "Features:\nEPSV\nEnd", "211-Features:\r\n EPSV\r\n211 End\r\n"},
		{214, "a\n200 looks like an end\nb", "214-a\r\n 200 looks like an end\r\n214 b\r\n"},
	}
	for _, tt := range tests {
		if got := string(appendReply(nil, tt.code, tt.text)); got != tt.want {
			t.Errorf("appendReply(%d, %q) = %q, want %q", tt.code, tt.text, got, tt.want)
		}
	}
	if got := quotePath(`/a "b"`); got != `"/a ""b"""` {
		t.Errorf("quotePath = %s", got)
	}
}

func TestASCIIConversion(t *testing.T) {
	tests := []struct{ disk, wire string }{
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb", "a\r\nb"},
		{"\n\n", "\r\n\r\n"},
		{"no newline", "no newline"},
		{"", ""},
	}
	for _, tt := range tests {
		// One byte at a time exercises the carried state.
		got, err := io.ReadAll(iotest.OneByteReader(newASCIIEncoder(strings.NewReader(tt.disk))))
		if err != nil || string(got) != tt.wire {
			t.Errorf("encode(%q) = %q, %v; want %q", tt.disk, got, err, tt.wire)
		}
	}
	decode := []struct{ wire, disk string }{
		{"a\r\nb\r\n", "a\nb\n"},
		{"a\rb", "a\rb"},
		{"a\r", "a\r"},
		{"a\r\r\n", "a\r\n"},
		{"plain\n", "plain\n"},
	}
	for _, tt := range decode {
		for _, small := range []bool{false, true} {
			var r io.Reader = newASCIIDecoder(strings.NewReader(tt.wire))
			if small {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != tt.disk {
				t.Errorf("decode(%q, small=%v) = %q, %v; want %q", tt.wire, small, got, err, tt.disk)
			}
		}
	}
}

func TestParseMDTMTime(t *testing.T) {
	if got, err := parseMDTMTime("20200517101112"); err != nil || !got.Equal(time.Date(2020, 5, 17, 10, 11, 12, 0, time.UTC)) {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := parseMDTMTime("20200517101112.5"); err != nil || got.Nanosecond() != 500000000 {
		t.Errorf("fraction: got %v, %v", got, err)
	}
	for _, bad := range []string{"2020", "2020051710111x", "20201317101112", "20200517101112.x"} {
		if _, err := parseMDTMTime(bad); err == nil {
			t.Errorf("parseMDTMTime(%q) accepted", bad)
		}
	}
}

func TestListArg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""}, {"-la", ""}, {"-la dir", "dir"}, {"-a -l dir x", "dir x"}, {"dir", "dir"}, {"-./file", "-./file"},
	}
	for _, tt := range tests {
		if got := listArg(tt.in); got != tt.want {
			t.Errorf("listArg(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParsePerm(t *testing.T) {
	p, err := ParsePerm("list, read,write")
	if err != nil || p != PermList|PermRead|PermWrite || p.String() != "list,read,write" {
		t.Errorf("ParsePerm = %v (%s), %v", p, p, err)
	}
	if p, _ := ParsePerm("all"); p != PermAll {
		t.Errorf("all = %v", p)
	}
	if _, err := ParsePerm("read,fly"); err == nil {
		t.Error("unknown permission accepted")
	}
}

func TestPassiveAddressFallsBackToLocal(t *testing.T) {
	s := &session{srv: &Server{}, info: ConnInfo{Local: netip.MustParseAddrPort("127.0.0.1:21"), Dest: netip.MustParseAddrPort("127.0.0.1:21")}}
	if got := s.passiveAddress(); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("got %v", got)
	}
	s.srv.Update(func(srv *Server) {
		srv.PassiveAddress = func(client, local netip.Addr) netip.Addr { return netip.MustParseAddr("::ffff:127.0.0.2") }
	})
	if got := s.passiveAddress(); got != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("mapped address not unmapped: %v", got)
	}
}

// FuzzCommandLine feeds arbitrary bytes through the control connection's
// line reading (ctlReader, lines over MaxLine, Telnet stripping) and every
// argument parser (PORT, EPRT, MFMT, MDTM times, REST, OPTS MLST, LIST
// flags, path resolution), and echoes each line in a reply. None may
// panic; a line is never longer than MaxLine and holds no line end; and
// every reply, whatever text it carries, reads back as one reply of its
// code (a reply that a client cannot find the end of hangs it).
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{"NOOP\r\n", "\xff\xf4\xff\xf2ABOR\r\n", "PORT 1,2,3,4,5,6", "EPRT |2|::1|5|", "\xff",
		"MFMT 20200101000000 x", "OPTS MLST size;type;", "REST 100\r\nRETR a\r\n", "USER a\nPASS b\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		s := &session{cwd: "/", r: newCtlReader(iotest.HalfReader(bytes.NewReader(input)))}
		for range 1000 {
			line, tooLong, err := s.readLine()
			if err != nil {
				break
			}
			if tooLong {
				continue
			}
			if len(line) > MaxLine+2 || bytes.HasSuffix(line, []byte("\n")) {
				t.Fatalf("readLine gave %d bytes ending %q", len(line), line[max(0, len(line)-4):])
			}
			checkCommandLine(t, line)
		}
		checkCommandLine(t, stripTelnet(bytes.Clone(input)))
	})
}

func checkCommandLine(t *testing.T, stripped []byte) {
	if bytes.HasSuffix(stripped, []byte("\n")) {
		t.Fatalf("line end left in %q", stripped)
	}
	verb, arg := parseCommand(string(stripped))
	if strings.ContainsAny(verb, "abcdefghijklmnopqrstuvwxyz") {
		t.Fatalf("verb %q not upper case", verb)
	}
	if utf8.Valid(stripped) && !strings.Contains(verb+" "+arg, "\x00") {
		s := &session{cwd: "/"}
		if p := s.resolve(arg); !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") {
			t.Fatalf("resolve(%q) = %q", arg, p)
		}
	}
	if ap, err := parsePORT(arg); err == nil && !ap.Addr().Is4() {
		t.Fatalf("PORT %q gave a non-IPv4 address %v", arg, ap)
	}
	if ap, err := parseEPRT(arg); err == nil && (ap.Port() == 0 || ap.Addr().Zone() != "") {
		t.Fatalf("EPRT %q gave %v", arg, ap)
	}
	parseMDTMTime(arg)
	if _, name, err := parseMFMT(arg); err == nil && name == "" {
		t.Fatalf("MFMT %q: no path", arg)
	}
	if n, err := parseREST(arg); err == nil && n < 0 {
		t.Fatalf("REST %q gave %d", arg, n)
	}
	if _, names := parseMLSTOpts(arg); len(names) > len(factNames)*len(arg) {
		t.Fatalf("OPTS MLST %q: %d facts", arg, len(names))
	}
	listArg(arg)
	// Replies are built from what clients send (names in 550s, listings
	// in STAT), and multi-line ones (STAT, HELP, FEAT) end their text in a
	// newline.
	for _, text := range []string{"Unknown command " + quoteVerb(verb), string(stripped), arg, arg + "\n", "Status:\n" + arg + "\n"} {
		checkReply(t, 211, text)
	}
}

// checkReply formats a reply of code and text and reads it back the way a
// client does.
func checkReply(t *testing.T, code int, text string) {
	b := appendReply(nil, code, text)
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	got, _, err := r.ReadResponse(code)
	if err != nil || got != code {
		t.Fatalf("reply %d %q formatted as %q reads back as %d, %v", code, text, b, got, err)
	}
	if rest, _ := io.ReadAll(r.R); len(rest) > 0 {
		t.Fatalf("reply %d %q formatted as %q leaves %q after its last line", code, text, b, rest)
	}
}
