//go:build !unix

package local

import (
	"errors"
	"io"
	"io/fs"
	"path"
)

// next appends up to n entries (all, for n < 0) to infos. It reports io.EOF
// once the directory is exhausted and nothing was appended.
func (d *dir) next(n int, infos []fs.FileInfo) ([]fs.FileInfo, error) {
	for {
		entries, err := d.f.ReadDir(n)
		if err != nil && err != io.EOF {
			return infos, wrapErr("readdir", d.name, err)
		}
		if len(entries) == 0 {
			return infos, io.EOF
		}
		added := 0
		for _, e := range entries {
			if isTempName(e.Name()) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // removed since the directory was read
				}
				return infos, wrapErr("readdir", path.Join(d.name, e.Name()), err)
			}
			infos = append(infos, info)
			added++
		}
		if n < 0 || added > 0 {
			return infos, nil
		}
		// Every entry of this batch was hidden or gone: read on, so that
		// an empty batch means the end.
	}
}
