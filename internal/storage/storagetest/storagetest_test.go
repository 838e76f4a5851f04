package storagetest_test

import (
	"testing"

	"github.com/rotary-ftp/rotary/internal/storage"
	"github.com/rotary-ftp/rotary/internal/storage/local"
	"github.com/rotary-ftp/rotary/internal/storage/storagetest"
)

// The table's own check: a driver that lacks capabilities (the local disk
// through Limit) still passes, with the rows of what it lacks answered by
// ErrUnsupported.
func TestLimitedDriver(t *testing.T) {
	for _, keep := range []storage.Capabilities{0, storage.CapRename | storage.CapChmod, storage.CapAll &^ storage.CapExclusive} {
		t.Run(keep.String(), func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Driver {
				d, err := local.New(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				return storagetest.Limit(d, keep)
			})
		})
	}
}
