package alg

import (
	"bytes"
	"testing"
)

// FuzzRewriter: any input, split anywhere, gives the output of the whole
// input at once; with no 227 reply carrying the inside address the output
// is the input byte for byte; and a rewrite changes only the tuple.
func FuzzRewriter(f *testing.F) {
	f.Add([]byte("227 Entering Passive Mode (10,0,0,5,21,124).\r\n"), uint8(1))
	f.Add([]byte("229 Entering Extended Passive Mode (|||5500|)\r\n"), uint8(3))
	f.Add([]byte("227-a\r\n 10,0,0,5,1,2\r\n227 b\r\n211-x\r\n227 (10,0,0,5,1,1)\r\n211 y\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		whole, _ := feedAll(string(in), 0)
		n := int(split)%17 + 1
		parts, ps := feedAll(string(in), n)
		if whole != parts {
			t.Fatalf("split %d: %q, whole: %q", n, parts, whole)
		}
		rewrites := 0
		for _, p := range ps {
			if p.Rewritten {
				rewrites++
			}
		}
		if rewrites == 0 && parts != string(in) {
			t.Fatalf("no rewrite, yet the output differs: %q -> %q", in, parts)
		}
		if rewrites > 0 {
			// A rewrite replaces a tuple of digits and commas, nothing else.
			strip := func(b []byte) []byte {
				return bytes.Map(func(r rune) rune {
					if r == ',' || ('0' <= r && r <= '9') {
						return -1
					}
					return r
				}, b)
			}
			if !bytes.Equal(strip([]byte(parts)), strip(in)) {
				t.Fatalf("a rewrite changed more than the tuple: %q -> %q", in, parts)
			}
		}
	})
}
