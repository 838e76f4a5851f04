package ftp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/storage"
	"github.com/rotary-ftp/rotary/internal/storage/storagetest"
)

// capsBackend is a testBackend that reports its storage's capabilities
// before login (ftp.CapabilityReporter), as auth.Backend does.
type capsBackend struct {
	*testBackend
	caps storage.Capabilities
}

func (b capsBackend) Capabilities() storage.Capabilities { return b.caps }

// TestCapabilitiesDecideCommands: with a driver that lacks capabilities,
// the commands that need them answer 502 (504 for REST + STOR without
// resume), and FEAT, HELP and SITE HELP leave them out; before login the
// Backend's capabilities decide FEAT, or everything when it reports none.
func TestCapabilitiesDecideCommands(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep storage.Capabilities
	}{
		{"all", storage.CapAll},
		{"none", 0},
		{"no resume", storage.CapAll &^ storage.CapResume},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, 8, func(srv *ftp.Server) {
				srv.Backend = capsBackend{srv.Backend.(*testBackend), tc.keep}
			})
			ts.backend.wrap = func(d storage.Driver) storage.Driver { return storagetest.Limit(d, tc.keep) }
			writeFile(t, filepath.Join(ts.root, "f.txt"), []byte("0123456789"))
			has := func(c storage.Capabilities) bool { return tc.keep&c == c }
			r := ts.raw(t)

			feat := r.Must(211, "FEAT")
			if strings.Contains(feat, "\n MFMT\n") != has(storage.CapChtimes) {
				t.Errorf("FEAT before login (Backend has %v):\n%s", tc.keep, feat)
			}
			r.Login("u", "p")
			feat = r.Must(211, "FEAT")
			if strings.Contains(feat, "\n MFMT\n") != has(storage.CapChtimes) {
				t.Errorf("FEAT (driver has %v):\n%s", tc.keep, feat)
			}
			help := r.Must(214, "HELP")
			for verb, c := range map[string]storage.Capabilities{"MFMT": storage.CapChtimes, "APPE": storage.CapAppend,
				"STOU": storage.CapExclusive, "RNFR": storage.CapRename, "RNTO": storage.CapRename} {
				if strings.Contains(help, verb) != has(c) {
					t.Errorf("HELP lists %s: %v, want %v:\n%s", verb, !has(c), has(c), help)
				}
				want := 214
				if !has(c) {
					want = 502
				}
				r.Must(want, "HELP %s", verb)
			}
			if !strings.Contains(help, "STOR") || !strings.Contains(help, "RETR") {
				t.Errorf("HELP lost commands every storage has:\n%s", help)
			}
			if got := r.Must(214, "SITE HELP"); strings.Contains(got, "CHMOD") != has(storage.CapChmod) {
				t.Errorf("SITE HELP with %v:\n%s", tc.keep, got)
			}

			code := func(c storage.Capabilities) int {
				if has(c) {
					return 0
				}
				return 502
			}
			if want := code(storage.CapChtimes); want != 0 {
				r.Must(want, "MFMT 20200102030405 f.txt")
			} else {
				r.Must(213, "MFMT 20200102030405 f.txt")
			}
			if want := code(storage.CapChmod); want != 0 {
				r.Must(want, "SITE CHMOD 600 f.txt")
			} else {
				r.Must(200, "SITE CHMOD 600 f.txt")
			}
			if want := code(storage.CapRename); want != 0 {
				r.Must(want, "RNFR f.txt")
				r.Must(want, "RNTO g.txt")
			}
			// Data commands refused by capability drop the data connection
			// set up for them, as other refusals before 150 do.
			for _, cmd := range []struct {
				verb string
				c    storage.Capabilities
			}{{"APPE f.txt", storage.CapAppend}, {"STOU", storage.CapExclusive}} {
				if want := code(cmd.c); want != 0 {
					r.Must(229, "EPSV")
					r.Must(want, "%s", cmd.verb)
				}
			}
			// REST + STOR resumes: without CapResume that is the parameter
			// the storage cannot do, 504; REST + RETR needs nothing.
			r.Must(350, "REST 4")
			if has(storage.CapResume) {
				d := r.EPSV()
				r.Must(150, "STOR f.txt")
				d.Write([]byte("ABC"))
				d.Close()
				r.Expect(226)
				if got := readFileString(t, filepath.Join(ts.root, "f.txt")); got != "0123ABC" {
					t.Errorf("REST 4 + STOR left %q", got)
				}
			} else {
				r.Must(229, "EPSV")
				r.Must(504, "STOR f.txt")
				if got := readFileString(t, filepath.Join(ts.root, "f.txt")); got != "0123456789" {
					t.Errorf("a refused REST + STOR changed the file: %q", got)
				}
				// The REST offset is gone with the refused command.
				d := r.EPSV()
				r.Must(150, "RETR f.txt")
				if got := string(readAll(t, d)); got != "0123456789" {
					t.Errorf("RETR after the refused STOR read %q", got)
				}
				r.Expect(226)
			}
		})
	}
}

// TestFEATBeforeLoginWithoutReporter: a Backend that does not report
// capabilities gets every command the engine has in FEAT before login.
func TestFEATBeforeLoginWithoutReporter(t *testing.T) {
	ts := startServer(t, 2, nil)
	ts.backend.wrap = func(d storage.Driver) storage.Driver { return storagetest.Limit(d, 0) }
	r := ts.raw(t)
	if feat := r.Must(211, "FEAT"); !strings.Contains(feat, "\n MFMT\n") {
		t.Errorf("FEAT before login lacks MFMT:\n%s", feat)
	}
	r.Login("u", "p")
	if feat := r.Must(211, "FEAT"); strings.Contains(feat, "\n MFMT\n") {
		t.Errorf("FEAT after login on a driver without chtimes lists MFMT:\n%s", feat)
	}
}

// refusingDriver claims every capability but refuses some calls: Chtimes
// altogether, Chmod for group and other bits (a storage with one owner).
type refusingDriver struct{ storage.Driver }

func (d refusingDriver) Chtimes(ctx context.Context, name string, mtime time.Time) error {
	return storage.Unsupported("chtimes", name)
}

func (d refusingDriver) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	if mode&0o077 != 0 {
		return storage.UnsupportedParameter("chmod", name, fmt.Sprintf("mode %o", mode))
	}
	return d.Driver.Chmod(ctx, name, mode)
}

// TestUnsupportedErrorsReply: a driver's ErrUnsupported is 502 and its
// ErrUnsupportedParameter 504 (errorReply), through the real protocol.
func TestUnsupportedErrorsReply(t *testing.T) {
	ts := startServer(t, 2, nil)
	ts.backend.wrap = func(d storage.Driver) storage.Driver { return refusingDriver{d} }
	writeFile(t, filepath.Join(ts.root, "f.txt"), []byte("x"))
	r := ts.raw(t)
	r.Login("u", "p")
	if msg := r.Must(502, "MFMT 20200102030405 f.txt"); !strings.Contains(msg, "not implemented") {
		t.Errorf("502 text %q", msg)
	}
	if msg := r.Must(504, "SITE CHMOD 644 f.txt"); !strings.Contains(msg, "parameter") {
		t.Errorf("504 text %q", msg)
	}
	r.Must(200, "SITE CHMOD 600 f.txt")
}

func readFileString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConcurrentSTOU: N clients send STOU with one base name at once, and
// all their uploads are in flight together before any sends its data. Each
// gets a name of its own, and every file holds its own client's data:
// nothing was overwritten.
func TestConcurrentSTOU(t *testing.T) {
	const n = 8
	ts := startServer(t, 2*n, nil)
	writeFile(t, filepath.Join(ts.root, "same"), []byte("there before"))
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup // every upload has its 150
		mu      sync.Mutex
		names   = map[string]int{}
	)
	started.Add(n)
	release := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			r := ts.raw(t)
			r.Login("u", "p")
			d := r.EPSV()
			msg := r.Must(150, "STOU same")
			_, name, ok := strings.Cut(msg, "FILE: ")
			if !ok {
				t.Errorf("150 without FILE: %q", msg)
			}
			mu.Lock()
			names[name]++
			mu.Unlock()
			started.Done()
			<-release
			fmt.Fprintf(d, "upload %d", i)
			d.Close()
			r.Expect(226)
		})
	}
	started.Wait()
	close(release)
	wg.Wait()
	if len(names) != n {
		t.Fatalf("%d clients got the names %v, want %d distinct ones", n, names, n)
	}
	if names["same"] != 0 {
		t.Errorf("a STOU took the existing name: %v", names)
	}
	if got := readFileString(t, filepath.Join(ts.root, "same")); got != "there before" {
		t.Errorf("the existing file was overwritten: %q", got)
	}
	seen := map[string]bool{}
	for name := range names {
		got := readFileString(t, filepath.Join(ts.root, name))
		if !strings.HasPrefix(got, "upload ") || seen[got] {
			t.Errorf("%s holds %q (another upload's, or none)", name, got)
		}
		seen[got] = true
	}
}

// sparseFile makes a file of size bytes that holds no blocks, so hashing it
// takes long without the test writing it.
func sparseFile(t *testing.T, p string, size int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// TestABORDuringHASH: HASH of a large file runs off the control goroutine:
// STAT is answered while it runs, ABOR ends it promptly (451 for HASH, then
// 226 for ABOR), and the session goes on; HASH of a small file still gives
// the right digest, and commands sent behind it are answered in order.
func TestABORDuringHASH(t *testing.T) {
	ts := startServer(t, 2, nil)
	sparseFile(t, filepath.Join(ts.root, "big"), 64<<30)
	data := randomBytes(3 << 20)
	writeFile(t, filepath.Join(ts.root, "small"), data)
	r := ts.raw(t)
	r.Login("u", "p")
	for _, mode := range []string{"I", "A"} { // HASH, then SIZE in TYPE A
		r.Must(200, "TYPE %s", mode)
		cmd := "HASH big"
		if mode == "A" {
			cmd = "SIZE big"
		}
		fmt.Fprintf(r.Net(), "%s\r\n", cmd)
		time.Sleep(50 * time.Millisecond)
		if msg := r.Must(213, "STAT"); !strings.Contains(msg, "in progress") {
			t.Errorf("STAT during %s: %q", cmd, msg)
		}
		start := time.Now()
		if msg := r.Must(451, "ABOR"); !strings.Contains(msg, "ABOR") {
			t.Errorf("%s after ABOR: %q", cmd, msg)
		}
		r.Expect(226)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("ABOR of %s answered after %v", cmd, d)
		}
	}
	r.Must(200, "TYPE I")
	want := sha256.Sum256(data)
	fmt.Fprintf(r.Net(), "HASH small\r\nPWD\r\n")
	if got := r.Expect(213); got != fmt.Sprintf("SHA-256 0-%d %s /small", len(data), hex.EncodeToString(want[:])) {
		t.Errorf("HASH small = %q", got)
	}
	r.Expect(257)
	r.Must(200, "TYPE A")
	if got := r.Must(213, "SIZE small"); got != fmt.Sprint(len(data)+bytes.Count(data, []byte("\n"))) {
		t.Errorf("SIZE in TYPE A = %s", got)
	}
}

// stuckDriver's reads and uploads' Begin move nothing until their context
// ends: a storage that stopped answering.
type stuckDriver struct{ storage.Driver }

type stuckReader struct {
	ctx context.Context
	io.Closer
}

func (r stuckReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

func (d stuckDriver) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	rc, err := d.Driver.Open(ctx, name, offset)
	if err != nil {
		return nil, err
	}
	return stuckReader{ctx, rc}, nil
}

func (d stuckDriver) Create(ctx context.Context, name string, mode storage.CreateMode, offset int64) (storage.Upload, error) {
	up, err := d.Driver.Create(ctx, name, mode, offset)
	if err != nil {
		return nil, err
	}
	return stuckUpload{up}, nil
}

type stuckUpload struct{ storage.Upload }

func (u stuckUpload) Begin(ctx context.Context, progress func(int64)) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestStalledStorage: HASH and an APPE's copy of the old file that move
// no byte for the data timeout end (451 for HASH, 426 for APPE, whose
// copy runs after 150), and the session goes on.
func TestStalledStorage(t *testing.T) {
	ts := startServer(t, 2, func(srv *ftp.Server) { srv.DataTimeout = 300 * time.Millisecond })
	ts.backend.wrap = func(d storage.Driver) storage.Driver { return stuckDriver{d} }
	writeFile(t, filepath.Join(ts.root, "f"), []byte("old"))
	r := ts.raw(t)
	r.Login("u", "p")
	start := time.Now()
	if msg := r.Must(451, "HASH f"); !strings.Contains(msg, "no progress") {
		t.Errorf("stalled HASH: %q", msg)
	}
	d := r.EPSV()
	r.Must(150, "APPE f")
	if msg := r.Expect(426); !strings.Contains(msg, "no progress") {
		t.Errorf("stalled APPE: %q", msg)
	}
	d.Close()
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("stalls ended after %v", el)
	}
	if got := readFileString(t, filepath.Join(ts.root, "f")); got != "old" {
		t.Errorf("the stalled APPE changed the file: %q", got)
	}
	r.Must(257, "PWD")
}

// TestAPPECopiesAfter150: APPE's and REST + STOR's copy of the kept part
// runs in the transfer, after 150, where ABOR ends it (426, then 226) and
// leaves the old file; the errors of Create still come before 150.
func TestAPPECopiesAfter150(t *testing.T) {
	ts := startServer(t, 4, nil)
	ts.backend.wrap = func(d storage.Driver) storage.Driver { return stuckDriver{d} }
	writeFile(t, filepath.Join(ts.root, "f"), []byte("0123456789"))
	if err := os.Mkdir(filepath.Join(ts.root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := ts.raw(t)
	r.Login("u", "p")
	for _, cmds := range [][]string{{"APPE f"}, {"REST 4", "STOR f"}} {
		d := r.EPSV()
		for _, c := range cmds[:len(cmds)-1] {
			r.Must(350, "%s", c)
		}
		// The copy never ends by itself (stuckUpload): 150 proves it is
		// not in front of the reply.
		r.Must(150, "%s", cmds[len(cmds)-1])
		start := time.Now()
		r.Must(426, "ABOR")
		r.Expect(226)
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%v: ABOR answered after %v", cmds, el)
		}
		d.Close()
	}
	if got := readFileString(t, filepath.Join(ts.root, "f")); got != "0123456789" {
		t.Errorf("aborted uploads changed the file: %q", got)
	}
	// Create's refusals come before 150, with no transfer.
	r.Must(229, "EPSV")
	r.Must(550, "APPE dir")
	r.Must(350, "REST 11")
	r.Must(229, "EPSV")
	r.Must(554, "STOR f")
	r.Must(229, "EPSV")
	r.Must(550, "APPE missing/f")
}
