package local

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Replacing or deleting a large file frees its pages and extents in the
// system call that drops its last link: a rename over a 1 GiB file took
// 0.27-0.36 s here, and a DELE 0.16 s, on the session's goroutine before
// its reply (issue 22). holdLast opens such a file before that call, so
// that the last reference is the descriptor; releaser closes it after the
// reply, in the background, and the freeing happens there.
//
// Nothing about the upload's atomicity changes: the rename or unlink is the
// same call, at the same moment; only the inode's end moves.

// holdLast opens rel if it is a regular file whose last link the coming
// rename or unlink will drop, and returns it (nil otherwise: nothing to
// gain, or it could not be opened).
func (d *Driver) holdLast(rel string) *os.File {
	fi, err := d.root.Lstat(rel)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < releaseLaterMin {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return nil // other links keep it alive: the call frees nothing
	}
	f, err := d.root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW|openReadFlag, 0)
	if err != nil {
		return nil
	}
	return f
}

// releaseLaterMin is the smallest file worth holding: a small file's
// freeing costs less than the open. A variable for the tests.
var releaseLaterMin int64 = 8 << 20

// releaser closes held files on a worker goroutine, at most releaseQueue
// waiting: past that the caller closes inline (the old cost, never an
// unbounded backlog of deleted files holding disk space).
var releaser = struct {
	once    sync.Once
	ch      chan *os.File
	pending sync.WaitGroup // files handed over and not yet closed (tests wait on it)
}{}

const releaseQueue = 16

// releaseLater hands f (nil is fine) to the worker.
func releaseLater(f *os.File) {
	if f == nil {
		return
	}
	releaser.once.Do(func() {
		releaser.ch = make(chan *os.File, releaseQueue)
		go func() {
			// The worker owns its thread and runs it at the lowest
			// priority: freeing a large file is CPU work in the kernel
			// that nobody waits for, and it should not slow the next
			// transfer on a busy machine.
			runtime.LockOSThread()
			unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
			for f := range releaser.ch {
				f.Close()
				releaser.pending.Done()
			}
		}()
	})
	releaser.pending.Add(1)
	select {
	case releaser.ch <- f:
	default:
		releaser.pending.Done()
		f.Close()
	}
}

// replace puts the upload's temporary file under its final name, over an
// existing file, atomically, keeping the replaced file's cost off the
// reply path:
//
//   - renameat2(RENAME_EXCHANGE) swaps the two names in one step: the final
//     name holds the old content until that instant and the new content
//     from it. A plain rename over an existing file makes ext4 (with its
//     default auto_da_alloc) allocate and start writing the new file's
//     delayed blocks inside the call: 0.14-0.23 s for 1 GiB here, before
//     the 226. The exchange skips that heuristic, which exists for programs
//     that replace files without fsync; Rotary's promise across a power loss
//     is sync-uploads' (the data is fsynced first, and then a plain rename
//     is used), not this heuristic's.
//   - the old content, now under the temporary name, is unlinked with its
//     last reference held, and released after the reply (holdLast).
//
// A crash between the two steps leaves the old content under the temporary
// name, which the next start removes (SweepTemp). handled is false when the
// file system cannot exchange (or there is nothing to replace): the caller
// renames as before.
func (u *Upload) replace() (handled bool, err error) {
	if u.d.SyncUploads {
		return false, nil
	}
	old := u.d.holdLast(u.rel)
	if old == nil {
		return false, nil // no large regular file to replace
	}
	dir, err := u.d.root.Open(filepath.Dir(u.rel))
	if err != nil {
		old.Close()
		return false, nil
	}
	defer dir.Close()
	fd := int(dir.Fd())
	tmp, final := filepath.Base(u.tmp), filepath.Base(u.rel)
	err = exchange(fd, tmp, final)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EXDEV) ||
		errors.Is(err, unix.EOPNOTSUPP) {
		old.Close()
		return false, nil // not supported here: a plain rename
	}
	if err != nil {
		old.Close()
		return true, &os.LinkError{Op: "renameat2", Old: u.tmp, New: u.rel, Err: err}
	}
	// The temporary name now holds what the final name held. That is the
	// file holdLast opened, unless something replaced it in between (a
	// directory, say, which a rename must not remove): then swap back and
	// let the plain rename decide, as it would have.
	oldInfo, err1 := old.Stat()
	swapped, err2 := u.d.root.Lstat(u.tmp)
	if err1 != nil || err2 != nil || !os.SameFile(oldInfo, swapped) {
		old.Close()
		if err := exchange(fd, tmp, final); err != nil {
			return true, &os.LinkError{Op: "renameat2", Old: u.tmp, New: u.rel, Err: err}
		}
		return false, nil
	}
	u.d.root.Remove(u.tmp)
	releaseLater(old)
	return true, nil
}

// exchange swaps two names in the directory dirfd; a variable so that a
// test can play a file system without RENAME_EXCHANGE.
var exchange = func(dirfd int, a, b string) error {
	return unix.Renameat2(dirfd, a, dirfd, b, unix.RENAME_EXCHANGE)
}
