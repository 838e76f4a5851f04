package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/textproto"
	"os"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Compile-time checks that the driver satisfies the storage interfaces.
var (
	_ storage.Driver    = (*Driver)(nil)
	_ storage.DirOpener = (*Driver)(nil)
	_ storage.Upload    = (*Upload)(nil)
)

// maxKeyLen is S3's limit on a key, in bytes of UTF-8.
const maxKeyLen = 1024

// mtimeKey is the user metadata (x-amz-meta-rotary-mtime) that holds a
// modification time set by Chtimes (MFMT), as RFC 3339 with nanoseconds.
// Without it an object's time is its LastModified, the time it was
// written.
const mtimeKey = "Rotary-Mtime"

// epoch is the time listed for folders: a common prefix has no time of
// its own, and asking for the marker of each would cost a request per
// folder. (Stat of a folder shows its marker's time.)
var epoch = time.Unix(0, 0).UTC()

var errIsRoot = fmt.Errorf("the root directory cannot be changed: %w", fs.ErrPermission)

// Driver is one user's view of a bucket prefix (a storage.Driver). Names
// map to keys as prefix + name without its leading slash; a folder is the
// keys under name + "/", and the empty object name + "/" (a marker, what
// Mkdir writes) keeps an empty one. A Driver is safe for concurrent use.
type Driver struct {
	p      *Provider
	prefix string // "" or ending in "/"

	mu      sync.Mutex
	closed  bool
	uploads map[*Upload]struct{} // in flight, aborted by Close
}

// Capabilities: everything but Chmod (and Exclusive without conditional
// writes).
func (d *Driver) Capabilities() storage.Capabilities { return d.p.caps }

// Close aborts the uploads still in flight. It is safe to call more than
// once.
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
	return errors.Join(errs...)
}

func (d *Driver) forget(u *Upload) {
	d.mu.Lock()
	delete(d.uploads, u)
	d.mu.Unlock()
}

// resolve turns a driver name into its path relative to the prefix: "" for
// the root, "a/b" for "/a/b". Keys are built only from such cleaned
// absolute names: "/../x" is "x" (as "/.." is "/" for a process), and a
// name with a NUL byte, one that is not absolute or not UTF-8 (S3 keys
// are UTF-8), or one whose key would pass S3's 1,024 bytes, is refused.
// No name can reach a key outside the prefix: the prefix is prepended to
// a path that Clean has stripped of every "..".
func (d *Driver) resolve(ctx context.Context, op, name string) (string, error) {
	if ctx.Err() != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: context.Cause(ctx)}
	}
	if strings.IndexByte(name, 0) >= 0 || !strings.HasPrefix(name, "/") || !utf8.ValidString(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: storage.ErrInvalidName}
	}
	rel := path.Clean(name)[1:]
	if len(d.prefix)+len(rel)+1 > maxKeyLen {
		return "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: key longer than %d bytes", storage.ErrInvalidName, maxKeyLen)}
	}
	return rel, nil
}

func (d *Driver) objKey(rel string) string { return d.prefix + rel }

// dirKey is the prefix of folder rel's keys, and its marker's key.
func (d *Driver) dirKey(rel string) string {
	if rel == "" {
		return d.prefix
	}
	return d.prefix + rel + "/"
}

func parentOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

func (d *Driver) bucket() string { return d.p.cfg.Bucket }

func (d *Driver) head(ctx context.Context, key string) (minio.ObjectInfo, error) {
	return d.p.core.StatObject(ctx, d.bucket(), key, minio.StatObjectOptions{})
}

var noOwner = false

// listOpts lists the folder whose keys start with prefix, one level.
func (d *Driver) listOpts(prefix string, maxKeys int) minio.ListObjectsOptions {
	return minio.ListObjectsOptions{Prefix: prefix, MaxKeys: maxKeys, FetchOwner: &noOwner,
		WithMetadata: d.p.cfg.ListMtime == ListMtimeMetadata}
}

// statDir describes folder rel from the first entry under it (one LIST of
// one key): none means there is no such folder. When that entry is the
// folder's marker (it sorts first), the marker gives the time.
func (d *Driver) statDir(ctx context.Context, rel string) (fs.FileInfo, error) {
	if rel == "" {
		return &fileInfo{name: "/", dir: true, mtime: epoch}, nil
	}
	prefix := d.dirKey(rel)
	for oi := range d.p.core.ListObjectsIter(ctx, d.bucket(), d.listOpts(prefix, 1)) {
		if oi.Err != nil {
			return nil, oi.Err
		}
		fi := &fileInfo{name: path.Base(rel), dir: true, mtime: epoch}
		if oi.Key == prefix {
			if oi.UserMetadata == nil {
				// Listed without metadata: the marker's HEAD has its
				// MFMT time, if any.
				if full, err := d.head(ctx, prefix); err == nil {
					oi = full
				}
			}
			fi.mtime = mtimeOf(oi)
		}
		return fi, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fs.ErrNotExist
}

// isDir reports whether folder rel exists (the root always does).
func (d *Driver) isDir(ctx context.Context, rel string) (bool, error) {
	_, err := d.statDir(ctx, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// needDir fails with fs.ErrNotExist unless folder rel exists.
func (d *Driver) needDir(ctx context.Context, op, name, rel string) error {
	ok, err := d.isDir(ctx, rel)
	if err != nil {
		return mapErr(op, name, err)
	}
	if !ok {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("parent folder: %w", fs.ErrNotExist)}
	}
	return nil
}

// Stat describes name: an object (a HEAD), else a folder (a marker or any
// key under name + "/"). The root always exists.
func (d *Driver) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	rel, err := d.resolve(ctx, "stat", name)
	if err != nil {
		return nil, err
	}
	if rel == "" {
		return d.statDir(ctx, rel)
	}
	oi, err := d.head(ctx, d.objKey(rel))
	if err == nil {
		return objectInfo(path.Base(rel), oi), nil
	}
	if !isNotFound(err) {
		return nil, mapErr("stat", name, err)
	}
	fi, err := d.statDir(ctx, rel)
	if err != nil {
		return nil, mapErr("stat", name, err)
	}
	return fi, nil
}

// ReadDir lists folder name (ListObjectsV2 with delimiter "/", a page of
// 1,000 keys a request).
func (d *Driver) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	dir, err := d.openDir(ctx, name)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	var infos []fs.FileInfo
	for {
		batch, err := dir.Next(listPage)
		if err == io.EOF {
			return infos, nil
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, batch...)
	}
}

// OpenDir opens folder name for listing in batches (storage.DirOpener).
func (d *Driver) OpenDir(ctx context.Context, name string) (storage.Dir, error) {
	return d.openDir(ctx, name)
}

// Open reads object name from offset: a GET (with a Range from offset),
// whose body is read as the caller reads, under ctx. offset at the end of
// the object is an empty read; beyond it, an error wrapping
// storage.ErrBadOffset.
func (d *Driver) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	rel, err := d.resolve(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	if rel == "" {
		return nil, &fs.PathError{Op: "open", Path: name, Err: storage.ErrIsDir}
	}
	if offset < 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: offset %d", storage.ErrBadOffset, offset)}
	}
	var opts minio.GetObjectOptions
	if offset > 0 {
		opts.SetRange(offset, 0)
	}
	body, _, _, err := d.p.core.GetObject(ctx, d.bucket(), d.objKey(rel), opts)
	switch {
	case err == nil:
		return body, nil
	case isNotFound(err):
		if ok, derr := d.isDir(ctx, rel); derr == nil && ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: storage.ErrIsDir}
		}
	case errors.Is(kindOf(err), storage.ErrBadOffset):
		// S3 refuses a range that starts at the end: that is an empty
		// read, as for a file.
		oi, herr := d.head(ctx, d.objKey(rel))
		if herr != nil {
			return nil, mapErr("open", name, herr)
		}
		if offset == oi.Size {
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: offset %d, size %d", storage.ErrBadOffset, offset, oi.Size)}
	}
	return nil, mapErr("open", name, err)
}

// Mkdir writes folder name's marker (an empty object name + "/") once its
// parent is known to exist and name is free.
func (d *Driver) Mkdir(ctx context.Context, name string) error {
	rel, err := d.resolve(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	if rel == "" {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	if err := d.needDir(ctx, "mkdir", name, parentOf(rel)); err != nil {
		return err
	}
	if exists, err := d.exists(ctx, rel); err != nil {
		return mapErr("mkdir", name, err)
	} else if exists {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	return mapErr("mkdir", name, d.putMarker(ctx, rel, nil))
}

// exists reports whether rel is an object or a folder.
func (d *Driver) exists(ctx context.Context, rel string) (bool, error) {
	_, err := d.head(ctx, d.objKey(rel))
	if err == nil {
		return true, nil
	}
	if !isNotFound(err) {
		return false, err
	}
	return d.isDir(ctx, rel)
}

func (d *Driver) putMarker(ctx context.Context, rel string, meta map[string]string) error {
	_, err := d.p.core.PutObject(ctx, d.bucket(), d.dirKey(rel), bytes.NewReader(nil), 0, "", "",
		minio.PutObjectOptions{UserMetadata: meta, ContentType: "application/x-directory"})
	return err
}

// keepParent writes the marker of rel's folder if it has none, after an
// object left it (Remove, Rename): a folder made only by the keys under it
// (by another S3 client) would otherwise vanish with its last file, where
// a file system keeps it until RMD. It costs a HEAD; a failure is ignored,
// as the operation itself is done.
func (d *Driver) keepParent(ctx context.Context, rel string) {
	parent := parentOf(rel)
	if parent == "" {
		return
	}
	if _, err := d.head(ctx, d.dirKey(parent)); err != nil && isNotFound(err) {
		d.putMarker(ctx, parent, nil)
	}
}

// Remove deletes object name. A folder is an error wrapping
// storage.ErrIsDir.
func (d *Driver) Remove(ctx context.Context, name string) error {
	rel, err := d.resolve(ctx, "remove", name)
	if err != nil {
		return err
	}
	if rel == "" {
		return &fs.PathError{Op: "remove", Path: name, Err: storage.ErrIsDir}
	}
	if _, err := d.head(ctx, d.objKey(rel)); err != nil {
		if !isNotFound(err) {
			return mapErr("remove", name, err)
		}
		if ok, derr := d.isDir(ctx, rel); derr == nil && ok {
			return &fs.PathError{Op: "remove", Path: name, Err: storage.ErrIsDir}
		}
		return mapErr("remove", name, err)
	}
	if err := d.p.core.RemoveObject(ctx, d.bucket(), d.objKey(rel), minio.RemoveObjectOptions{}); err != nil {
		return mapErr("remove", name, err)
	}
	d.keepParent(ctx, rel)
	return nil
}

// RemoveDir deletes the marker of an empty folder. An object is an error
// wrapping storage.ErrNotDir, a folder with any key besides its marker one
// wrapping storage.ErrNotEmpty. An upload that completes into the folder
// meanwhile brings it back (a folder is its keys).
func (d *Driver) RemoveDir(ctx context.Context, name string) error {
	rel, err := d.resolve(ctx, "rmdir", name)
	if err != nil {
		return err
	}
	if rel == "" {
		return &fs.PathError{Op: "rmdir", Path: name, Err: errIsRoot}
	}
	if _, err := d.head(ctx, d.objKey(rel)); err == nil {
		return &fs.PathError{Op: "rmdir", Path: name, Err: storage.ErrNotDir}
	} else if !isNotFound(err) {
		return mapErr("rmdir", name, err)
	}
	prefix := d.dirKey(rel)
	found, marker := false, false
	for oi := range d.p.core.ListObjectsIter(ctx, d.bucket(), d.listOpts(prefix, 2)) {
		if oi.Err != nil {
			return mapErr("rmdir", name, oi.Err)
		}
		found = true
		if oi.Key != prefix {
			return &fs.PathError{Op: "rmdir", Path: name, Err: storage.ErrNotEmpty}
		}
		marker = true
	}
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: "rmdir", Path: name, Err: err}
	}
	if !found {
		return &fs.PathError{Op: "rmdir", Path: name, Err: fs.ErrNotExist}
	}
	if marker {
		if err := d.p.core.RemoveObject(ctx, d.bucket(), prefix, minio.RemoveObjectOptions{}); err != nil {
			return mapErr("rmdir", name, err)
		}
	}
	d.keepParent(ctx, rel)
	return nil
}

// Chmod is not supported: S3 objects have no permission bits.
func (d *Driver) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	return storage.Unsupported("chmod", name)
}

// Chtimes sets name's modification time (MFMT): the object is copied onto
// itself (server side) with its user metadata replaced by the same plus
// x-amz-meta-rotary-mtime, under If-Match of the ETag it had, so that an
// upload that replaced it meanwhile is not overwritten with the old
// content. Its content type is kept; other headers set by other S3
// clients (Content-Encoding, Cache-Control) are not. A folder's time is
// kept on its marker, written if it had none.
func (d *Driver) Chtimes(ctx context.Context, name string, mtime time.Time) error {
	rel, err := d.resolve(ctx, "chtimes", name)
	if err != nil {
		return err
	}
	if rel == "" {
		return &fs.PathError{Op: "chtimes", Path: name, Err: errIsRoot}
	}
	stamp := mtime.UTC().Format(time.RFC3339Nano)
	key := d.objKey(rel)
	oi, err := d.head(ctx, key)
	if err != nil && isNotFound(err) {
		ok, derr := d.isDir(ctx, rel)
		if derr != nil {
			return mapErr("chtimes", name, derr)
		}
		if !ok {
			return mapErr("chtimes", name, err)
		}
		key = d.dirKey(rel)
		if oi, err = d.head(ctx, key); err != nil && isNotFound(err) {
			return mapErr("chtimes", name, d.putMarker(ctx, rel, map[string]string{mtimeKey: stamp}))
		}
	}
	if err != nil {
		return mapErr("chtimes", name, err)
	}
	meta := userMeta(oi)
	meta[mtimeKey] = stamp
	if err := d.copyObject(ctx, key, key, oi, meta); err != nil {
		if isPrecondition(err) {
			return &fs.PathError{Op: "chtimes", Path: name, Err: ErrChanged}
		}
		return mapErr("chtimes", name, err)
	}
	return nil
}

// Rename moves a file (a server-side copy, then a delete of the old key)
// or a folder (renameDir), replacing a file at to. Neither is atomic: see
// the package documentation for what a failure or a crash leaves.
func (d *Driver) Rename(ctx context.Context, from, to string) error {
	relFrom, err := d.resolve(ctx, "rename", from)
	if err != nil {
		return err
	}
	relTo, err := d.resolve(ctx, "rename", to)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		} else {
			err = kindOf(err)
		}
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	if relFrom == "" || relTo == "" {
		return fail(errIsRoot)
	}
	src, err := d.head(ctx, d.objKey(relFrom))
	isFile := err == nil
	if err != nil && !isNotFound(err) {
		return fail(err)
	}
	if !isFile {
		ok, err := d.isDir(ctx, relFrom)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return fail(fs.ErrNotExist)
		}
	}
	if relFrom == relTo {
		return nil
	}
	if err := d.needDir(ctx, "rename", to, parentOf(relTo)); err != nil {
		return fail(err)
	}
	if isFile {
		if ok, err := d.isDir(ctx, relTo); err != nil {
			return fail(err)
		} else if ok {
			return fail(storage.ErrIsDir)
		}
		if err := d.copyObject(ctx, d.objKey(relFrom), d.objKey(relTo), src, nil); err != nil {
			if isPrecondition(err) {
				err = ErrChanged
			}
			return fail(err)
		}
		if err := d.p.core.RemoveObject(ctx, d.bucket(), d.objKey(relFrom), minio.RemoveObjectOptions{}); err != nil {
			return fail(err)
		}
		d.keepParent(ctx, relFrom)
		return nil
	}
	if strings.HasPrefix(relTo+"/", relFrom+"/") {
		return fail(fmt.Errorf("%w: a folder cannot move into itself", storage.ErrInvalidName))
	}
	if exists, err := d.exists(ctx, relTo); err != nil {
		return fail(err)
	} else if exists {
		return fail(fs.ErrExist)
	}
	if err := d.renameDir(ctx, d.dirKey(relFrom), d.dirKey(relTo)); err != nil {
		return fail(err)
	}
	d.keepParent(ctx, relFrom)
	return nil
}

// userMeta is oi's user metadata, keyed without x-amz-meta-, in a new map.
func userMeta(oi minio.ObjectInfo) map[string]string {
	meta := make(map[string]string, len(oi.UserMetadata)+1)
	for k, v := range oi.UserMetadata {
		k = strings.TrimPrefix(textproto.CanonicalMIMEHeaderKey(k), "X-Amz-Meta-")
		meta[k] = v
	}
	return meta
}

// mtimeOf is the object's modification time: x-amz-meta-rotary-mtime if
// it has one (HEAD, or a listing with metadata), else LastModified.
func mtimeOf(oi minio.ObjectInfo) time.Time {
	for k, v := range oi.UserMetadata {
		if c := textproto.CanonicalMIMEHeaderKey(k); c == "X-Amz-Meta-"+mtimeKey || c == mtimeKey {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t
			}
		}
	}
	return oi.LastModified
}

// fileInfo describes an object or a folder.
type fileInfo struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
}

func objectInfo(name string, oi minio.ObjectInfo) *fileInfo {
	return &fileInfo{name: name, size: oi.Size, mtime: mtimeOf(oi)}
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.dir }
func (fi *fileInfo) Sys() any           { return nil }

// Mode is 0755 for folders and 0644 for files: S3 has no modes, and these
// are what the local driver creates.
func (fi *fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
