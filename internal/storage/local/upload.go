package local

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Temporary upload files are named tempPrefix + 16 hex digits + tempSuffix
// and live in the destination's directory, so that the final rename never
// crosses a file system. ReadDir hides them and resolve refuses names that
// look like them, so a client can neither see, open nor forge one.
const (
	tempPrefix = ".rotary-upload-"
	tempSuffix = ".tmp"
)

func isTempName(name string) bool {
	return len(name) >= len(tempPrefix)+len(tempSuffix) &&
		strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
}

func newTempName() string {
	var b [8]byte
	rand.Read(b[:]) // never returns an error (crypto/rand, Go 1.24+)
	return tempPrefix + hex.EncodeToString(b[:]) + tempSuffix
}

// Upload is an upload in progress, writing to a temporary file next to its
// destination. Write and ReadFrom go straight to the *os.File (ReadFrom keeps
// Linux splice from a TCP connection and copy_file_range from a file).
// Commit and Abort may be called from another goroutine than the one
// writing; Abort then makes the pending Write/ReadFrom fail.
type Upload struct {
	d    *Driver
	f    *os.File
	name string // driver name of the destination, for errors
	rel  string // root-relative destination
	tmp  string // root-relative temporary file

	perm    fs.FileMode
	setPerm bool // destination existed: give the new file its permission bits

	mu    sync.Mutex
	state uploadState
}

type uploadState int

const (
	uploadOpen uploadState = iota
	uploadCommitted
	uploadAborted
)

// Create starts an upload to name. Data goes to a temporary file created
// with O_EXCL and mode 0644 in name's directory; nothing is visible under
// name until Commit renames it into place. With storage.Append the temporary
// file starts as a copy of the existing file (if any); with storage.Resume as
// a copy of its first offset bytes (offset beyond the end, or a positive
// offset with no existing file, is an error wrapping storage.ErrBadOffset).
// offset is ignored for storage.Truncate and storage.Append. If the
// destination exists, its permission bits are kept on Commit.
func (d *Driver) Create(name string, mode storage.CreateMode, offset int64) (storage.Upload, error) {
	rel, err := resolve("create", name)
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, &fs.PathError{Op: "create", Path: name, Err: storage.ErrIsDir}
	}
	switch mode {
	case storage.Truncate, storage.Append, storage.Resume:
	default:
		return nil, &fs.PathError{Op: "create", Path: name, Err: fmt.Errorf("unknown create mode %d: %w", mode, fs.ErrInvalid)}
	}
	if mode == storage.Resume && offset < 0 {
		return nil, badOffset(name, offset, 0)
	}

	// Look at the existing destination, following symlinks inside the root.
	var (
		existing *os.File
		size     int64
		perm     fs.FileMode
		exists   bool
	)
	fi, err := d.root.Stat(rel)
	switch {
	case err == nil:
		exists = true
		perm = fi.Mode().Perm()
		if fi.IsDir() {
			return nil, &fs.PathError{Op: "create", Path: name, Err: storage.ErrIsDir}
		}
		if !fi.Mode().IsRegular() {
			return nil, &fs.PathError{Op: "create", Path: name, Err: errNotRegular}
		}
	case errors.Is(err, fs.ErrNotExist):
		// A new file (or a dangling symlink, which Commit replaces).
	default:
		return nil, wrapErr("create", name, err)
	}
	if exists && mode != storage.Truncate {
		existing, fi, err = d.openRegular("create", name, rel)
		if errors.Is(err, fs.ErrNotExist) {
			exists = false // removed in the meantime
		} else if err != nil {
			return nil, err
		} else {
			defer existing.Close()
			size = fi.Size()
			perm = fi.Mode().Perm()
		}
	}
	if mode == storage.Resume && offset > 0 && (!exists || offset > size) {
		return nil, badOffset(name, offset, size)
	}

	u := &Upload{d: d, name: name, rel: rel, perm: perm, setPerm: exists}
	dir := filepath.Dir(rel)
	for range 10 {
		u.tmp = filepath.Join(dir, newTempName())
		u.f, err = d.root.OpenFile(u.tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, wrapErr("create", name, err)
	}

	if existing != nil {
		switch mode {
		case storage.Append:
			_, err = io.Copy(u.f, existing)
		case storage.Resume:
			var n int64
			n, err = io.CopyN(u.f, existing, offset)
			if errors.Is(err, io.EOF) { // the file shrank since fstat
				err = badOffset(name, offset, n)
			}
		}
		if err != nil {
			u.discard()
			return nil, wrapErr("create", name, err)
		}
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		u.discard()
		return nil, &fs.PathError{Op: "create", Path: name, Err: os.ErrClosed}
	}
	d.uploads[u] = struct{}{}
	d.mu.Unlock()
	return u, nil
}

func badOffset(name string, offset, size int64) error {
	return &fs.PathError{Op: "create", Path: name,
		Err: fmt.Errorf("%w: offset %d, size %d", storage.ErrBadOffset, offset, size)}
}

// Write writes to the temporary file. Errors (such as ENOSPC) are those of
// the *os.File, unchanged.
func (u *Upload) Write(p []byte) (int, error) {
	return u.f.Write(p)
}

// ReadFrom hands r to the temporary *os.File's ReadFrom, so that
// io.Copy(upload, tcpConn) uses splice(2) on Linux. Errors are returned
// unchanged.
func (u *Upload) ReadFrom(r io.Reader) (int64, error) {
	return u.f.ReadFrom(r)
}

// File is the temporary file the upload writes to (storage.FileUpload),
// positioned where the next byte goes.
func (u *Upload) File() *os.File { return u.f }

// Commit closes the temporary file and renames it over the destination.
// With Driver.SyncUploads the data is flushed to disk (fsync) before the
// rename, so that even after a power loss the destination holds either the
// old or the complete new content.
// On any error the temporary file is removed and the destination left as it
// was. Commit after a successful Commit returns nil; after Abort (or a failed
// Commit) it returns an error wrapping os.ErrClosed.
func (u *Upload) Commit() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch u.state {
	case uploadCommitted:
		return nil
	case uploadAborted:
		return &fs.PathError{Op: "commit", Path: u.name, Err: os.ErrClosed}
	}
	defer u.d.forget(u)

	var err error
	if u.setPerm {
		err = u.f.Chmod(u.perm)
	}
	if err == nil && u.d.SyncUploads {
		err = u.f.Sync()
	}
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		u.state = uploadAborted
		u.d.root.Remove(u.tmp)
		return wrapErr("commit", u.name, err)
	}
	if err := u.d.root.Rename(u.tmp, u.rel); err != nil {
		u.state = uploadAborted
		u.d.root.Remove(u.tmp)
		if fi, serr := u.d.root.Lstat(u.rel); serr == nil && fi.IsDir() {
			return &fs.PathError{Op: "commit", Path: u.name, Err: storage.ErrIsDir}
		}
		return wrapErr("commit", u.name, err)
	}
	u.state = uploadCommitted
	return nil
}

// Abort closes and removes the temporary file; the destination is left as
// it was. It is a no-op after Commit and safe to call more than once.
func (u *Upload) Abort() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state != uploadOpen {
		return nil
	}
	u.state = uploadAborted
	defer u.d.forget(u)
	return u.discard()
}

// discard closes and removes the temporary file.
func (u *Upload) discard() error {
	cerr := u.f.Close()
	rerr := u.d.root.Remove(u.tmp)
	if errors.Is(rerr, fs.ErrNotExist) {
		rerr = nil
	}
	if errors.Is(cerr, os.ErrClosed) {
		cerr = nil
	}
	if cerr != nil {
		return wrapErr("abort", u.name, cerr)
	}
	return wrapErr("abort", u.name, rerr)
}

func (d *Driver) forget(u *Upload) {
	d.mu.Lock()
	delete(d.uploads, u)
	d.mu.Unlock()
}
