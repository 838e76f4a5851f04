package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Compile-time checks that the driver satisfies the storage interfaces.
var (
	_ storage.Driver = (*Driver)(nil)
	_ storage.Upload = (*Upload)(nil)
)

const (
	dirPerm  fs.FileMode = 0o755
	filePerm fs.FileMode = 0o644
)

// Driver is a storage.Driver backed by a directory on the local disk. Every
// file-system call goes through an *os.Root opened on that directory. A
// Driver is safe for concurrent use. It has every storage capability.
type Driver struct {
	// SyncUploads makes Commit fsync the data before renaming it into place.
	SyncUploads bool

	root *os.Root
	// dir is the root's absolute host path: it names the root in the
	// process-wide reservations of Exclusive uploads (reserve).
	dir string
	// shared, when set, is the Roots entry of root: Close gives the root
	// back to it (roots) instead of closing it.
	roots  *Roots
	shared *sharedRoot

	mu      sync.Mutex
	closed  bool
	uploads map[*Upload]struct{} // in flight, aborted by Close; nil until the first
}

// New returns a Driver rooted at dir (dir is created with MkdirAll if
// missing). Callers Close it when the session ends.
func New(dir string) (*Driver, error) {
	if dir == "" {
		return nil, &fs.PathError{Op: "new", Path: dir, Err: storage.ErrInvalidName}
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	captureEscapeErr(root)
	return &Driver{root: root, dir: abs}, nil
}

// Capabilities reports every storage capability: a local file system can
// set times and modes, append, resume and create exclusively (Commit links
// the file into place, which fails if the name exists).
func (d *Driver) Capabilities() storage.Capabilities { return storage.CapAll }

// Close aborts the uploads that are still in flight (removing their
// temporary files) and releases the root directory. It is safe to call more
// than once.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	pending := make([]*Upload, 0, len(d.uploads))
	for u := range d.uploads {
		pending = append(pending, u)
	}
	d.mu.Unlock()

	var errs []error
	for _, u := range pending {
		errs = append(errs, u.Abort())
	}
	if d.shared != nil {
		d.roots.put(d.shared)
	} else {
		errs = append(errs, d.root.Close())
	}
	return errors.Join(errs...)
}

// Roots shares one opened root per folder among the sessions that use it,
// so a logged-in session costs one file descriptor (its control socket)
// rather than two: with ten thousand sessions that is the difference
// between fitting under a 20,000 descriptor limit and not. An *os.Root is
// safe for concurrent use; each session still gets its own Driver, which
// tracks and aborts that session's uploads. A Roots is safe for concurrent
// use; its zero value is ready.
//
// Roots is the local disk's storage.Provider: a user's home is a folder of
// the host.
type Roots struct {
	// SyncUploads is given to every Driver opened (Driver.SyncUploads).
	// Set it before the first Open.
	SyncUploads bool

	mu sync.Mutex
	m  map[string]*sharedRoot
}

var _ storage.Provider = (*Roots)(nil)

type sharedRoot struct {
	root *os.Root
	dir  string
	key  string // in Roots.m
	refs int
}

// Open returns a Driver for the folder home (created if missing) on the
// shared root of home, opening it for the first user. The Driver's Close
// gives it back; the root is closed when its last Driver is.
func (rs *Roots) Open(ctx context.Context, home string) (storage.Driver, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open home %s: %w", home, err)
	}
	return rs.open(home)
}

// Capabilities is what every Driver of the local disk can do.
func (rs *Roots) Capabilities() storage.Capabilities { return storage.CapAll }

func (rs *Roots) open(dir string) (*Driver, error) {
	if dir == "" {
		return nil, &fs.PathError{Op: "new", Path: dir, Err: storage.ErrInvalidName}
	}
	key := filepath.Clean(dir)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	sr := rs.m[key]
	if sr == nil {
		d, err := New(dir)
		if err != nil {
			return nil, err
		}
		sr = &sharedRoot{root: d.root, dir: d.dir, key: key}
		if rs.m == nil {
			rs.m = make(map[string]*sharedRoot)
		}
		rs.m[key] = sr
	}
	sr.refs++
	return &Driver{SyncUploads: rs.SyncUploads, root: sr.root, dir: sr.dir, roots: rs, shared: sr}, nil
}

// put gives back a Driver's reference to sr (once: Driver.Close runs it
// only the first time), closing the root with the last one.
func (rs *Roots) put(sr *sharedRoot) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if sr.refs--; sr.refs == 0 {
		delete(rs.m, sr.key)
		sr.root.Close()
	}
}

// Len reports how many roots are open (for tests and metrics).
func (rs *Roots) Len() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.m)
}

// Stat follows symlinks inside the root and describes name.
func (d *Driver) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	rel, err := resolveCtx(ctx, "stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := d.root.Stat(rel)
	if err != nil {
		return nil, wrapErr("stat", name, err)
	}
	return fi, nil
}

// ReadDir lists directory name with one directory read. Each entry is
// described by Lstat (a symlink is reported as a symlink; on Unix the stat is
// an fstatat relative to the directory's descriptor). The driver's in-flight
// upload files are left out.
func (d *Driver) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	dir, err := d.openDir(ctx, name)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	var infos []fs.FileInfo
	for {
		batch, err := dir.next(-1, infos)
		infos = batch
		if err == io.EOF {
			return infos, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// OpenDir opens directory name for listing in batches (storage.DirOpener).
func (d *Driver) OpenDir(ctx context.Context, name string) (storage.Dir, error) {
	return d.openDir(ctx, name)
}

func (d *Driver) openDir(ctx context.Context, name string) (*dir, error) {
	rel, err := resolveCtx(ctx, "readdir", name)
	if err != nil {
		return nil, err
	}
	f, err := d.root.OpenFile(rel, os.O_RDONLY|openReadFlag, 0)
	if err != nil {
		return nil, wrapErr("readdir", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, wrapErr("readdir", name, err)
	}
	if !fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: storage.ErrNotDir}
	}
	return &dir{f: f, name: name}, nil
}

// dir is an open directory: each batch is one getdents(2) read and one
// fstatat(2) per entry, relative to the directory's descriptor.
type dir struct {
	f    *os.File
	name string
}

func (d *dir) Next(n int) ([]fs.FileInfo, error) {
	if n <= 0 {
		n = 1
	}
	return d.next(n, nil)
}

func (d *dir) Close() error { return d.f.Close() }

// Open opens the regular file name for reading, positioned at offset. The
// result is the *os.File itself so io.Copy to a network connection can use
// sendfile. A directory is an error wrapping storage.ErrIsDir, other
// non-regular files (FIFOs, devices, sockets) are refused with
// fs.ErrPermission, and an offset beyond the end of the file (RFC 3659 REST)
// or a negative one is an error wrapping storage.ErrBadOffset.
func (d *Driver) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	f, _, err := d.OpenStat(ctx, name, offset)
	if err != nil {
		return nil, err // not a nil *os.File in an interface
	}
	return f, nil
}

// OpenStat is Open that also returns the fstat of the opened file
// (storage.StatOpener): RETR's open is then openat and fstat, with no
// fstatat before them.
func (d *Driver) OpenStat(ctx context.Context, name string, offset int64) (io.ReadCloser, fs.FileInfo, error) {
	rel, err := resolveCtx(ctx, "open", name)
	if err != nil {
		return nil, nil, err
	}
	f, fi, err := d.openRegular("open", name, rel)
	if err != nil {
		return nil, nil, err
	}
	if offset < 0 || offset > fi.Size() {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: name,
			Err: fmt.Errorf("%w: offset %d, size %d", storage.ErrBadOffset, offset, fi.Size())}
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, nil, wrapErr("seek", name, err)
		}
	}
	return f, fi, nil
}

// openRegular opens rel read-only (following symlinks inside the root) and
// makes sure it is a regular file.
func (d *Driver) openRegular(op, name, rel string) (*os.File, fs.FileInfo, error) {
	f, err := d.root.OpenFile(rel, os.O_RDONLY|openReadFlag, 0)
	if err != nil {
		return nil, nil, wrapErr(op, name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, wrapErr(op, name, err)
	}
	switch {
	case fi.IsDir():
		f.Close()
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: storage.ErrIsDir}
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: errNotRegular}
	}
	return f, fi, nil
}

// Mkdir creates directory name with mode 0755 (before umask).
func (d *Driver) Mkdir(ctx context.Context, name string) error {
	rel, err := resolveCtx(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	return wrapErr("mkdir", name, d.root.Mkdir(rel, dirPerm))
}

// Remove deletes a file or symlink (the link itself, never its target). A
// directory is an error wrapping storage.ErrIsDir.
func (d *Driver) Remove(ctx context.Context, name string) error {
	rel, err := resolveCtx(ctx, "remove", name)
	if err != nil {
		return err
	}
	fi, err := d.root.Lstat(rel)
	if err != nil {
		return wrapErr("remove", name, err)
	}
	if fi.IsDir() {
		return &fs.PathError{Op: "remove", Path: name, Err: storage.ErrIsDir}
	}
	defer releaseLater(d.holdLast(rel)) // a large file is freed after the reply
	return wrapErr("remove", name, d.root.Remove(rel))
}

// RemoveDir deletes an empty directory. A file (or a symlink, even to a
// directory) is an error wrapping storage.ErrNotDir; a non-empty directory
// returns the operating system's error. The root itself cannot be removed.
func (d *Driver) RemoveDir(ctx context.Context, name string) error {
	rel, err := resolveCtx(ctx, "rmdir", name)
	if err != nil {
		return err
	}
	if rel == "." {
		return &fs.PathError{Op: "rmdir", Path: name, Err: errIsRoot}
	}
	fi, err := d.root.Lstat(rel)
	if err != nil {
		return wrapErr("rmdir", name, err)
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "rmdir", Path: name, Err: storage.ErrNotDir}
	}
	err = d.root.Remove(rel)
	if err != nil && d.hasEntries(rel) {
		// rmdir(2) says so with ENOTEMPTY or EEXIST (POSIX allows both),
		// Windows with ERROR_DIR_NOT_EMPTY: looking is the portable test.
		return &fs.PathError{Op: "rmdir", Path: name, Err: fmt.Errorf("%w (%w)", storage.ErrNotEmpty, innerErr(err))}
	}
	return wrapErr("rmdir", name, err)
}

// hasEntries reports whether directory rel has at least one entry (an
// upload's temporary file counts: it keeps the directory in use).
func (d *Driver) hasEntries(rel string) bool {
	f, err := d.root.Open(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

// Rename moves a file, symlink or directory to a new name inside the root,
// replacing an existing file at the destination as rename(2) does. The root
// itself cannot be renamed or replaced.
func (d *Driver) Rename(ctx context.Context, from, to string) error {
	relFrom, err := resolveCtx(ctx, "rename", from)
	if err != nil {
		return err
	}
	relTo, err := resolve("rename", to)
	if err != nil {
		return err
	}
	if relFrom == "." || relTo == "." {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: errIsRoot}
	}
	// A large file that the rename replaces is freed after the reply.
	defer releaseLater(d.holdLast(relTo))
	if err := d.root.Rename(relFrom, relTo); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: innerErr(err)}
	}
	return nil
}

// Chmod sets the permission bits of name (following symlinks inside the
// root). Other mode bits (setuid, setgid, sticky, type) are ignored. On
// Windows only the read-only attribute can change, as with os.Chmod.
func (d *Driver) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	rel, err := resolveCtx(ctx, "chmod", name)
	if err != nil {
		return err
	}
	return wrapErr("chmod", name, d.root.Chmod(rel, mode.Perm()))
}

// Chtimes sets both the access and the modification time of name to mtime.
func (d *Driver) Chtimes(ctx context.Context, name string, mtime time.Time) error {
	rel, err := resolveCtx(ctx, "chtimes", name)
	if err != nil {
		return err
	}
	return wrapErr("chtimes", name, d.root.Chtimes(rel, mtime, mtime))
}

var (
	errNotRegular = fmt.Errorf("not a regular file: %w", fs.ErrPermission)
	errIsRoot     = fmt.Errorf("the root directory cannot be changed: %w", fs.ErrPermission)
)

// resolveCtx is resolve for a call that may not start once ctx is done.
func resolveCtx(ctx context.Context, op, name string) (string, error) {
	if ctx.Err() != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: context.Cause(ctx)}
	}
	return resolve(op, name)
}

// resolve turns a driver name ("/a/b", absolute, slash separated) into a name
// relative to the root in the host's syntax ("a/b", or "a\b" on Windows; "/"
// becomes "."). It refuses NUL bytes, relative names, names that cannot be
// represented on the host (filepath.Localize: on Windows reserved names such
// as CON, backslashes and colons, which would select alternate data streams)
// and names with a component that looks like an in-flight upload. Cleaning
// an absolute name can never produce "..", so "/../x" is simply "x": the
// root behaves like "/" does for the process. Everything that survives this
// is still opened through os.Root, which is what actually enforces the root.
func resolve(op, name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 || !strings.HasPrefix(name, "/") {
		return "", &fs.PathError{Op: op, Path: name, Err: storage.ErrInvalidName}
	}
	clean := path.Clean(name)
	if clean == "/" {
		return ".", nil
	}
	rel := clean[1:]
	for elem := range strings.SplitSeq(rel, "/") {
		if isTempName(elem) {
			return "", &fs.PathError{Op: op, Path: name, Err: storage.ErrInvalidName}
		}
	}
	local, err := filepath.Localize(rel)
	if err != nil || !fs.ValidPath(rel) {
		return "", &fs.PathError{Op: op, Path: name, Err: storage.ErrInvalidName}
	}
	return local, nil
}

// wrapErr rewrites an error from os.Root so it names the driver path (never
// the host path) and the operation, keeps the underlying error matchable
// (fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, syscall errors) and turns
// os.Root's "path escapes from parent" into storage.ErrOutsideRoot.
func wrapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: innerErr(err)}
}

// innerErr strips the *PathError / *LinkError os.Root put around err (they
// carry the host-relative name) and maps root escapes to ErrOutsideRoot.
func innerErr(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	if isEscape(err) {
		return fmt.Errorf("%w (%w)", storage.ErrOutsideRoot, err)
	}
	return err
}

// os.Root reports an escape with an unexported sentinel error whose text is
// "path escapes from parent". The sentinel is captured once from a real
// os.Root (by asking it for "..") so that it can be matched by identity; the
// text is the fallback.
var (
	escapeOnce sync.Once
	escapeErr  error
)

const escapeText = "path escapes from parent"

func captureEscapeErr(root *os.Root) {
	escapeOnce.Do(func() {
		_, err := root.Lstat("..")
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == escapeText {
			escapeErr = pe.Err
		}
	})
}

func isEscape(err error) bool {
	if err == nil {
		return false
	}
	if escapeErr != nil && errors.Is(err, escapeErr) {
		return true
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == escapeText {
			return true
		}
	}
	return false
}
