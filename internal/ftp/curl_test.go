package ftp_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCurl drives the server with the curl binary: upload, download,
// listing, passive (EPSV and PASV) and active mode.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	ts := startServer(t, 8, nil)
	url := "ftp://u:p@" + ts.addr + "/"
	data := randomBytes(2<<20 + 3)
	src := filepath.Join(t.TempDir(), "src.bin")
	writeFile(t, src, data)
	run := func(args ...string) []byte {
		t.Helper()
		args = append([]string{"-sS", "--max-time", "30"}, args...)
		out, err := exec.Command(curl, args...).Output()
		if err != nil {
			msg := ""
			if ee, ok := err.(*exec.ExitError); ok {
				msg = string(ee.Stderr)
			}
			t.Fatalf("curl %v: %v %s\nserver log:\n%s", args, err, msg, ts.logs.String())
		}
		return out
	}
	run("-T", src, url+"up.bin")
	if got, _ := os.ReadFile(filepath.Join(ts.root, "up.bin")); !bytes.Equal(got, data) {
		t.Fatal("curl upload differs")
	}
	for _, mode := range [][]string{nil, {"--disable-epsv"}, {"-P", "127.0.0.1"}, {"-P", "127.0.0.1", "--disable-eprt"}} {
		got := run(append(mode, url+"up.bin")...)
		if !bytes.Equal(got, data) {
			t.Fatalf("curl %v download: %d bytes, want %d", mode, len(got), len(data))
		}
	}
	// Resume a download from byte 1000 (REST).
	if got := run("-C", "1000", url+"up.bin"); !bytes.Equal(got, data[1000:]) {
		t.Fatalf("curl -C 1000: %d bytes", len(got))
	}
	if list := run(url); !bytes.Contains(list, []byte("up.bin")) {
		t.Fatalf("listing lacks up.bin: %q", list)
	}
	if names := run("-l", url); string(bytes.TrimSpace(names)) != "up.bin" {
		t.Fatalf("NLST = %q", names)
	}
	// Quote commands: make and remove a directory.
	run("-Q", "MKD d", "-Q", "RMD d", url)
}
