package xferlog

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

func TestFormat(t *testing.T) {
	end := time.Date(2026, 11, 3, 21, 6, 49, 0, time.Local)
	tests := []struct {
		r    ftp.TransferRecord
		want string
	}{
		{ftp.TransferRecord{End: end, Duration: 2500 * time.Millisecond, Client: netip.MustParseAddr("127.0.0.5"), User: "alice",
			Path: "/pub/a file.txt", Bytes: 1234, Complete: true},
			"Tue Nov  3 21:06:49 2026 3 127.0.0.5 1234 /pub/a_file.txt b _ o r alice ftp 0 * c\n"},
		{ftp.TransferRecord{End: end, Duration: time.Millisecond, Client: netip.MustParseAddr("::1"), User: "anonymous", Anonymous: true,
			Path: "/up.txt", Bytes: 0, Upload: true, ASCII: true},
			"Tue Nov  3 21:06:49 2026 1 ::1 0 /up.txt a _ i a anonymous ftp 0 * i\n"},
	}
	for _, tt := range tests {
		if got := Format(tt.r); got != tt.want {
			t.Errorf("Format = %q\nwant     %q", got, tt.want)
		}
		if n := len(strings.Fields(tt.want)); n != 18 { // 5 time fields + 13
			t.Errorf("%d fields", n)
		}
	}
}

func TestWriterReopen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "xferlog")
	w, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	rec := ftp.TransferRecord{End: time.Now(), Client: netip.MustParseAddr("127.0.0.1"), User: "u", Path: "/a", Complete: true}
	w.Log(rec)
	os.Rename(p, p+".1") // log rotation
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Log(rec)
	w.Close()
	for _, f := range []string{p, p + ".1"} {
		b, _ := os.ReadFile(f)
		if strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s holds %q", f, b)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing", "xferlog")); err == nil {
		t.Error("opening in a missing folder succeeded")
	}
}
