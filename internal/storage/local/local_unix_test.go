//go:build unix

package local

import (
	"errors"
	"io/fs"
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
		if _, err := fx.d.Open("/fifo", 0); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open(fifo) = %v, want ErrPermission", err)
		}
		for _, mode := range []storage.CreateMode{storage.Truncate, storage.Append, storage.Resume} {
			if _, err := fx.d.Create("/fifo", mode, 0); !errors.Is(err, fs.ErrPermission) {
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
