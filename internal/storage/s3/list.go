package s3

import (
	"context"
	"io"
	"io/fs"
	"iter"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage"
)

const (
	// listPage is how many keys one ListObjectsV2 request returns (S3's
	// maximum) and ReadDir's batch.
	listPage = 1000
	// headWorkers is how many HEADs at once fetch the times of a batch's
	// files with list-mtime=head.
	headWorkers = 8
)

// dir is a folder being listed: ListObjectsV2 with delimiter "/", pulled a
// page at a time as Next asks for entries, so that a listing holds one
// page of keys (and the names of the files seen, below) rather than the
// whole folder.
type dir struct {
	d      *Driver
	ctx    context.Context
	name   string
	prefix string
	next   func() (minio.ObjectInfo, bool)
	stop   func()
	// first is the entry OpenDir read to learn that the folder exists.
	first *minio.ObjectInfo
	done  bool
	// files are the names of the objects listed so far. An object "a"
	// and keys under "a/" can both exist in S3 (never through this
	// driver): the folder is left out, as Stat describes the object. A
	// listing is in key order, so the object always comes first.
	files map[string]struct{}
}

func (d *Driver) openDir(ctx context.Context, name string) (*dir, error) {
	rel, err := d.resolve(ctx, "readdir", name)
	if err != nil {
		return nil, err
	}
	prefix := d.dirKey(rel)
	next, stop := iter.Pull(d.p.core.ListObjectsIter(ctx, d.bucket(), d.listOpts(prefix, listPage)))
	l := &dir{d: d, ctx: ctx, name: name, prefix: prefix, next: next, stop: stop, files: make(map[string]struct{})}
	first, ok := next()
	switch {
	case ok && first.Err != nil:
		stop()
		return nil, mapErr("readdir", name, first.Err)
	case ok:
		l.first = &first
		return l, nil
	}
	stop()
	if err := ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if rel == "" {
		l.done = true
		return l, nil
	}
	// No key under name/: an object, or nothing.
	if _, err := d.head(ctx, d.objKey(rel)); err == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: storage.ErrNotDir}
	} else if !isNotFound(err) {
		return nil, mapErr("readdir", name, err)
	}
	return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
}

// Next returns up to n more entries; io.EOF (and none) at the end.
func (l *dir) Next(n int) ([]fs.FileInfo, error) {
	n = max(n, 1)
	var out []fs.FileInfo
	var heads []int // entries whose time a HEAD must give
	for len(out) < n && !l.done {
		var oi minio.ObjectInfo
		if l.first != nil {
			oi, l.first = *l.first, nil
		} else {
			var ok bool
			if oi, ok = l.next(); !ok {
				l.done = true
				if err := l.ctx.Err(); err != nil {
					return nil, &fs.PathError{Op: "readdir", Path: l.name, Err: err}
				}
				break
			}
		}
		if oi.Err != nil {
			l.done = true
			return nil, mapErr("readdir", l.name, oi.Err)
		}
		fi := l.entry(oi)
		if fi == nil {
			continue
		}
		if !fi.dir && l.d.p.cfg.ListMtime == ListMtimeHead {
			heads = append(heads, len(out))
		}
		out = append(out, fi)
	}
	if len(heads) > 0 {
		var err error
		if out, err = l.headTimes(out, heads); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 && l.done {
		return nil, io.EOF
	}
	return out, nil
}

// entry describes a listed key, or returns nil for what is not an entry:
// the folder's own marker, a folder named as an object listed before it,
// and names a listing line cannot carry (empty, with CR, LF or NUL: only
// other S3 clients make those).
func (l *dir) entry(oi minio.ObjectInfo) *fileInfo {
	rest := strings.TrimPrefix(oi.Key, l.prefix)
	isDir := strings.HasSuffix(rest, "/")
	name := strings.TrimSuffix(rest, "/")
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\r\n\x00") {
		return nil
	}
	if isDir {
		if _, ok := l.files[name]; ok {
			return nil
		}
		return &fileInfo{name: name, dir: true, mtime: epoch}
	}
	l.files[name] = struct{}{}
	return objectInfo(name, oi)
}

// headTimes replaces the listed times of out[heads] with their HEAD's
// (list-mtime=head), headWorkers at a time. Objects deleted since the
// listing are left out.
func (l *dir) headTimes(out []fs.FileInfo, heads []int) ([]fs.FileInfo, error) {
	gone := make([]bool, len(out))
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(headWorkers, len(heads)) {
		wg.Go(func() {
			for i := range next {
				fi := out[i].(*fileInfo)
				oi, err := l.d.head(l.ctx, l.prefix+fi.name)
				switch {
				case err == nil:
					fi.mtime, fi.size = mtimeOf(oi), oi.Size
				case isNotFound(err):
					gone[i] = true
				default:
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, i := range heads {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, mapErr("readdir", l.name, firstErr)
	}
	kept := out[:0]
	for i, fi := range out {
		if !gone[i] {
			kept = append(kept, fi)
		}
	}
	return kept, nil
}

func (l *dir) Close() error {
	l.stop()
	return nil
}
