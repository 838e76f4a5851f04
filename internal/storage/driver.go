// Package storage defines the file-system view that the FTP engine works on.
// Drivers (local/, later s3/) implement Driver for one user's tree.
package storage

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// Driver is one user's view of a file tree. Every name is an absolute,
// slash-separated, already cleaned path inside that tree ("/" is the root,
// "/a/b.txt" a file). The engine cleans client input with path.Clean before
// calling a Driver; a Driver must still refuse anything that would leave the
// tree (for example through a symlink) with an error wrapping ErrOutsideRoot
// or fs.ErrPermission.
type Driver interface {
	// Stat follows symlinks (inside the tree) and describes name.
	Stat(name string) (fs.FileInfo, error)
	// ReadDir lists directory name. Entries are in no particular order;
	// the driver's own in-flight upload files are left out.
	ReadDir(name string) ([]fs.FileInfo, error)
	// Open opens file name for reading, positioned at offset. The local
	// driver returns an *os.File so that io.Copy to a *net.TCPConn uses
	// sendfile; callers must not wrap the result on the plain binary path.
	Open(name string, offset int64) (io.ReadCloser, error)
	// Create starts an upload to name. Nothing is visible under name until
	// Upload.Commit succeeds; Abort (or a crash) leaves the previous file,
	// or no file, in place.
	Create(name string, mode CreateMode, offset int64) (Upload, error)
	Mkdir(name string) error
	// Remove deletes a file (not a directory: that is an error wrapping ErrIsDir).
	Remove(name string) error
	// RemoveDir deletes an empty directory (a file is an error wrapping ErrNotDir).
	RemoveDir(name string) error
	Rename(from, to string) error
	Chmod(name string, mode fs.FileMode) error
	Chtimes(name string, mtime time.Time) error
}

// DirOpener is implemented by drivers that can list a directory in
// batches, so that a listing's first lines are on the wire while its last
// entries are still being read (MLSD of a large folder). The engine uses
// ReadDir with drivers that lack it.
type DirOpener interface {
	// OpenDir opens directory name for listing. A file is an error
	// wrapping ErrNotDir.
	OpenDir(name string) (Dir, error)
}

// Dir is a directory being listed.
type Dir interface {
	// Next returns up to n more entries, in no particular order, and
	// io.EOF (with no entries) at the end. The driver's own in-flight
	// upload files are left out, as in ReadDir.
	Next(n int) ([]fs.FileInfo, error)
	Close() error
}

// CreateMode says how an upload relates to an existing file.
type CreateMode int

const (
	// Truncate replaces the file (STOR, STOU).
	Truncate CreateMode = iota
	// Append adds to the end of the existing file, or creates it (APPE).
	Append
	// Resume keeps the first offset bytes of the existing file and writes
	// from there (REST n + STOR). offset beyond the file's size is an error
	// wrapping ErrBadOffset.
	Resume
)

// Upload is an upload in progress. It implements io.ReaderFrom by handing the
// reader to the underlying *os.File, so io.Copy(upload, tcpConn) keeps Linux
// splice.
type Upload interface {
	io.Writer
	io.ReaderFrom
	// Commit makes the data visible under the final name (atomic rename).
	Commit() error
	// Abort discards the upload. It is safe after Commit (then a no-op) and
	// safe to call twice.
	Abort() error
}

// FileUpload is implemented by uploads written to an *os.File. The engine
// may then move a transfer's bytes into that file itself, in the kernel
// (splice(2) on Linux), at the file's current position; the Upload's
// Commit and Abort still decide what becomes of them. The file must not be
// used after either.
type FileUpload interface {
	File() *os.File
}

// Errors drivers wrap so the engine can map them to FTP reply codes in one place.
var (
	ErrOutsideRoot = errors.New("path leaves the user's root")
	ErrIsDir       = errors.New("is a directory")
	ErrNotDir      = errors.New("not a directory")
	ErrBadOffset   = errors.New("restart offset beyond end of file")
	ErrInvalidName = errors.New("invalid file name")
)
