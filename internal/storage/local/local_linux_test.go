package local

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func checkAtime(t *testing.T, hostName string, want time.Time) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(hostName, &st); err != nil {
		t.Fatal(err)
	}
	if got := time.Unix(st.Atim.Unix()); !got.Equal(want) {
		t.Errorf("%s: atime %v, want %v", hostName, got, want)
	}
}

// TestWriteErrorsSurface points an Upload at /dev/full, whose writes fail
// with ENOSPC, and checks that Write and ReadFrom return that error as is,
// so the engine can answer 452.
func TestWriteErrorsSurface(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer f.Close()
	u := &Upload{f: f}
	u.begun.Store(true) // as after Begin
	if _, err := u.Write([]byte("data")); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Write = %v, want ENOSPC", err)
	}
	if _, err := u.ReadFrom(strings.NewReader("data")); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("ReadFrom = %v, want ENOSPC", err)
	}
	pr, pw, err := os.Pipe() // the splice path
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() { pw.Write([]byte("data")); pw.Close() }()
	if _, err := io.Copy(u, pr); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("io.Copy(upload, pipe) = %v, want ENOSPC", err)
	}
}
