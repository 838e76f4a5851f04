package local

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// smallReleases makes every file worth holding, so that the tests exercise
// the large-file path with small files, and restores the threshold after.
func smallReleases(t *testing.T) {
	t.Helper()
	saved := releaseLaterMin
	releaseLaterMin = 1
	t.Cleanup(func() { releaseLaterMin = saved })
}

// openFDs counts this process's descriptors, and how many of them hold a
// deleted file (a held file the releaser has not closed).
func openFDs(t *testing.T) (total, deleted int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the ReadDir's own descriptor, closed by now
		}
		total++
		if strings.HasSuffix(target, " (deleted)") {
			deleted++
		}
	}
	return total, deleted
}

// TestReplaceKeepsOldUntilCommit uploads over an existing file by each of
// the three ways Commit can replace it, and checks the atomic promise: the
// old content under the final name until Commit, the new one after, a
// reader that opened the old file still reading it, and no temporary file
// left behind.
func TestReplaceKeepsOldUntilCommit(t *testing.T) {
	cases := []struct {
		name   string
		sync   bool // sync-uploads: fsync, then a plain rename
		noExch bool // the file system refuses RENAME_EXCHANGE
		linked bool // the old file has a second link
	}{
		{name: "exchange"},
		{name: "sync-uploads", sync: true},
		{name: "no exchange", noExch: true},
		{name: "hard-linked old file", linked: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			smallReleases(t)
			if tc.noExch {
				saved := exchange
				exchange = func(int, string, string) error { return unix.EINVAL }
				t.Cleanup(func() { exchange = saved })
			}
			fx := newFixture(t)
			fx.d.SyncUploads = tc.sync
			writeHost(t, fx.host("/big.bin"), "old content")
			if tc.linked {
				if err := os.Link(fx.host("/big.bin"), fx.host("/other-link.bin")); err != nil {
					t.Fatal(err)
				}
			}
			early, err := fx.d.Open(ctx, "/big.bin", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer early.Close()

			u, err := createBegun(fx.d, "/big.bin", storage.Truncate, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(u, strings.NewReader("the new content")); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, fx.d, "/big.bin", 0); got != "old content" {
				t.Errorf("before Commit the final name reads %q, want the old content", got)
			}
			if err := u.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, fx.d, "/big.bin", 0); got != "the new content" {
				t.Errorf("after Commit: %q", got)
			}
			if b, err := io.ReadAll(early); err != nil || string(b) != "old content" {
				t.Errorf("reader opened before Commit read %q, %v", b, err)
			}
			if tmp := fx.tempFiles(t, "/"); len(tmp) != 0 {
				t.Errorf("temp files left: %v", tmp)
			}
			if tc.linked {
				if got := fx.read(t, "/other-link.bin"); got != "old content" {
					t.Errorf("the old file's other link reads %q", got)
				}
			}
		})
	}
}

// TestReplaceDoesNotSwapInADirectory replaces the final name by a directory
// between holdLast and the exchange: Commit must fail as a rename over a
// directory fails, and leave the directory where it was.
func TestReplaceDoesNotSwapInADirectory(t *testing.T) {
	smallReleases(t)
	fx := newFixture(t)
	writeHost(t, fx.host("/f.bin"), "old")
	u, err := createBegun(fx.d, "/f.bin", storage.Truncate, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	saved := exchange
	raced := false
	exchange = func(fd int, a, b string) error {
		// The race, once: between holdLast's open and the exchange, the
		// final name becomes a directory with something in it.
		if !raced {
			raced = true
			if err := os.Remove(fx.host("/f.bin")); err != nil {
				t.Fatal(err)
			}
			mustMkdir(t, fx.host("/f.bin"))
			writeHost(t, fx.host("/f.bin/keep"), "keep")
		}
		return saved(fd, a, b)
	}
	t.Cleanup(func() { exchange = saved })
	if err := u.Commit(ctx); err == nil {
		t.Error("Commit over a directory succeeded")
	}
	if got := fx.read(t, "/f.bin/keep"); got != "keep" {
		t.Errorf("the directory's file reads %q", got)
	}
	if tmp := fx.tempFiles(t, "/"); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

// TestReleasesReturnDescriptors overwrites one file 100 times, renames over
// it and deletes it, and checks that every held file is closed once the
// releaser has drained: descriptors back to the baseline, none holding a
// deleted file.
func TestReleasesReturnDescriptors(t *testing.T) {
	smallReleases(t)
	fx := newFixture(t)
	baseline, _ := openFDs(t)
	for i := range 100 {
		upload(t, fx.d, "/over.bin", storage.Truncate, 0, strings.Repeat("x", i+1))
	}
	if got := fx.read(t, "/over.bin"); len(got) != 100 {
		t.Errorf("after 100 overwrites the file has %d bytes, want 100", len(got))
	}
	writeHost(t, fx.host("/src.bin"), "renamed")
	if err := fx.d.Rename(ctx, "/src.bin", "/over.bin"); err != nil {
		t.Fatal(err)
	}
	if got := fx.read(t, "/over.bin"); got != "renamed" {
		t.Errorf("after RNTO over it: %q", got)
	}
	if err := fx.d.Remove(ctx, "/over.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(fx.host("/over.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after DELE: %v", err)
	}
	releaser.pending.Wait()
	total, deleted := openFDs(t)
	if total != baseline || deleted != 0 {
		t.Errorf("descriptors: %d (%d on deleted files), baseline %d", total, deleted, baseline)
	}
	if tmp := fx.tempFiles(t, "/"); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

// TestHoldLastSkips checks what is not worth holding: small files, files
// with other links, directories and symlinks.
func TestHoldLastSkips(t *testing.T) {
	fx := newFixture(t)
	writeHost(t, fx.host("/small.bin"), "tiny")
	if f := fx.d.holdLast("small.bin"); f != nil {
		f.Close()
		t.Error("held a file below the threshold")
	}
	smallReleases(t)
	if err := os.Link(fx.host("/small.bin"), fx.host("/link.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("small.bin", fx.host("/sym.bin")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"small.bin", "sym.bin", "a", "missing"} {
		if f := fx.d.holdLast(name); f != nil {
			f.Close()
			t.Errorf("held %s", name)
		}
	}
	if f := fx.d.holdLast("a/file.txt"); f == nil {
		t.Error("did not hold a/file.txt, a regular file with one link")
	} else {
		f.Close()
	}
}
