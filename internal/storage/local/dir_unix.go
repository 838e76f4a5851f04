//go:build unix

package local

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// parallelStatMin is the smallest batch whose entries are described by two
// goroutines at once. Describing an entry is one fstatat(2), about 2 µs on
// these machines: for a large folder it is most of a listing's time, and
// the calls are independent.
const parallelStatMin = 64

// next appends up to n entries (all, for n < 0) to infos. It reports io.EOF
// once the directory is exhausted and nothing was appended.
//
// Names come from one getdents(2) read; each is described by fstatat(2)
// relative to the directory's descriptor, without following symlinks. A
// name from getdents has no '/' and is never "." or "..", so the stat
// cannot leave the directory that os.Root opened.
func (d *dir) next(n int, infos []fs.FileInfo) ([]fs.FileInfo, error) {
	for {
		names, err := d.f.Readdirnames(n)
		if err != nil && err != io.EOF {
			return infos, wrapErr("readdir", d.name, err)
		}
		if len(names) == 0 {
			return infos, io.EOF
		}
		kept := names[:0]
		for _, name := range names {
			if !isTempName(name) {
				kept = append(kept, name)
			}
		}
		start := len(infos)
		infos = append(infos, make([]fs.FileInfo, len(kept))...)
		if err := d.stat(kept, infos[start:]); err != nil {
			return infos[:start], err
		}
		// Entries removed since the directory was read are left out.
		out := infos[:start]
		for _, fi := range infos[start:] {
			if fi != nil {
				out = append(out, fi)
			}
		}
		infos = out
		if n < 0 || len(infos) > start {
			return infos, nil
		}
		// Every entry of this batch was hidden or gone: read on, so that
		// an empty batch means the end.
	}
}

// stat describes names into infos (nil for a name that no longer exists).
func (d *dir) stat(names []string, infos []fs.FileInfo) error {
	raw, err := d.f.SyscallConn()
	if err != nil {
		return wrapErr("readdir", d.name, err)
	}
	var statErr error
	cerr := raw.Control(func(fd uintptr) {
		if len(names) < parallelStatMin {
			statErr = statNames(int(fd), d.name, names, infos)
			return
		}
		half := len(names) / 2
		var wg sync.WaitGroup
		var otherErr error
		wg.Go(func() { otherErr = statNames(int(fd), d.name, names[half:], infos[half:]) })
		statErr = statNames(int(fd), d.name, names[:half], infos[:half])
		wg.Wait()
		if statErr == nil {
			statErr = otherErr
		}
	})
	if cerr != nil {
		return wrapErr("readdir", d.name, cerr)
	}
	return statErr
}

func statNames(dirfd int, dirName string, names []string, infos []fs.FileInfo) error {
	for i, name := range names {
		fi := &fileInfo{name: name}
		err := unix.Fstatat(dirfd, name, &fi.st, unix.AT_SYMLINK_NOFOLLOW)
		for err == unix.EINTR {
			err = unix.Fstatat(dirfd, name, &fi.st, unix.AT_SYMLINK_NOFOLLOW)
		}
		switch {
		case err == nil:
			infos[i] = fi
		case errors.Is(err, unix.ENOENT):
			infos[i] = nil
		default:
			return wrapErr("readdir", path.Join(dirName, name), &os.PathError{Op: "fstatat", Path: name, Err: err})
		}
	}
	return nil
}

// fileInfo is an fs.FileInfo from fstatat(2).
type fileInfo struct {
	name string
	st   unix.Stat_t
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) IsDir() bool        { return fi.Mode().IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.st }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }

// Mode maps st_mode to fs.FileMode as os.Lstat does: the type bits, the
// permission bits, and setuid, setgid and sticky.
func (fi *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.st.Mode & 0o777)
	switch fi.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if fi.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if fi.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if fi.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
