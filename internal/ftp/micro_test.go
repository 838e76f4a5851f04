package ftp

import (
	"fmt"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/storage/local"
)

// Micro-benchmarks for issue 6: the command parser and listing formatting.

func BenchmarkParseCommand(b *testing.B) {
	lines := [][]byte{[]byte("RETR some/file.bin\r\n"), []byte("noop\r\n"), []byte("\xff\xf4\xff\xf2ABOR\r\n"), []byte("EPSV\r\n")}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = append(buf[:0], lines[i%len(lines)]...)
		verb, arg := parseCommand(string(stripTelnet(buf)))
		if verb == "" {
			b.Fatal(arg)
		}
	}
}

type benchInfo struct {
	name string
	size int64
	dir  bool
}

func (f benchInfo) Name() string { return f.name }
func (f benchInfo) Size() int64  { return f.size }
func (f benchInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (f benchInfo) ModTime() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }
func (f benchInfo) IsDir() bool        { return f.dir }
func (f benchInfo) Sys() any           { return nil }

func benchEntries(n int) []listEntry {
	entries := make([]listEntry, n)
	for i := range entries {
		name := fmt.Sprintf("file-%05d.dat", i)
		entries[i] = listEntry{name: name, info: benchInfo{name: name, size: int64(i * 1000), dir: i%50 == 0}}
	}
	return entries
}

// BenchmarkListingFormat formats 10,000 entries as LIST (ls -l) and as
// MLSD facts; one op is the whole listing.
func BenchmarkListingFormat(b *testing.B) {
	entries := benchEntries(10000)
	drv, err := local.New(b.TempDir()) // MLSD's perm fact asks the driver what it can do
	if err != nil {
		b.Fatal(err)
	}
	defer drv.Close()
	s := &session{acct: &Account{Perm: PermAll, FS: drv}, mlstFacts: defaultFacts}
	for _, f := range []struct {
		name   string
		format lineFormatter
	}{{"LIST", appendLongLine}, {"MLSD", s.appendFactsLine}, {"NLST", appendNameLine}} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := writeListing(io.Discard, entries, f.format); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
