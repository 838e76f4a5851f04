package local

import (
	"context"
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
	"sync/atomic"

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

// liveTemps holds the temporary names (random, so unique in the process)
// of this process's uploads from before their files are created until
// they are renamed or removed: SweepTemp, which runs while the homes are
// already served, leaves them alone.
var liveTemps = struct {
	sync.Mutex
	names map[string]struct{}
}{names: make(map[string]struct{})}

func holdTemp(name string) {
	liveTemps.Lock()
	liveTemps.names[name] = struct{}{}
	liveTemps.Unlock()
}

func dropTemp(name string) {
	liveTemps.Lock()
	delete(liveTemps.names, name)
	liveTemps.Unlock()
}

func tempLive(name string) bool {
	liveTemps.Lock()
	defer liveTemps.Unlock()
	_, ok := liveTemps.names[name]
	return ok
}

// Upload is an upload in progress, writing to a temporary file next to its
// destination. Write and ReadFrom go straight to the *os.File (ReadFrom keeps
// Linux splice from a TCP connection and copy_file_range from a file).
// Begin, Commit and Abort may be called from another goroutine than the one
// writing; Abort then makes the pending Begin, Write or ReadFrom fail.
type Upload struct {
	d    *Driver
	f    *os.File
	name string // driver name of the destination, for errors
	rel  string // root-relative destination
	tmp  string // root-relative temporary file
	mode storage.CreateMode

	// src is the existing file whose first keep bytes (all of it, for
	// keep < 0) Begin copies into f, for Append and Resume; it is closed
	// by Begin or Abort.
	src  *os.File
	keep int64

	perm    fs.FileMode
	setPerm bool // destination existed: give the new file its permission bits
	// reserved is the name an Exclusive upload holds in reservations
	// until it ends ("" for other modes).
	reserved string
	// tempHeld: tmp's name is in liveTemps, out of SweepTemp's reach.
	tempHeld bool

	// begun is set once Begin succeeded: Write and ReadFrom check it
	// without the lock, which Abort must be able to take while they block.
	begun atomic.Bool

	mu    sync.Mutex
	state uploadState
}

type uploadState int

const (
	uploadCreated   uploadState = iota // Begin not called yet
	uploadBeginning                    // Begin copying
	uploadOpen                         // Begin done: data may be written
	uploadCommitted
	uploadAborted
)

var errNotBegun = errors.New("upload used before Begin succeeded")

// Create starts an upload to name. Data goes to a temporary file created
// with O_EXCL and mode 0644 in name's directory; nothing is visible under
// name until Commit renames (or, for storage.Exclusive, links) it into
// place. With storage.Append the temporary file starts as a copy of the
// existing file (if any); with storage.Resume as a copy of its first offset
// bytes (offset beyond the end, or a positive offset with no existing file,
// is an error wrapping storage.ErrBadOffset). Create only checks and opens:
// the copy is Begin's, in the transfer. offset is ignored for the other
// modes. If the destination exists, its permission bits are kept on Commit.
// With storage.Exclusive, a name that exists, or that another Exclusive
// upload of this process holds, is an error wrapping fs.ErrExist.
func (d *Driver) Create(ctx context.Context, name string, mode storage.CreateMode, offset int64) (storage.Upload, error) {
	rel, err := resolveCtx(ctx, "create", name)
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, &fs.PathError{Op: "create", Path: name, Err: storage.ErrIsDir}
	}
	switch mode {
	case storage.Truncate, storage.Append, storage.Resume, storage.Exclusive:
	default:
		return nil, &fs.PathError{Op: "create", Path: name, Err: fmt.Errorf("unknown create mode %d: %w", mode, fs.ErrInvalid)}
	}
	if mode == storage.Resume && offset < 0 {
		return nil, badOffset(name, offset, 0)
	}
	u := &Upload{d: d, name: name, rel: rel, mode: mode, keep: -1}
	if mode == storage.Exclusive {
		if err := u.reserve(); err != nil {
			return nil, err
		}
	} else if err := u.inspect(offset); err != nil {
		return nil, err
	}

	dir := filepath.Dir(rel)
	for range 10 {
		tmp := newTempName()
		holdTemp(tmp)
		u.tmp = filepath.Join(dir, tmp)
		u.f, err = d.root.OpenFile(u.tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm)
		if err == nil {
			u.tempHeld = true
			break
		}
		dropTemp(tmp)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		u.release()
		return nil, wrapErr("create", name, err)
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		u.discard()
		return nil, &fs.PathError{Op: "create", Path: name, Err: os.ErrClosed}
	}
	if d.uploads == nil {
		d.uploads = make(map[*Upload]struct{})
	}
	d.uploads[u] = struct{}{}
	d.mu.Unlock()
	return u, nil
}

// inspect looks at the existing destination (following symlinks inside the
// root) for Truncate, Append and Resume: a directory or a non-regular file is
// refused, the permission bits are kept, and for Append and Resume the
// file is opened for Begin's copy.
func (u *Upload) inspect(offset int64) error {
	d, name, rel := u.d, u.name, u.rel
	exists := false
	fi, err := d.root.Stat(rel)
	switch {
	case err == nil:
		exists = true
		u.perm = fi.Mode().Perm()
		if fi.IsDir() {
			return &fs.PathError{Op: "create", Path: name, Err: storage.ErrIsDir}
		}
		if !fi.Mode().IsRegular() {
			return &fs.PathError{Op: "create", Path: name, Err: errNotRegular}
		}
	case errors.Is(err, fs.ErrNotExist):
		// A new file (or a dangling symlink, which Commit replaces).
	default:
		return wrapErr("create", name, err)
	}
	var size int64
	if exists && u.mode != storage.Truncate {
		src, fi, err := d.openRegular("create", name, rel)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			exists = false // removed in the meantime
		case err != nil:
			return err
		default:
			u.src = src
			size = fi.Size()
			u.perm = fi.Mode().Perm()
		}
	}
	if u.mode == storage.Resume {
		if offset > 0 && (!exists || offset > size) {
			u.closeSrc()
			return badOffset(name, offset, size)
		}
		u.keep = offset
	}
	u.setPerm = exists
	return nil
}

// reservations holds the names that Exclusive uploads of this process are
// writing, keyed by the root's host path and the root-relative name: two
// sessions (or two Drivers of the same folder) asking for the same new name
// at once get it once, the other fs.ErrExist at Create, before its client
// sends a byte, so that STOU moves on to another name. Commit's link is
// what keeps the promise against other processes.
var reservations = struct {
	sync.Mutex
	names map[string]struct{}
}{names: make(map[string]struct{})}

// reserve checks that an Exclusive upload's name is free and holds it.
func (u *Upload) reserve() error {
	if _, err := u.d.root.Lstat(u.rel); err == nil {
		return &fs.PathError{Op: "create", Path: u.name, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return wrapErr("create", u.name, err)
	}
	key := u.d.dir + "\x00" + u.rel
	reservations.Lock()
	defer reservations.Unlock()
	if _, taken := reservations.names[key]; taken {
		return &fs.PathError{Op: "create", Path: u.name, Err: fmt.Errorf("another upload is creating it: %w", fs.ErrExist)}
	}
	reservations.names[key] = struct{}{}
	u.reserved = key
	return nil
}

// release gives back an Exclusive upload's name and the temporary name,
// and closes the copy source.
func (u *Upload) release() {
	u.closeSrc()
	if u.tempHeld {
		dropTemp(filepath.Base(u.tmp))
		u.tempHeld = false
	}
	if u.reserved == "" {
		return
	}
	reservations.Lock()
	delete(reservations.names, u.reserved)
	reservations.Unlock()
	u.reserved = ""
}

func (u *Upload) closeSrc() {
	if u.src != nil {
		u.src.Close()
		u.src = nil
	}
}

func badOffset(name string, offset, size int64) error {
	return &fs.PathError{Op: "create", Path: name,
		Err: fmt.Errorf("%w: offset %d, size %d", storage.ErrBadOffset, offset, size)}
}

// copyChunk is how much of the kept part Begin copies between two looks at
// its context. Each chunk is one copy_file_range(2) on Linux (a reflink on
// file systems that share extents), so ABOR is heard within one chunk.
const copyChunk = 8 << 20

// Begin copies the part of the existing file that Append and Resume keep
// into the temporary file, a chunk at a time, reporting each chunk to
// progress and stopping with ctx's cause once ctx is done. For the other
// modes, and for a new file, there is nothing to copy.
func (u *Upload) Begin(ctx context.Context, progress func(int64)) error {
	u.mu.Lock()
	switch u.state {
	case uploadCreated:
	case uploadAborted:
		u.mu.Unlock()
		return &fs.PathError{Op: "begin", Path: u.name, Err: os.ErrClosed}
	default:
		u.mu.Unlock()
		return &fs.PathError{Op: "begin", Path: u.name, Err: errors.New("Begin called twice")}
	}
	u.state = uploadBeginning
	src := u.src
	u.mu.Unlock()

	// Without the lock: Abort closes both files, which ends a copy in
	// progress with an error.
	err := u.copyKept(ctx, src, progress)

	u.mu.Lock()
	defer u.mu.Unlock()
	u.closeSrc()
	if u.state == uploadAborted {
		return &fs.PathError{Op: "begin", Path: u.name, Err: os.ErrClosed}
	}
	if err != nil {
		u.state = uploadAborted
		u.d.forget(u)
		u.discard()
		return err
	}
	u.state = uploadOpen
	u.begun.Store(true)
	return nil
}

func (u *Upload) copyKept(ctx context.Context, src *os.File, progress func(int64)) error {
	if src == nil {
		return nil
	}
	var done int64
	for u.keep < 0 || done < u.keep {
		if ctx.Err() != nil {
			return &fs.PathError{Op: "begin", Path: u.name, Err: context.Cause(ctx)}
		}
		n := int64(copyChunk)
		if u.keep >= 0 {
			n = min(n, u.keep-done)
		}
		m, err := io.CopyN(u.f, src, n)
		done += m
		if m > 0 && progress != nil {
			progress(m)
		}
		switch {
		case err == io.EOF && u.keep < 0:
			return nil // Append: the whole file is copied
		case err == io.EOF:
			// The file shrank since Create looked at it.
			return badOffset(u.name, u.keep, done)
		case err != nil:
			return wrapErr("begin", u.name, err)
		}
	}
	return nil
}

// Write writes to the temporary file. Errors (such as ENOSPC) are those of
// the *os.File, unchanged.
func (u *Upload) Write(p []byte) (int, error) {
	if !u.begun.Load() {
		return 0, &fs.PathError{Op: "write", Path: u.name, Err: errNotBegun}
	}
	return u.f.Write(p)
}

// ReadFrom hands r to the temporary *os.File's ReadFrom, so that
// io.Copy(upload, tcpConn) uses splice(2) on Linux. Errors are returned
// unchanged.
func (u *Upload) ReadFrom(r io.Reader) (int64, error) {
	if !u.begun.Load() {
		return 0, &fs.PathError{Op: "write", Path: u.name, Err: errNotBegun}
	}
	return u.f.ReadFrom(r)
}

// File is the temporary file the upload writes to (storage.FileUpload),
// positioned where the next byte goes once Begin has succeeded.
func (u *Upload) File() *os.File { return u.f }

// Commit closes the temporary file and moves it to the destination: a
// rename over it, or for storage.Exclusive a hard link that fails if the
// name exists (then the temporary name is removed).
// With Driver.SyncUploads the data is flushed to disk (fsync) before the
// rename, so that even after a power loss the destination holds either the
// old or the complete new content.
// On any error the temporary file is removed and the destination left as it
// was. Commit after a successful Commit returns nil; after Abort (or a failed
// Commit) it returns an error wrapping os.ErrClosed.
func (u *Upload) Commit(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch u.state {
	case uploadCommitted:
		return nil
	case uploadAborted:
		return &fs.PathError{Op: "commit", Path: u.name, Err: os.ErrClosed}
	}
	defer u.d.forget(u)
	fail := func(err error) error {
		u.state = uploadAborted
		u.discard()
		return err
	}
	if u.state != uploadOpen {
		return fail(&fs.PathError{Op: "commit", Path: u.name, Err: errNotBegun})
	}
	if ctx.Err() != nil {
		return fail(&fs.PathError{Op: "commit", Path: u.name, Err: context.Cause(ctx)})
	}

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
		return fail(wrapErr("commit", u.name, err))
	}
	if u.mode == storage.Exclusive {
		err = u.commitExclusive()
	} else if handled, rerr := u.replace(); handled {
		err = rerr
	} else {
		old := u.d.holdLast(u.rel) // a replaced file is freed after the reply
		err = u.d.root.Rename(u.tmp, u.rel)
		releaseLater(old)
	}
	if err != nil {
		u.state = uploadAborted
		u.discard()
		if fi, serr := u.d.root.Lstat(u.rel); serr == nil && fi.IsDir() && !errors.Is(err, fs.ErrExist) {
			return &fs.PathError{Op: "commit", Path: u.name, Err: storage.ErrIsDir}
		}
		return wrapErr("commit", u.name, err)
	}
	u.state = uploadCommitted
	u.release()
	return nil
}

// link is os.Root.Link, a variable so that tests can take the fallback of
// file systems without hard links.
var link = (*os.Root).Link

// commitExclusive puts the temporary file under its final name only if that
// name is free, atomically: link(2) (CreateHardLink on Windows) fails with
// EEXIST when the name exists, where rename(2) would replace it. The
// temporary name is then removed. On a file system without hard links (FAT,
// some network shares) it falls back to looking before renaming: other
// sessions of this process are kept out by the reservation, other processes
// are not.
func (u *Upload) commitExclusive() error {
	err := link(u.d.root, u.tmp, u.rel)
	if err == nil {
		u.d.root.Remove(u.tmp)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, lerr := u.d.root.Lstat(u.rel); lerr == nil {
		return &fs.PathError{Op: "commit", Path: u.rel, Err: fs.ErrExist}
	} else if !errors.Is(lerr, fs.ErrNotExist) {
		return lerr
	}
	return u.d.root.Rename(u.tmp, u.rel)
}

// Abort closes and removes the temporary file; the destination is left as
// it was. It is a no-op after Commit and safe to call more than once.
func (u *Upload) Abort() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state == uploadCommitted || u.state == uploadAborted {
		return nil
	}
	u.state = uploadAborted
	defer u.d.forget(u)
	return u.discard()
}

// discard closes and removes the temporary file and gives back what the
// upload held. It is called with u.mu held (or before u is shared). A Begin
// copying meanwhile (without the lock) fails on the closed files.
func (u *Upload) discard() error {
	u.release()
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

// SweepTemp removes the temporary files of interrupted uploads (a server
// killed mid-upload leaves them) under dir, at any depth, and returns how
// many it removed. One folder is served by one process, so every
// temporary file is an orphan but those of this process's uploads in
// flight, which it leaves alone: it may run while dir is already served
// (rotary serve sweeps in the background at start). Symlinks are not
// followed; dir's own tree is all it touches.
func SweepTemp(dir string) (int, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, fmt.Errorf("sweep temporary uploads in %s: %w", dir, err)
	}
	defer root.Close()
	removed := 0
	var errs []error
	walkErr := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if d.Type().IsRegular() && isTempName(d.Name()) && !tempLive(d.Name()) {
			if err := root.Remove(filepath.FromSlash(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				return nil
			}
			removed++
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("sweep temporary uploads in %s: %w", dir, err)
	}
	return removed, nil
}
