package alg

import (
	"bytes"
	"net/netip"
	"testing"
)

var (
	inside  = netip.MustParseAddr("10.0.0.5")
	outside = netip.MustParseAddr("203.0.113.7")
)

// feedAll runs in through a Rewriter in chunks of size n (0: all at once).
func feedAll(in string, n int) (string, []Passive) {
	var got []Passive
	r := &Rewriter{Inside: inside, Outside: outside, OnPassive: func(p Passive) { got = append(got, p) }}
	var out []byte
	b := []byte(in)
	for len(b) > 0 {
		k := len(b)
		if n > 0 && n < k {
			k = n
		}
		out = r.Feed(out, b[:k])
		b = b[k:]
	}
	return string(r.Flush(out)), got
}

func TestRewriter(t *testing.T) {
	tests := []struct {
		name, in, want string
		passive        []Passive
	}{
		{"227 with the inside address", "227 Entering Passive Mode (10,0,0,5,21,124).\r\n",
			"227 Entering Passive Mode (203,0,113,7,21,124).\r\n", []Passive{{227, 21<<8 | 124, true}}},
		{"227 without parentheses", "227 =10,0,0,5,0,21\r\n", "227 =203,0,113,7,0,21\r\n", []Passive{{227, 21, true}}},
		{"227 with another address is kept", "227 Entering Passive Mode (192,0,2,1,21,124)\r\n",
			"227 Entering Passive Mode (192,0,2,1,21,124)\r\n", nil},
		{"227 with the outside address reports its port", "227 Entering Passive Mode (203,0,113,7,21,124)\r\n",
			"227 Entering Passive Mode (203,0,113,7,21,124)\r\n", []Passive{{227, 21<<8 | 124, false}}},
		{"229 reports its port", "229 Entering Extended Passive Mode (|||5500|)\r\n",
			"229 Entering Extended Passive Mode (|||5500|)\r\n", []Passive{{229, 5500, false}}},
		{"229 with another delimiter", "229 ok (!!!6000!)\r\n", "229 ok (!!!6000!)\r\n", []Passive{{229, 6000, false}}},
		{"other replies pass", "220 ready\r\n230 logged in\r\n", "220 ready\r\n230 logged in\r\n", nil},
		{"227 text in another multi-line reply is kept", "211-Features\r\n227 (10,0,0,5,1,1)\r\n211 End\r\n",
			"211-Features\r\n227 (10,0,0,5,1,1)\r\n211 End\r\n", nil},
		{"multi-line 227", "227-Passive\r\n (10,0,0,5,1,2)\r\n227 done\r\n",
			"227-Passive\r\n (203,0,113,7,1,2)\r\n227 done\r\n", []Passive{{227, 258, true}}},
		{"a byte above 255 is no tuple", "227 (10,0,0,5,1,256)\r\n", "227 (10,0,0,5,1,256)\r\n", nil},
		{"four digits are no byte", "227 (10,0,0,5,1,0002)\r\n", "227 (10,0,0,5,1,0002)\r\n", nil},
		{"bare LF lines", "227 (10,0,0,5,0,80)\n200 x\n", "227 (203,0,113,7,0,80)\n200 x\n", []Passive{{227, 80, true}}},
		{"a stream ending inside a line", "227 (10,0,0,5,0,80)", "227 (10,0,0,5,0,80)", nil},
		{"short lines", "2\r\n22\n227\n", "2\r\n22\n227\n", nil},
		{"229 malformed", "229 (|||0|)\r\n229 (||5|)\r\n229 (|||70000|)\r\n", "229 (|||0|)\r\n229 (||5|)\r\n229 (|||70000|)\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 2, 3, 5, 7} {
				got, ps := feedAll(tt.in, n)
				if got != tt.want {
					t.Fatalf("chunks of %d: got %q, want %q", n, got, tt.want)
				}
				if len(ps) != len(tt.passive) {
					t.Fatalf("chunks of %d: passive %v, want %v", n, ps, tt.passive)
				}
				for i := range ps {
					if ps[i] != tt.passive[i] {
						t.Fatalf("chunks of %d: passive %v, want %v", n, ps, tt.passive)
					}
				}
			}
		})
	}
}

func TestRewriterLongLinePassesUnchanged(t *testing.T) {
	in := "227 " + string(bytes.Repeat([]byte("x"), MaxHeldLine)) + " (10,0,0,5,1,1)\r\n"
	if got, ps := feedAll(in, 100); got != in || len(ps) != 0 {
		t.Fatalf("long line: %d bytes, passive %v", len(got), ps)
	}
}

func TestRewriterPassesNon227AtOnce(t *testing.T) {
	r := &Rewriter{Inside: inside, Outside: outside}
	if out := r.Feed(nil, []byte("150 Opening\r\n")); string(out) != "150 Opening\r\n" {
		t.Fatalf("a 150 line was held: %q", out)
	}
	if out := r.Feed(nil, []byte("227 (10,0,0")); len(out) != 0 {
		t.Fatalf("an unfinished 227 line was not held: %q", out)
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		in   string
		auth bool
	}{
		{"AUTH TLS\r\n", true},
		{"auth ssl\r\n", true},
		{"USER u\r\nAUTH TLS\r\n", true},
		{"AUTH\r\n", true},
		{"AUTHX\r\n", false},
		{"USER AUTH\r\n", false},
		{"USER u\r\nPASS AUTH TLS\r\n", false},
		{"AU", false},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 3, 100} {
			var c Commands
			b := []byte(tt.in)
			got := false
			for len(b) > 0 {
				k := min(n, len(b))
				got = c.Feed(b[:k])
				b = b[k:]
			}
			if got != tt.auth {
				t.Errorf("%q in chunks of %d: auth %v, want %v", tt.in, n, got, tt.auth)
			}
		}
	}
}
