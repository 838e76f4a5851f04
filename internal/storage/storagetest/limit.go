package storagetest

import (
	"context"
	"io"
	"io/fs"
	"time"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Limit returns d with only the capabilities in keep (of those d has): it
// reports them, and refuses the operations of the others with
// storage.ErrUnsupported, as a driver that cannot do them must. It stands
// for a driver with less than the local disk can do (an object store) in
// the engine's tests. Reads and uploads are d's own values, so zero-copy
// paths (*os.File, storage.FileUpload) stay.
func Limit(d storage.Driver, keep storage.Capabilities) storage.Driver {
	return &limited{Driver: d, caps: d.Capabilities() & keep}
}

type limited struct {
	storage.Driver
	caps storage.Capabilities
}

func (l *limited) Capabilities() storage.Capabilities { return l.caps }

func (l *limited) Create(ctx context.Context, name string, mode storage.CreateMode, offset int64) (storage.Upload, error) {
	need := map[storage.CreateMode]storage.Capabilities{
		storage.Append: storage.CapAppend, storage.Resume: storage.CapResume, storage.Exclusive: storage.CapExclusive,
	}[mode]
	if !l.caps.Has(need) {
		return nil, storage.Unsupported("create "+mode.String(), name)
	}
	return l.Driver.Create(ctx, name, mode, offset)
}

func (l *limited) Rename(ctx context.Context, from, to string) error {
	if !l.caps.Has(storage.CapRename) {
		return storage.Unsupported("rename", from)
	}
	return l.Driver.Rename(ctx, from, to)
}

func (l *limited) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	if !l.caps.Has(storage.CapChmod) {
		return storage.Unsupported("chmod", name)
	}
	return l.Driver.Chmod(ctx, name, mode)
}

func (l *limited) Chtimes(ctx context.Context, name string, mtime time.Time) error {
	if !l.caps.Has(storage.CapChtimes) {
		return storage.Unsupported("chtimes", name)
	}
	return l.Driver.Chtimes(ctx, name, mtime)
}

// OpenDir keeps d's batched listing when it has one; otherwise it lists
// with ReadDir, as the engine would.
func (l *limited) OpenDir(ctx context.Context, name string) (storage.Dir, error) {
	if o, ok := l.Driver.(storage.DirOpener); ok {
		return o.OpenDir(ctx, name)
	}
	infos, err := l.Driver.ReadDir(ctx, name)
	if err != nil {
		return nil, err
	}
	return &sliceDir{infos: infos}, nil
}

type sliceDir struct{ infos []fs.FileInfo }

func (s *sliceDir) Next(n int) ([]fs.FileInfo, error) {
	if len(s.infos) == 0 {
		return nil, io.EOF
	}
	n = max(1, min(n, len(s.infos)))
	out := s.infos[:n]
	s.infos = s.infos[n:]
	return out, nil
}

func (s *sliceDir) Close() error { return nil }
