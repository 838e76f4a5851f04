//go:build !linux

package local

import "os"

// holdLast holds nothing outside Linux: Windows cannot rename over or
// delete an open file, and the freeing cost was measured on Linux only
// (release_linux.go).
func (d *Driver) holdLast(rel string) *os.File { return nil }

func releaseLater(f *os.File) {}

// replace is a plain rename outside Linux (handled false).
func (u *Upload) replace() (bool, error) { return false, nil }
