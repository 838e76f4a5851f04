// Package storage defines the file-system view that the FTP engine works on.
// Drivers (local/, later s3/) implement Driver for one user's tree, and a
// Provider opens a Driver for each user's home.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Driver is one user's view of a file tree. Every name is an absolute,
// slash-separated, already cleaned path inside that tree ("/" is the root,
// "/a/b.txt" a file). The engine cleans client input with path.Clean before
// calling a Driver; a Driver must still refuse anything that would leave the
// tree (for example through a symlink) with an error wrapping ErrOutsideRoot
// or fs.ErrPermission.
//
// Every call that can block takes a context: the engine cancels it when the
// client sends ABOR (for a transfer's calls), when the session ends and when
// the server shuts down. A driver that waits on a network (S3) must return
// soon after ctx is done, with an error wrapping ctx's; the local driver's
// calls are short system calls and check ctx only before they start (and
// between chunks of a long copy).
//
// An operation the driver cannot do at all (its Capabilities lack it) is an
// error wrapping ErrUnsupported; one it cannot do with the arguments given
// wraps ErrUnsupportedParameter.
type Driver interface {
	// Stat follows symlinks (inside the tree) and describes name.
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	// ReadDir lists directory name. Entries are in no particular order;
	// the driver's own in-flight upload files are left out.
	ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error)
	// Open opens file name for reading, positioned at offset (an offset
	// beyond the end is an error wrapping ErrBadOffset). The local driver
	// returns an *os.File so that io.Copy to a *net.TCPConn uses sendfile;
	// callers must not wrap the result on the plain binary path. A driver
	// whose reads go over a network ties them to ctx.
	Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error)
	// Create starts an upload to name. It does the checks that can fail
	// before the client is told to send (name is a directory, a bad
	// offset, no permission, Exclusive and name exists) and nothing slow:
	// the engine calls it on the control connection, and Upload.Begin
	// later in the transfer. Nothing is visible under name until
	// Upload.Commit succeeds; Abort (or a crash) leaves the previous file,
	// or no file, in place.
	Create(ctx context.Context, name string, mode CreateMode, offset int64) (Upload, error)
	Mkdir(ctx context.Context, name string) error
	// Remove deletes a file (not a directory: that is an error wrapping ErrIsDir).
	Remove(ctx context.Context, name string) error
	// RemoveDir deletes an empty directory (a file is an error wrapping
	// ErrNotDir, a directory with entries one wrapping ErrNotEmpty).
	RemoveDir(ctx context.Context, name string) error
	// Rename moves from to to, replacing a file at to.
	Rename(ctx context.Context, from, to string) error
	Chmod(ctx context.Context, name string, mode fs.FileMode) error
	Chtimes(ctx context.Context, name string, mtime time.Time) error
	// Capabilities says which optional operations the driver does. The
	// engine advertises (FEAT, HELP) and accepts only those; the driver
	// refuses the others with ErrUnsupported anyway.
	Capabilities() Capabilities
	// Close ends the driver's use: uploads still in flight are aborted
	// and its resources released. It is safe to call more than once.
	Close() error
}

// Provider opens a Driver for each user: the engine's login (the auth
// package) asks it for the Driver of a user's home, and a command (rotary
// serve) decides which Provider, so no account code knows which storage it
// is. What home means is the Provider's to interpret: a folder for the
// local driver, a bucket prefix for an object store.
type Provider interface {
	// Open returns the Driver of home, for one session; the session
	// closes it when it ends. ctx bounds the opening (a login's time),
	// not the Driver's life.
	Open(ctx context.Context, home string) (Driver, error)
	// Capabilities is what every Driver it opens can do: FEAT before
	// login lists these.
	Capabilities() Capabilities
}

// StatOpener is implemented by drivers whose Open describes the file on
// the way (the local driver's fstat of the opened file): OpenStat is Open
// that also returns the description, so that RETR needs no Stat before
// it. Its errors are Open's.
type StatOpener interface {
	OpenStat(ctx context.Context, name string, offset int64) (io.ReadCloser, fs.FileInfo, error)
}

// DirOpener is implemented by drivers that can list a directory in
// batches, so that a listing's first lines are on the wire while its last
// entries are still being read (MLSD of a large folder). The engine uses
// ReadDir with drivers that lack it.
type DirOpener interface {
	// OpenDir opens directory name for listing. A file is an error
	// wrapping ErrNotDir.
	OpenDir(ctx context.Context, name string) (Dir, error)
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
	// Truncate replaces the file (STOR).
	Truncate CreateMode = iota
	// Append adds to the end of the existing file, or creates it (APPE).
	// Needs CapAppend.
	Append
	// Resume keeps the first offset bytes of the existing file and writes
	// from there (REST n + STOR). offset beyond the file's size is an error
	// wrapping ErrBadOffset. Needs CapResume.
	Resume
	// Exclusive creates a file that must not exist yet (STOU). Create
	// fails with an error wrapping fs.ErrExist if name exists or another
	// Exclusive upload to name is in flight in this process, and Commit
	// fails with one if name has appeared since: an Exclusive upload never
	// replaces anything. Needs CapExclusive.
	Exclusive
)

func (m CreateMode) String() string {
	switch m {
	case Truncate:
		return "truncate"
	case Append:
		return "append"
	case Resume:
		return "resume"
	case Exclusive:
		return "exclusive"
	}
	return fmt.Sprintf("CreateMode(%d)", int(m))
}

// Upload is an upload in progress. It implements io.ReaderFrom by handing the
// reader to the underlying *os.File, so io.Copy(upload, tcpConn) keeps Linux
// splice.
//
// The engine calls Begin once, in the transfer, after telling the client to
// send and before the first Write or ReadFrom; then Commit or Abort.
type Upload interface {
	io.Writer
	io.ReaderFrom
	// Begin does the upload's slow preparation: for Append and Resume,
	// copying the part of the existing file that is kept. It reports the
	// bytes it moves to progress (which may be nil) as it goes, so that
	// the engine can tell a slow copy from a stalled one, and it returns
	// an error wrapping ctx's error soon after ctx is done. Write,
	// ReadFrom and Commit fail until Begin has succeeded; after a failed
	// Begin only Abort is left.
	Begin(ctx context.Context, progress func(n int64)) error
	// Commit makes the data visible under the final name, atomically. On
	// an error nothing changed under the name (for Exclusive: an error
	// wrapping fs.ErrExist when the name appeared meanwhile) and the
	// upload is over. Commit after Commit returns nil; after Abort or a
	// failed Commit, an error wrapping os.ErrClosed.
	Commit(ctx context.Context) error
	// Abort discards the upload. It is safe after Commit (then a no-op) and
	// safe to call twice, from another goroutine than the writer's too
	// (a pending Write or ReadFrom then fails).
	Abort() error
}

// FileUpload is implemented by uploads written to an *os.File. The engine
// may then move a transfer's bytes into that file itself, in the kernel
// (splice(2) on Linux), at the file's current position, once Begin has
// succeeded; the Upload's Commit and Abort still decide what becomes of
// them. The file must not be used after either.
type FileUpload interface {
	File() *os.File
}

// Capabilities is a set of optional operations a Driver can do. The engine
// turns each into the commands that need it (internal/ftp's command table)
// and advertises only those (FEAT, HELP).
type Capabilities uint32

const (
	// CapChtimes: Chtimes sets modification times (MFMT).
	CapChtimes Capabilities = 1 << iota
	// CapChmod: Chmod sets permission bits (SITE CHMOD).
	CapChmod
	// CapAppend: Create in Append mode (APPE).
	CapAppend
	// CapResume: Create in Resume mode (REST n then STOR or APPE).
	CapResume
	// CapExclusive: Create in Exclusive mode (STOU). An object store
	// without conditional writes cannot promise it.
	CapExclusive
	// CapRename: Rename (RNFR and RNTO). An object store renames by copying,
	// which a driver may refuse for directories or altogether.
	CapRename

	// CapAll is every capability this package defines.
	CapAll = CapChtimes | CapChmod | CapAppend | CapResume | CapExclusive | CapRename
)

var capNames = []struct {
	c    Capabilities
	name string
}{
	{CapChtimes, "chtimes"}, {CapChmod, "chmod"}, {CapAppend, "append"},
	{CapResume, "resume"}, {CapExclusive, "exclusive"}, {CapRename, "rename"},
}

// Has reports whether c holds every capability in want.
func (c Capabilities) Has(want Capabilities) bool { return c&want == want }

// String lists the capabilities by name ("chtimes,chmod"), for logs and
// test failures.
func (c Capabilities) String() string {
	var names []string
	for _, n := range capNames {
		if c&n.c != 0 {
			names = append(names, n.name)
			c &^= n.c
		}
	}
	if c != 0 {
		names = append(names, fmt.Sprintf("%#x", uint32(c)))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Errors drivers wrap so the engine can map them to FTP reply codes in one place.
var (
	ErrOutsideRoot = errors.New("path leaves the user's root")
	ErrIsDir       = errors.New("is a directory")
	ErrNotDir      = errors.New("not a directory")
	ErrBadOffset   = errors.New("restart offset beyond end of file")
	ErrInvalidName = errors.New("invalid file name")
	// ErrNotEmpty is a RemoveDir of a directory that has entries. The
	// local driver's error also matches syscall.ENOTEMPTY.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrUnsupported is an operation the driver does not do at all (FTP
	// 502, command not implemented).
	ErrUnsupported = errors.New("operation not supported by this storage")
	// ErrUnsupportedParameter is an operation the driver does, but not
	// with these arguments (FTP 504, not implemented for that parameter).
	// It wraps ErrUnsupported, so errors.Is(err, ErrUnsupported) holds
	// for both.
	ErrUnsupportedParameter = fmt.Errorf("%w with this parameter", ErrUnsupported)
)

// Unsupported returns an error wrapping ErrUnsupported for operation op on
// name.
func Unsupported(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: ErrUnsupported}
}

// UnsupportedParameter returns an error wrapping ErrUnsupportedParameter
// for operation op on name; param says which argument ("mode 4755").
func UnsupportedParameter(op, name, param string) error {
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s: %w", param, ErrUnsupportedParameter)}
}
