package ios

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse: it must never panic, and a file
// it accepts must produce a plan and a model that marshals.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.ios")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), false)
	}
	f.Add(header+"ip access-list extended X\n 10 permit tcp 192.0.2.0 0.0.0.255 gt 1023 127.0.0.0 0.0.0.1 eq ftp www\nip nat inside destination list X pool p\n", true)
	f.Add("rotary proxy-protocol v2 static 127.0.0.2 21\nip nat inside source static tcp 127.0.0.1 21 127.0.0.2 21\n", false)
	f.Add("interface Gi0/0\n ip address 1.2.3.4 255.255.255.0\n ip nat outside\n", true)
	f.Fuzz(func(t *testing.T, src string, lenient bool) {
		c, _, err := Parse("f.ios", strings.NewReader(src), ParseOptions{Lenient: lenient})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			return
		}
		p, err := c.Plan()
		if err != nil {
			t.Fatalf("accepted file has no plan: %v", err)
		}
		if len(p.Listeners) > MaxListeners {
			t.Fatalf("%d listeners", len(p.Listeners))
		}
		_ = p.String()
		if _, err := json.Marshal(c); err != nil {
			t.Fatal(err)
		}
	})
}
