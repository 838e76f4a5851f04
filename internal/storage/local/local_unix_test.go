//go:build unix

package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// TestFIFORefused: a FIFO planted in the tree must neither hang Open
// (O_NONBLOCK) nor be read or appended to.
func TestFIFORefused(t *testing.T) {
	fx := newFixture(t)
	if err := syscall.Mkfifo(fx.host("/fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := fx.d.Open(ctx, "/fifo", 0); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open(fifo) = %v, want ErrPermission", err)
		}
		for _, mode := range []storage.CreateMode{storage.Truncate, storage.Append, storage.Resume} {
			if _, err := createBegun(fx.d, "/fifo", mode, 0); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Create(fifo, %d) = %v, want ErrPermission", mode, err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("opening a FIFO blocked")
	}
}

// The listing's own fstatat descriptions agree with os.Lstat for every kind
// of entry, in a batch large enough to be described in parallel.
func TestListingDescribesLikeLstat(t *testing.T) {
	fx := newFixture(t)
	mustMkdir(t, fx.host("/kinds"))
	for i := range parallelStatMin + 10 {
		writeHost(t, fx.host(fmt.Sprintf("/kinds/file%03d", i)), strings.Repeat("x", i))
	}
	mustMkdir(t, fx.host("/kinds/subdir"))
	if err := os.Symlink("file001", fx.host("/kinds/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nowhere", fx.host("/kinds/dangling")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fx.host("/kinds/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(fx.host("/kinds/file002"), 0o755|fs.ModeSetuid|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(fx.host("/kinds/subdir"), 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	os.Chtimes(fx.host("/kinds/file003"), old, old)

	infos, err := fx.d.ReadDir(ctx, "/kinds")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != parallelStatMin+10+4 {
		t.Fatalf("%d entries, want %d", len(infos), parallelStatMin+10+4)
	}
	for _, fi := range infos {
		want, err := os.Lstat(fx.host("/kinds/" + fi.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want.Mode() || fi.Size() != want.Size() || !fi.ModTime().Equal(want.ModTime()) || fi.IsDir() != want.IsDir() {
			t.Errorf("%s: mode %v size %d mtime %v dir %v; Lstat says %v %d %v %v", fi.Name(),
				fi.Mode(), fi.Size(), fi.ModTime(), fi.IsDir(), want.Mode(), want.Size(), want.ModTime(), want.IsDir())
		}
	}
}
