package ftp_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// mountTmpfs mounts a tmpfs of size bytes for the test, or skips it where
// mounting is not allowed (not root, no mount namespace rights).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the full-disk test needs root", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// A real full disk (a 4 MiB tmpfs): an upload past it gets 452, the file
// it was replacing keeps its old content, no temporary file is left, and
// the server goes on serving (issue 15).
func TestUploadToAFullDisk(t *testing.T) {
	disk := mountTmpfs(t, "4m")
	ts := startServer(t, 4, func(s *ftp.Server) { s.Backend.(*testBackend).root = disk })
	old := randomBytes(1 << 20)
	writeFile(t, filepath.Join(disk, "report.bin"), old)

	for _, mode := range []string{"splice", "userspace"} {
		c := ts.client(t)
		if mode == "userspace" {
			// TYPE A copies in user space: the write(2) path, not splice.
			if err := c.Type(ftpc.TransferTypeASCII); err != nil {
				t.Fatal(err)
			}
		}
		err := c.Stor("report.bin", bytes.NewReader(bytes.Repeat([]byte("0123456789abcde\n"), 8<<20/16)))
		if err == nil || !isCode(err, 452) {
			t.Fatalf("%s: upload past a full disk: %v, want 452", mode, err)
		}
		if got, _ := os.ReadFile(filepath.Join(disk, "report.bin")); !bytes.Equal(got, old) {
			t.Fatalf("%s: report.bin changed by the failed upload (%d bytes)", mode, len(got))
		}
		entries, _ := os.ReadDir(disk)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".rotary-upload-") {
				t.Fatalf("%s: temporary file %s left behind", mode, e.Name())
			}
		}
		// The space is back: the server goes on serving.
		if err := c.Stor("small.txt", strings.NewReader("still serving")); err != nil {
			t.Fatalf("%s: upload after the full disk: %v", mode, err)
		}
		r, err := c.Retr("report.bin")
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r)
		r.Close()
		if mode == "splice" && !bytes.Equal(got, old) {
			t.Fatalf("RETR after the full disk: %d bytes differ", len(got))
		}
	}
}
