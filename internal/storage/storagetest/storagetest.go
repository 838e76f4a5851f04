// Package storagetest is the behaviour table of storage.Driver: one table
// that every driver runs (the local disk's, an object store's), so that the
// engine can count on the same answers from each. A driver's tests call Run
// with a function that makes an empty driver.
package storagetest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Run checks the Driver contract on drivers made by newDriver, which returns
// a fresh driver over an empty tree for each call; Run closes each driver
// itself. Operations behind a capability the driver lacks must fail with
// ErrUnsupported, and their rows elsewhere are skipped.
func Run(t *testing.T, newDriver func(t *testing.T) storage.Driver) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, d storage.Driver)
	}{
		{"Stat", testStat},
		{"ReadDir", testReadDir},
		{"OpenDir", testOpenDir},
		{"Open", testOpen},
		{"OpenStat", testOpenStat},
		{"CreateModes", testCreateModes},
		{"NothingVisibleBeforeCommit", testNothingVisible},
		{"UploadLifecycle", testUploadLifecycle},
		{"Begin", testBegin},
		{"Exclusive", testExclusive},
		{"Mkdir", testMkdir},
		{"Remove", testRemove},
		{"RemoveDir", testRemoveDir},
		{"Rename", testRename},
		{"Chtimes", testChtimes},
		{"Chmod", testChmod},
		{"NamesLeavingTheRoot", testNamesLeavingRoot},
		{"CancelledContext", testCancelled},
		{"CloseAbortsUploads", testCloseAborts},
		{"Unsupported", testUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDriver(t)
			closed := false
			t.Cleanup(func() {
				if !closed {
					d.Close()
				}
			})
			if tt.name == "CloseAbortsUploads" {
				closed = true // the test closes it, twice
			}
			tt.fn(t, d)
		})
	}
}

var ctx = context.Background()

// put stores content under name through a whole upload.
func put(t *testing.T, d storage.Driver, name, content string) {
	t.Helper()
	u, err := d.Create(ctx, name, storage.Truncate, 0)
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	if err := u.Begin(ctx, nil); err != nil {
		t.Fatalf("Begin(%s): %v", name, err)
	}
	if _, err := io.Copy(u, strings.NewReader(content)); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := u.Commit(ctx); err != nil {
		t.Fatalf("Commit(%s): %v", name, err)
	}
}

func mkdir(t *testing.T, d storage.Driver, name string) {
	t.Helper()
	if err := d.Mkdir(ctx, name); err != nil {
		t.Fatalf("Mkdir(%s): %v", name, err)
	}
}

// get reads file name from offset; it fails the test on an error.
func get(t *testing.T, d storage.Driver, name string, offset int64) string {
	t.Helper()
	rc, err := d.Open(ctx, name, offset)
	if err != nil {
		t.Fatalf("Open(%s, %d): %v", name, offset, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// wantErr fails unless err wraps target (nil: no error).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s: error %v, want one wrapping %v", what, err, target)
	}
}

func names(infos []fs.FileInfo) []string {
	var out []string
	for _, fi := range infos {
		out = append(out, fi.Name())
	}
	slices.Sort(out)
	return out
}

func testStat(t *testing.T, d storage.Driver) {
	put(t, d, "/f.txt", "hello")
	mkdir(t, d, "/dir")
	fi, err := d.Stat(ctx, "/")
	if err != nil || !fi.IsDir() {
		t.Fatalf("Stat(/) = %v, %v; want a directory", fi, err)
	}
	fi, err = d.Stat(ctx, "/f.txt")
	if err != nil || fi.IsDir() || !fi.Mode().IsRegular() || fi.Size() != 5 || fi.Name() != "f.txt" {
		t.Fatalf("Stat(/f.txt) = %v, %v; want regular file f.txt of 5 bytes", fi, err)
	}
	if fi, err := d.Stat(ctx, "/dir"); err != nil || !fi.IsDir() || fi.Name() != "dir" {
		t.Fatalf("Stat(/dir) = %v, %v; want directory dir", fi, err)
	}
	_, err = d.Stat(ctx, "/missing")
	wantErr(t, "Stat(/missing)", err, fs.ErrNotExist)
	_, err = d.Stat(ctx, "/f.txt/below")
	if err == nil {
		t.Error("Stat(/f.txt/below) succeeded")
	}
}

func testReadDir(t *testing.T, d storage.Driver) {
	mkdir(t, d, "/dir")
	mkdir(t, d, "/dir/sub")
	put(t, d, "/dir/a", "1")
	put(t, d, "/dir/b", "22")
	// An upload in flight is not an entry.
	u, err := d.Create(ctx, "/dir/pending", storage.Truncate, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	infos, err := d.ReadDir(ctx, "/dir")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(infos); !slices.Equal(got, []string{"a", "b", "sub"}) {
		t.Fatalf("ReadDir(/dir) = %v, want [a b sub]", got)
	}
	for _, fi := range infos {
		if (fi.Name() == "sub") != fi.IsDir() || (fi.Name() == "b" && fi.Size() != 2) {
			t.Errorf("entry %s: dir %v, size %d", fi.Name(), fi.IsDir(), fi.Size())
		}
	}
	if infos, err := d.ReadDir(ctx, "/dir/sub"); err != nil || len(infos) != 0 {
		t.Errorf("ReadDir(empty) = %v, %v", names(infos), err)
	}
	_, err = d.ReadDir(ctx, "/dir/a")
	wantErr(t, "ReadDir(file)", err, storage.ErrNotDir)
	_, err = d.ReadDir(ctx, "/missing")
	wantErr(t, "ReadDir(missing)", err, fs.ErrNotExist)
}

func testOpenDir(t *testing.T, d storage.Driver) {
	opener, ok := d.(storage.DirOpener)
	if !ok {
		t.Skip("the driver lists with ReadDir only")
	}
	mkdir(t, d, "/big")
	var want []string
	for i := range 20 {
		name := string(rune('a'+i)) + ".txt"
		put(t, d, "/big/"+name, "x")
		want = append(want, name)
	}
	dir, err := opener.OpenDir(ctx, "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	var got []fs.FileInfo
	for {
		batch, err := dir.Next(3)
		if err == io.EOF {
			if len(batch) != 0 {
				t.Fatalf("io.EOF with %d entries", len(batch))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 || len(batch) > 3 {
			t.Fatalf("batch of %d entries, want 1 to 3", len(batch))
		}
		got = append(got, batch...)
	}
	if g := names(got); !slices.Equal(g, want) {
		t.Fatalf("OpenDir listed %v, want %v", g, want)
	}
	_, err = opener.OpenDir(ctx, "/big/a.txt")
	wantErr(t, "OpenDir(file)", err, storage.ErrNotDir)
	_, err = opener.OpenDir(ctx, "/missing")
	wantErr(t, "OpenDir(missing)", err, fs.ErrNotExist)
}

func testOpen(t *testing.T, d storage.Driver) {
	put(t, d, "/f.txt", "0123456789")
	mkdir(t, d, "/dir")
	tests := []struct {
		name   string
		offset int64
		want   string
		err    error
	}{
		{"/f.txt", 0, "0123456789", nil},
		{"/f.txt", 3, "3456789", nil},
		{"/f.txt", 10, "", nil}, // at the end: an empty read, then EOF
		{"/f.txt", 11, "", storage.ErrBadOffset},
		{"/f.txt", -1, "", storage.ErrBadOffset},
		{"/dir", 0, "", storage.ErrIsDir},
		{"/missing", 0, "", fs.ErrNotExist},
	}
	for _, tt := range tests {
		if tt.err != nil {
			rc, err := d.Open(ctx, tt.name, tt.offset)
			if err == nil {
				rc.Close()
			}
			wantErr(t, "Open("+tt.name+")", err, tt.err)
			continue
		}
		if got := get(t, d, tt.name, tt.offset); got != tt.want {
			t.Errorf("Open(%s, %d) read %q, want %q", tt.name, tt.offset, got, tt.want)
		}
	}
	// Reads end with io.EOF.
	rc, err := d.Open(ctx, "/f.txt", 8)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 10)
	n, err := io.ReadFull(rc, buf)
	if n != 2 || err != io.ErrUnexpectedEOF {
		t.Errorf("reading 2 bytes before the end: %d, %v", n, err)
	}
	if n, err := rc.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v; want 0, io.EOF", n, err)
	}
}

// testOpenStat: a driver that is a storage.StatOpener describes what it
// opened as Stat does, reads as Open does and fails where Open fails.
func testOpenStat(t *testing.T, d storage.Driver) {
	so, ok := d.(storage.StatOpener)
	if !ok {
		t.Skip("the driver is not a storage.StatOpener")
	}
	put(t, d, "/f.txt", "0123456789")
	mkdir(t, d, "/dir")
	rc, fi, err := so.OpenStat(ctx, "/f.txt", 4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "456789" {
		t.Errorf("OpenStat(/f.txt, 4) read %q, %v; want \"456789\"", got, err)
	}
	st, err := d.Stat(ctx, "/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 10 || fi.IsDir() || !fi.ModTime().Equal(st.ModTime()) || fi.Name() != st.Name() {
		t.Errorf("OpenStat described %s %d bytes %v dir=%v; Stat %s %d bytes %v", fi.Name(), fi.Size(), fi.ModTime(), fi.IsDir(), st.Name(), st.Size(), st.ModTime())
	}
	for _, tt := range []struct {
		name   string
		offset int64
		err    error
	}{
		{"/f.txt", 11, storage.ErrBadOffset},
		{"/dir", 0, storage.ErrIsDir},
		{"/missing", 0, fs.ErrNotExist},
	} {
		rc, _, err := so.OpenStat(ctx, tt.name, tt.offset)
		if err == nil {
			rc.Close()
		}
		wantErr(t, "OpenStat("+tt.name+")", err, tt.err)
	}
}

// testCreateModes: each mode against an existing file, a new name and the
// offsets that are refused, and the content each leaves after Commit.
func testCreateModes(t *testing.T, d storage.Driver) {
	caps := d.Capabilities()
	tests := []struct {
		what   string
		mode   storage.CreateMode
		offset int64
		exists bool // "/f" holds "old-content" first
		data   string
		want   string
		err    error
		needs  storage.Capabilities
	}{
		{"truncate an existing file", storage.Truncate, 0, true, "new", "new", nil, 0},
		{"truncate ignores offset", storage.Truncate, 5, true, "new", "new", nil, 0},
		{"truncate a new name", storage.Truncate, 0, false, "new", "new", nil, 0},
		{"append to a file", storage.Append, 0, true, "+more", "old-content+more", nil, storage.CapAppend},
		{"append ignores offset", storage.Append, 3, true, "+more", "old-content+more", nil, storage.CapAppend},
		{"append creates", storage.Append, 0, false, "new", "new", nil, storage.CapAppend},
		{"resume inside", storage.Resume, 4, true, "CONTENT", "old-CONTENT", nil, storage.CapResume},
		{"resume at 0", storage.Resume, 0, true, "x", "x", nil, storage.CapResume},
		{"resume at the end", storage.Resume, 11, true, "!", "old-content!", nil, storage.CapResume},
		{"resume at 0 of a new name", storage.Resume, 0, false, "new", "new", nil, storage.CapResume},
		{"resume beyond the end", storage.Resume, 12, true, "", "old-content", storage.ErrBadOffset, storage.CapResume},
		{"resume negative", storage.Resume, -1, true, "", "old-content", storage.ErrBadOffset, storage.CapResume},
		{"resume a new name", storage.Resume, 1, false, "", "", storage.ErrBadOffset, storage.CapResume},
		{"exclusive new name", storage.Exclusive, 0, false, "new", "new", nil, storage.CapExclusive},
		{"exclusive existing name", storage.Exclusive, 0, true, "", "old-content", fs.ErrExist, storage.CapExclusive},
	}
	for i, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			if !caps.Has(tt.needs) {
				t.Skipf("the driver lacks %v", tt.needs)
			}
			dir := "/m" + string(rune('a'+i))
			mkdir(t, d, dir)
			name := dir + "/f"
			if tt.exists {
				put(t, d, name, "old-content")
			}
			u, err := d.Create(ctx, name, tt.mode, tt.offset)
			wantErr(t, "Create", err, tt.err)
			if err == nil {
				if err := u.Begin(ctx, nil); err != nil {
					t.Fatalf("Begin: %v", err)
				}
				if _, err := io.Copy(u, strings.NewReader(tt.data)); err != nil {
					t.Fatalf("write: %v", err)
				}
				if err := u.Commit(ctx); err != nil {
					t.Fatalf("Commit: %v", err)
				}
			}
			if !tt.exists && tt.err != nil {
				_, err := d.Stat(ctx, name)
				wantErr(t, "Stat after a refused Create", err, fs.ErrNotExist)
				return
			}
			if got := get(t, d, name, 0); got != tt.want {
				t.Errorf("content %q, want %q", got, tt.want)
			}
		})
	}
	mkdir(t, d, "/adir")
	for _, mode := range []storage.CreateMode{storage.Truncate, storage.Append, storage.Resume, storage.Exclusive} {
		if (mode == storage.Append && !caps.Has(storage.CapAppend)) || (mode == storage.Resume && !caps.Has(storage.CapResume)) ||
			(mode == storage.Exclusive && !caps.Has(storage.CapExclusive)) {
			continue
		}
		want := storage.ErrIsDir
		if mode == storage.Exclusive {
			want = fs.ErrExist // the name is taken, by a directory
		}
		_, err := d.Create(ctx, "/adir", mode, 0)
		wantErr(t, "Create(directory, "+mode.String()+")", err, want)
		_, err = d.Create(ctx, "/missing/f", mode, 0)
		wantErr(t, "Create(in a missing directory, "+mode.String()+")", err, fs.ErrNotExist)
	}
	_, err := d.Create(ctx, "/", storage.Truncate, 0)
	wantErr(t, "Create(/)", err, storage.ErrIsDir)
}

// testNothingVisible: until Commit, a new name does not exist and an
// existing one reads its old content, also after all the data is written.
func testNothingVisible(t *testing.T, d storage.Driver) {
	put(t, d, "/old.txt", "old")
	for _, name := range []string{"/new.txt", "/old.txt"} {
		u, err := d.Create(ctx, name, storage.Truncate, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Begin(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write([]byte("new content")); err != nil {
			t.Fatal(err)
		}
		if name == "/new.txt" {
			_, err := d.Stat(ctx, name)
			wantErr(t, "Stat before Commit", err, fs.ErrNotExist)
		} else if got := get(t, d, name, 0); got != "old" {
			t.Errorf("%s before Commit reads %q, want the old content", name, got)
		}
		if err := u.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if got := get(t, d, name, 0); got != "new content" {
			t.Errorf("%s after Commit reads %q", name, got)
		}
	}
}

// testUploadLifecycle: Abort keeps the old content; Commit after Abort
// errors with os.ErrClosed; Abort after Commit and twice, Commit twice are
// harmless; Write before Begin fails.
func testUploadLifecycle(t *testing.T, d storage.Driver) {
	put(t, d, "/f.txt", "old")
	u, err := d.Create(ctx, "/f.txt", storage.Truncate, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write([]byte("early")); err == nil {
		t.Error("Write before Begin succeeded")
	}
	if _, err := u.ReadFrom(strings.NewReader("early")); err == nil {
		t.Error("ReadFrom before Begin succeeded")
	}
	if err := u.Begin(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := u.Begin(ctx, nil); err == nil {
		t.Error("a second Begin succeeded")
	}
	u.Write([]byte("new data"))
	if err := u.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := u.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	wantErr(t, "Commit after Abort", u.Commit(ctx), os.ErrClosed)
	if got := get(t, d, "/f.txt", 0); got != "old" {
		t.Errorf("after Abort the file reads %q, want old", got)
	}
	if _, err := u.Write([]byte("x")); err == nil {
		t.Error("Write after Abort succeeded")
	}

	u, err = d.Create(ctx, "/f.txt", storage.Truncate, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(ctx); err == nil {
		t.Error("Commit before Begin succeeded")
	}
	if got := get(t, d, "/f.txt", 0); got != "old" {
		t.Errorf("after a Commit before Begin the file reads %q, want old", got)
	}

	u, err = d.Create(ctx, "/f.txt", storage.Truncate, 0)
	if err != nil {
		t.Fatal(err)
	}
	u.Begin(ctx, nil)
	u.Write([]byte("committed"))
	if err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(ctx); err != nil {
		t.Errorf("second Commit: %v", err)
	}
	if err := u.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if got := get(t, d, "/f.txt", 0); got != "committed" {
		t.Errorf("Abort after Commit changed the file: %q", got)
	}
}

// testBegin: Begin reports the kept part's bytes to progress and stops on
// a cancelled context, leaving the old file.
func testBegin(t *testing.T, d storage.Driver) {
	if !d.Capabilities().Has(storage.CapAppend) {
		t.Skip("the driver lacks append")
	}
	old := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	put(t, d, "/f", old)
	u, err := d.Create(ctx, "/f", storage.Append, 0)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var moved int64
	if err := u.Begin(ctx, func(n int64) { mu.Lock(); moved += n; mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if moved != int64(len(old)) {
		t.Errorf("Begin reported %d bytes, want %d", moved, len(old))
	}
	u.Write([]byte("!"))
	if err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := get(t, d, "/f", 0); got != old+"!" {
		t.Errorf("appended file: %d bytes, want %d", len(got), len(old)+1)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	u, err = d.Create(ctx, "/f", storage.Append, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Begin with a cancelled context", u.Begin(cctx, nil), context.Canceled)
	if _, err := u.Write([]byte("x")); err == nil {
		t.Error("Write after a failed Begin succeeded")
	}
	u.Abort()
	if fi, err := d.Stat(ctx, "/f"); err != nil || fi.Size() != int64(len(old))+1 {
		t.Errorf("after a cancelled Begin: %v, %v", fi, err)
	}
}

// testExclusive: an exclusive name is held from Create to the upload's end,
// and Commit never replaces a file that appeared meanwhile.
func testExclusive(t *testing.T, d storage.Driver) {
	if !d.Capabilities().Has(storage.CapExclusive) {
		t.Skip("the driver lacks exclusive creates")
	}
	u1, err := d.Create(ctx, "/x", storage.Exclusive, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Create(ctx, "/x", storage.Exclusive, 0)
	wantErr(t, "a second exclusive Create of a name in flight", err, fs.ErrExist)
	u1.Abort()
	u2, err := d.Create(ctx, "/x", storage.Exclusive, 0)
	if err != nil {
		t.Fatalf("exclusive Create after the first upload's Abort: %v", err)
	}
	u2.Begin(ctx, nil)
	u2.Write([]byte("mine"))
	// Someone else's file appears under the name before Commit.
	put(t, d, "/x", "theirs")
	wantErr(t, "exclusive Commit over a file that appeared", u2.Commit(ctx), fs.ErrExist)
	if got := get(t, d, "/x", 0); got != "theirs" {
		t.Errorf("the file that appeared reads %q, want theirs", got)
	}
	if infos, _ := d.ReadDir(ctx, "/"); !slices.Equal(names(infos), []string{"x"}) {
		t.Errorf("after the refused Commit the root holds %v", names(infos))
	}
	// Concurrent exclusive Creates of one name: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	results := make([]error, n)
	ups := make([]storage.Upload, n)
	for i := range n {
		wg.Go(func() { ups[i], results[i] = d.Create(ctx, "/race", storage.Exclusive, 0) })
	}
	wg.Wait()
	won := 0
	for i, err := range results {
		switch {
		case err == nil:
			won++
			ups[i].Begin(ctx, nil)
			ups[i].Write([]byte("winner"))
			if err := ups[i].Commit(ctx); err != nil {
				t.Errorf("the winner's Commit: %v", err)
			}
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("a losing exclusive Create: %v, want fs.ErrExist", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent exclusive Creates succeeded, want 1", won, n)
	}
}

func testMkdir(t *testing.T, d storage.Driver) {
	mkdir(t, d, "/d")
	if fi, err := d.Stat(ctx, "/d"); err != nil || !fi.IsDir() {
		t.Fatalf("Stat after Mkdir: %v, %v", fi, err)
	}
	mkdir(t, d, "/d/e")
	wantErr(t, "Mkdir(existing)", d.Mkdir(ctx, "/d"), fs.ErrExist)
	put(t, d, "/f", "x")
	wantErr(t, "Mkdir(over a file)", d.Mkdir(ctx, "/f"), fs.ErrExist)
	wantErr(t, "Mkdir(missing parent)", d.Mkdir(ctx, "/no/such"), fs.ErrNotExist)
}

func testRemove(t *testing.T, d storage.Driver) {
	put(t, d, "/f", "x")
	mkdir(t, d, "/d")
	wantErr(t, "Remove(file)", d.Remove(ctx, "/f"), nil)
	_, err := d.Stat(ctx, "/f")
	wantErr(t, "Stat after Remove", err, fs.ErrNotExist)
	wantErr(t, "Remove(directory)", d.Remove(ctx, "/d"), storage.ErrIsDir)
	wantErr(t, "Remove(missing)", d.Remove(ctx, "/f"), fs.ErrNotExist)
}

func testRemoveDir(t *testing.T, d storage.Driver) {
	mkdir(t, d, "/empty")
	mkdir(t, d, "/full")
	put(t, d, "/full/f", "x")
	wantErr(t, "RemoveDir(empty)", d.RemoveDir(ctx, "/empty"), nil)
	_, err := d.Stat(ctx, "/empty")
	wantErr(t, "Stat after RemoveDir", err, fs.ErrNotExist)
	wantErr(t, "RemoveDir(not empty)", d.RemoveDir(ctx, "/full"), storage.ErrNotEmpty)
	wantErr(t, "RemoveDir(file)", d.RemoveDir(ctx, "/full/f"), storage.ErrNotDir)
	wantErr(t, "RemoveDir(missing)", d.RemoveDir(ctx, "/empty"), fs.ErrNotExist)
	if err := d.RemoveDir(ctx, "/"); err == nil {
		t.Error("RemoveDir(/) succeeded")
	}
	if got := get(t, d, "/full/f", 0); got != "x" {
		t.Errorf("a refused RemoveDir changed its content: %q", got)
	}
}

func testRename(t *testing.T, d storage.Driver) {
	if !d.Capabilities().Has(storage.CapRename) {
		t.Skip("the driver lacks rename")
	}
	put(t, d, "/a", "A")
	put(t, d, "/b", "B")
	mkdir(t, d, "/d")
	put(t, d, "/d/in", "I")
	wantErr(t, "Rename(a, c)", d.Rename(ctx, "/a", "/c"), nil)
	if got := get(t, d, "/c", 0); got != "A" {
		t.Errorf("renamed file reads %q", got)
	}
	_, err := d.Stat(ctx, "/a")
	wantErr(t, "Stat(old name)", err, fs.ErrNotExist)
	wantErr(t, "Rename over a file", d.Rename(ctx, "/c", "/b"), nil)
	if got := get(t, d, "/b", 0); got != "A" {
		t.Errorf("replaced file reads %q, want A", got)
	}
	wantErr(t, "Rename(directory)", d.Rename(ctx, "/d", "/e"), nil)
	if got := get(t, d, "/e/in", 0); got != "I" {
		t.Errorf("file in the renamed directory reads %q", got)
	}
	wantErr(t, "Rename(missing)", d.Rename(ctx, "/nope", "/x"), fs.ErrNotExist)
	wantErr(t, "Rename into a missing directory", d.Rename(ctx, "/b", "/no/b"), fs.ErrNotExist)
}

func testChtimes(t *testing.T, d storage.Driver) {
	if !d.Capabilities().Has(storage.CapChtimes) {
		t.Skip("the driver lacks chtimes")
	}
	put(t, d, "/f", "x")
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	wantErr(t, "Chtimes", d.Chtimes(ctx, "/f", when), nil)
	if fi, err := d.Stat(ctx, "/f"); err != nil || !fi.ModTime().Equal(when) {
		t.Errorf("ModTime after Chtimes: %v, %v; want %v", fi, err, when)
	}
	wantErr(t, "Chtimes(missing)", d.Chtimes(ctx, "/missing", when), fs.ErrNotExist)
}

func testChmod(t *testing.T, d storage.Driver) {
	if !d.Capabilities().Has(storage.CapChmod) {
		t.Skip("the driver lacks chmod")
	}
	put(t, d, "/f", "x")
	wantErr(t, "Chmod", d.Chmod(ctx, "/f", 0o600), nil)
	// Windows keeps only the read-only attribute.
	if fi, err := d.Stat(ctx, "/f"); runtime.GOOS != "windows" && (err != nil || fi.Mode().Perm() != 0o600) {
		t.Errorf("mode after Chmod(0600): %v, %v", fi, err)
	}
	wantErr(t, "Chmod(missing)", d.Chmod(ctx, "/missing", 0o644), fs.ErrNotExist)
}

// testNamesLeavingRoot: names the engine never sends (relative, with "..",
// NUL) are refused by every call, and nothing appears.
func testNamesLeavingRoot(t *testing.T, d storage.Driver) {
	put(t, d, "/f", "x")
	for _, bad := range []string{"../x", "x", "", "/a\x00b"} {
		calls := map[string]error{}
		_, calls["Stat"] = d.Stat(ctx, bad)
		_, calls["ReadDir"] = d.ReadDir(ctx, bad)
		if rc, err := d.Open(ctx, bad, 0); err == nil {
			rc.Close()
			calls["Open"] = nil
		} else {
			calls["Open"] = err
		}
		if u, err := d.Create(ctx, bad, storage.Truncate, 0); err == nil {
			u.Abort()
			calls["Create"] = nil
		} else {
			calls["Create"] = err
		}
		calls["Mkdir"] = d.Mkdir(ctx, bad)
		calls["Remove"] = d.Remove(ctx, bad)
		calls["RemoveDir"] = d.RemoveDir(ctx, bad)
		calls["Rename from"] = d.Rename(ctx, bad, "/g")
		calls["Rename to"] = d.Rename(ctx, "/f", bad)
		calls["Chmod"] = d.Chmod(ctx, bad, 0o644)
		calls["Chtimes"] = d.Chtimes(ctx, bad, time.Now())
		for call, err := range calls {
			// An operation the driver lacks is refused before the name
			// matters.
			if !errors.Is(err, storage.ErrInvalidName) && !errors.Is(err, storage.ErrOutsideRoot) && !errors.Is(err, fs.ErrPermission) &&
				!errors.Is(err, storage.ErrUnsupported) {
				t.Errorf("%s(%q) = %v, want an error wrapping ErrInvalidName, ErrOutsideRoot or fs.ErrPermission", call, bad, err)
			}
		}
	}
	infos, err := d.ReadDir(ctx, "/")
	if err != nil || !slices.Equal(names(infos), []string{"f"}) {
		t.Errorf("after the refused names the root holds %v (%v)", names(infos), err)
	}
}

// testCancelled: a call under a context that is done fails with its error
// and changes nothing.
func testCancelled(t *testing.T, d storage.Driver) {
	put(t, d, "/f", "x")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := d.Stat(cctx, "/f")
	wantErr(t, "Stat", err, context.Canceled)
	wantErr(t, "Mkdir", d.Mkdir(cctx, "/d"), context.Canceled)
	wantErr(t, "Remove", d.Remove(cctx, "/f"), context.Canceled)
	_, err = d.Create(cctx, "/g", storage.Truncate, 0)
	wantErr(t, "Create", err, context.Canceled)
	u, err := d.Create(ctx, "/f", storage.Truncate, 0)
	if err != nil {
		t.Fatal(err)
	}
	u.Begin(ctx, nil)
	u.Write([]byte("new"))
	wantErr(t, "Commit", u.Commit(cctx), context.Canceled)
	if got := get(t, d, "/f", 0); got != "x" {
		t.Errorf("after the cancelled calls /f reads %q", got)
	}
	if _, err := d.Stat(ctx, "/d"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cancelled Mkdir made /d: %v", err)
	}
}

// testCloseAborts: Close aborts uploads in flight (their Write and Commit
// fail) and may be called twice.
func testCloseAborts(t *testing.T, d storage.Driver) {
	u, err := d.Create(ctx, "/f", storage.Truncate, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Begin(ctx, nil); err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("data"))
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := u.Write([]byte("more")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := u.Commit(ctx); err == nil {
		t.Error("Commit after Close succeeded")
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// testUnsupported: each operation behind a capability the driver lacks
// fails with ErrUnsupported (the engine answers 502 if it ever gets there).
func testUnsupported(t *testing.T, d storage.Driver) {
	caps := d.Capabilities()
	if caps&^storage.CapAll != 0 {
		t.Errorf("Capabilities %v has bits storage does not define", caps)
	}
	put(t, d, "/f", "x")
	create := func(mode storage.CreateMode, name string, offset int64) error {
		u, err := d.Create(ctx, name, mode, offset)
		if err == nil {
			u.Abort()
		}
		return err
	}
	ops := []struct {
		c  storage.Capabilities
		op func() error
	}{
		{storage.CapChtimes, func() error { return d.Chtimes(ctx, "/f", time.Now()) }},
		{storage.CapChmod, func() error { return d.Chmod(ctx, "/f", 0o644) }},
		{storage.CapAppend, func() error { return create(storage.Append, "/f", 0) }},
		{storage.CapResume, func() error { return create(storage.Resume, "/f", 1) }},
		{storage.CapExclusive, func() error { return create(storage.Exclusive, "/new", 0) }},
		{storage.CapRename, func() error { return d.Rename(ctx, "/f", "/g") }},
	}
	lacking := 0
	for _, o := range ops {
		if caps.Has(o.c) {
			continue
		}
		lacking++
		wantErr(t, o.c.String()+" without the capability", o.op(), storage.ErrUnsupported)
	}
	if lacking == 0 {
		t.Logf("the driver has every capability (%v)", caps)
	}
	if got := get(t, d, "/f", 0); got != "x" {
		t.Errorf("the refused operations changed /f: %q", got)
	}
}
