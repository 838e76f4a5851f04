package ftp

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rotary-ftp/rotary/internal/storage/local"
)

// outsideMark is the content of the files outside the fuzzed root: reading
// it through the driver would be an escape.
const outsideMark = "OUTSIDE-THE-ROOT"

// escapeFixture is a user's root next to a folder that must stay out of
// reach, with symlinks that point out of the root (relative and absolute),
// inside it, and at themselves.
type escapeFixture struct {
	root, outside string
	drv           *local.Driver
	outsideInfos  []fs.FileInfo
}

func newEscapeFixture(f *testing.F) *escapeFixture {
	base := f.TempDir()
	fx := &escapeFixture{root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{fx.root, fx.outside, filepath.Join(fx.root, "sub", "deeper"), filepath.Join(fx.outside, "dir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		filepath.Join(fx.outside, "secret"):        outsideMark,
		filepath.Join(fx.outside, "dir", "secret"): outsideMark,
		filepath.Join(fx.root, "in.txt"):           "inside",
		filepath.Join(fx.root, "sub", "f"):         "inside",
	} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	if runtime.GOOS != "windows" { // symlinks need privileges there
		for name, target := range map[string]string{
			"up":                "../outside",
			"abs":               filepath.Join(fx.outside, "secret"),
			"absdir":            fx.outside,
			"sub/back":          "..",
			"sub/out":           "../../outside/dir",
			"sub/deeper/climb":  "../../../outside/secret",
			"inlink":            "in.txt",
			"loop":              "loop",
			"sub/deeper/inside": "../f",
		} {
			if err := os.Symlink(target, filepath.Join(fx.root, filepath.FromSlash(name))); err != nil {
				f.Fatal(err)
			}
		}
	}
	for _, p := range []string{fx.outside, filepath.Join(fx.outside, "secret"), filepath.Join(fx.outside, "dir"), filepath.Join(fx.outside, "dir", "secret"), filepath.Dir(fx.root)} {
		fi, err := os.Stat(p)
		if err != nil {
			f.Fatal(err)
		}
		fx.outsideInfos = append(fx.outsideInfos, fi)
	}
	drv, err := local.New(fx.root)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { drv.Close() })
	fx.drv = drv
	return fx
}

// inside fails t if fi is one of the files outside the root.
func (fx *escapeFixture) inside(t *testing.T, op, name string, fi fs.FileInfo) {
	for _, o := range fx.outsideInfos {
		if os.SameFile(fi, o) {
			t.Fatalf("%s %q reached %s outside the root", op, name, o.Name())
		}
	}
}

// FuzzResolvePath: a client's path argument, resolved against a working
// directory the client chose earlier (CWD), is clean, absolute and free of
// ".."; and the local driver, asked for it or for the raw argument, never
// describes, opens or lists anything outside its root, whatever symlinks
// the root holds.
func FuzzResolvePath(f *testing.F) {
	for _, s := range [][2]string{
		{"/", "../../outside/secret"}, {"/sub", "back/../up/secret"}, {"/", "up/secret"}, {"/", "abs"},
		{"/", "absdir/dir/secret"}, {"/sub/deeper", "climb"}, {"/sub", "out/secret"}, {"/", "loop"},
		{"/", "inlink"}, {"/sub/deeper", "inside"}, {"/", "/./in.txt//"}, {"/a b", "c\x00d"}, {"/", `..\..\outside`},
	} {
		f.Add(s[0], s[1])
	}
	fx := newEscapeFixture(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, cwd, arg string) {
		// CWD's own target went through resolve too, and only a directory
		// becomes the working directory: any clean absolute path may be it.
		s := &session{cwd: path.Clean("/" + cwd)}
		p := s.resolve(arg)
		if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
			t.Fatalf("resolve(cwd %q, %q) = %q: not clean and absolute", s.cwd, arg, p)
		}
		for _, e := range strings.Split(p, "/") {
			if e == ".." {
				t.Fatalf("resolve(cwd %q, %q) = %q climbs", s.cwd, arg, p)
			}
		}
		// A NUL can only come from the client (who gets 501 for it before
		// any path is resolved); ".." may drop one.
		if strings.Contains(p, "\x00") && !strings.Contains(s.cwd+arg, "\x00") {
			t.Fatalf("resolve(cwd %q, %q) = %q: NUL added", s.cwd, arg, p)
		}
		for _, name := range []string{p, arg} {
			if fi, err := fx.drv.Stat(ctx, name); err == nil {
				fx.inside(t, "Stat", name, fi)
			}
			if r, err := fx.drv.Open(ctx, name, 0); err == nil {
				b, _ := io.ReadAll(io.LimitReader(r, 64))
				if fl, ok := r.(*os.File); ok {
					if fi, err := fl.Stat(); err == nil {
						fx.inside(t, "Open", name, fi)
					}
				}
				r.Close()
				if string(b) == outsideMark {
					t.Fatalf("Open %q read a file outside the root", name)
				}
			}
			if infos, err := fx.drv.ReadDir(ctx, name); err == nil {
				for _, fi := range infos {
					if fi.Name() == "secret" {
						t.Fatalf("ReadDir %q listed the folder outside the root", name)
					}
				}
			}
		}
	})
}
