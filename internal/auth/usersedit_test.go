package auth

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// A hand-written file: comments above, inside and after tables, a trailing
// comment on the password line, odd spacing.
const editBase = `# Users of ftp.example.com
# (top comment: stays)

# Alice runs the site.
[users.alice]
password = "HASH"   # set 2026-01-01
home   = "/srv/ftp/alice"
perms = ["list", "read", "write"]

# Bob reads.
# Really only reads.
[users.bob]
  password = "HASH"
  home = "/srv/ftp/bob"   # his own
  perms = "list,read"

# [users.carol] is gone; keep this note.

[users.dave]
password = "HASH"
home = "/srv/ftp/dave"
`

func editFixture(t *testing.T, text string) string {
	t.Helper()
	return writeUsers(t, strings.ReplaceAll(text, "HASH", testHash))
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), testHash, "HASH")
}

func TestAddUser(t *testing.T) {
	path := editFixture(t, editBase)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	h2 := argon2idPHC("pw2", 64, 1, 1)
	err := AddUser(path, UserRecord{Name: "j.doe", Password: h2, Home: "shared/j", Perm: ftp.PermReadOnly,
		MaxSessions: 2, UploadRate: 1 << 20, DownloadRate: 1000, Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	want := editBase + `
[users."j.doe"]
password = "` + h2 + `"
home = "shared/j"
perms = "list,read"
max-sessions = 2
upload-rate = "1MiB"
download-rate = 1000
disabled = true
`
	if got := readText(t, path); got != want {
		t.Errorf("file after AddUser:\n%s\nwant:\n%s", got, want)
	}
	f, err := LoadUsersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := f.Users["j.doe"]
	if r == nil || r.Home != filepath.Join(filepath.Dir(path), "shared", "j") || r.Perm != ftp.PermReadOnly ||
		r.MaxSessions != 2 || r.UploadRate != 1<<20 || r.DownloadRate != 1000 || !r.Disabled || r.Line != 23 {
		t.Errorf("loaded %+v", r)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the original 0640", fi.Mode().Perm())
	}
	// A zero Perm is all; no optional keys.
	if err := AddUser(path, UserRecord{Name: "eve", Password: h2, Home: "/e"}); err != nil {
		t.Fatal(err)
	}
	want += "\n[users.eve]\npassword = \"" + h2 + "\"\nhome = \"/e\"\nperms = \"list,read,write,delete,rename,mkdir\"\n"
	if got := readText(t, path); got != want {
		t.Errorf("file after AddUser eve:\n%s\nwant:\n%s", got, want)
	}
	assertNoTempFiles(t, path)
}

func TestAddUserCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.toml")
	if err := AddUser(path, UserRecord{Name: "alice", Password: testHash, Home: "/a"}); err != nil {
		t.Fatal(err)
	}
	want := "[users.alice]\npassword = \"HASH\"\nhome = \"/a\"\nperms = \"list,read,write,delete,rename,mkdir\"\n"
	if got := readText(t, path); got != want {
		t.Errorf("new file:\n%s\nwant:\n%s", got, want)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestAddUserNoFinalNewlineCRLF(t *testing.T) {
	path := editFixture(t, "# crlf\r\n[users.alice]\r\npassword = \"HASH\"\r\nhome = \"/a\"")
	if err := AddUser(path, UserRecord{Name: "bob", Password: testHash, Home: "/b", Perm: ftp.PermList}); err != nil {
		t.Fatal(err)
	}
	want := "# crlf\r\n[users.alice]\r\npassword = \"HASH\"\r\nhome = \"/a\"\r\n\r\n[users.bob]\r\npassword = \"HASH\"\r\nhome = \"/b\"\r\nperms = \"list\"\r\n"
	if got := readText(t, path); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestSetPassword(t *testing.T) {
	path := editFixture(t, editBase)
	h2 := argon2idPHC("new", 64, 1, 1)
	for _, name := range []string{"alice", "bob"} {
		if err := SetPassword(path, name, h2); err != nil {
			t.Fatal(err)
		}
	}
	want := strings.Replace(editBase, `password = "HASH"   # set`, `password = "`+h2+`"   # set`, 1)
	want = strings.Replace(want, `  password = "HASH"`, `  password = "`+h2+`"`, 1)
	if got := readText(t, path); got != want {
		t.Errorf("file after SetPassword:\n%s\nwant:\n%s", got, want)
	}
	f, err := LoadUsersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifyPassword(f.Users["bob"].Password, "new"); !ok {
		t.Error("bob's new password does not verify")
	}
	if ok, _ := VerifyPassword(f.Users["dave"].Password, "pw"); !ok {
		t.Error("dave's password changed")
	}
}

func TestSetUserField(t *testing.T) {
	path := editFixture(t, editBase)
	steps := []struct {
		name, key string
		value     any
	}{
		{"bob", "max-sessions", 4},       // added after bob's last key, indented like it
		{"bob", "home", "/srv/ftp/bob2"}, // replaced, comment kept
		{"alice", "perms", ftp.PermAll},  // an array replaced by a string
		{"dave", "disabled", true},       // added at the end of the file
		{"dave", "upload-rate", "2MiB"},  // again at the end
		{"alice", "download-rate", int64(0)},
	}
	for _, s := range steps {
		if err := SetUserField(path, s.name, s.key, s.value); err != nil {
			t.Fatalf("SetUserField(%s, %s): %v", s.name, s.key, err)
		}
	}
	want := `# Users of ftp.example.com
# (top comment: stays)

# Alice runs the site.
[users.alice]
password = "HASH"   # set 2026-01-01
home   = "/srv/ftp/alice"
perms = "list,read,write,delete,rename,mkdir"
download-rate = 0

# Bob reads.
# Really only reads.
[users.bob]
  password = "HASH"
  home = "/srv/ftp/bob2"   # his own
  perms = "list,read"
  max-sessions = 4

# [users.carol] is gone; keep this note.

[users.dave]
password = "HASH"
home = "/srv/ftp/dave"
disabled = true
upload-rate = "2MiB"
`
	if got := readText(t, path); got != want {
		t.Errorf("file after SetUserField:\n%s\nwant:\n%s", got, want)
	}
}

func TestSetUserFieldDotted(t *testing.T) {
	path := editFixture(t, "[users]\nalice.password = \"HASH\"\n  alice.home = \"/a\"\nbob.password = \"HASH\"\nbob.home = \"/b\"\n")
	if err := SetUserField(path, "alice", "disabled", true); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "bob", testHash); err != nil {
		t.Fatal(err)
	}
	want := "[users]\nalice.password = \"HASH\"\n  alice.home = \"/a\"\n  alice.disabled = true\nbob.password = \"HASH\"\nbob.home = \"/b\"\n"
	if got := readText(t, path); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDeleteUser(t *testing.T) {
	tests := []struct{ name, want string }{
		{"alice", `# Users of ftp.example.com
# (top comment: stays)

# Bob reads.
# Really only reads.
[users.bob]
  password = "HASH"
  home = "/srv/ftp/bob"   # his own
  perms = "list,read"

# [users.carol] is gone; keep this note.

[users.dave]
password = "HASH"
home = "/srv/ftp/dave"
`},
		{"bob", `# Users of ftp.example.com
# (top comment: stays)

# Alice runs the site.
[users.alice]
password = "HASH"   # set 2026-01-01
home   = "/srv/ftp/alice"
perms = ["list", "read", "write"]

[users.dave]
password = "HASH"
home = "/srv/ftp/dave"
`},
		{"dave", `# Users of ftp.example.com
# (top comment: stays)

# Alice runs the site.
[users.alice]
password = "HASH"   # set 2026-01-01
home   = "/srv/ftp/alice"
perms = ["list", "read", "write"]

# Bob reads.
# Really only reads.
[users.bob]
  password = "HASH"
  home = "/srv/ftp/bob"   # his own
  perms = "list,read"

# [users.carol] is gone; keep this note.
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := editFixture(t, editBase)
			if err := DeleteUser(path, tt.name); err != nil {
				t.Fatal(err)
			}
			if got := readText(t, path); got != tt.want {
				t.Errorf("after DeleteUser:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}

	// A comment block that opens the file stays, even right above a header.
	path := editFixture(t, "# file comment\n[users.alice]\npassword = \"HASH\"\nhome = \"/a\"\n")
	if err := DeleteUser(path, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, path); got != "# file comment\n" {
		t.Errorf("after deleting the only user: %q", got)
	}

	// A byte order mark stays.
	path = editFixture(t, "\xef\xbb\xbf[users.alice]\npassword = \"HASH\"\nhome = \"/a\"\n[users.bob]\npassword = \"HASH\"\nhome = \"/b\"\n")
	if err := DeleteUser(path, "alice"); err != nil {
		t.Fatal(err)
	}
	if got, want := readText(t, path), "\xef\xbb\xbf[users.bob]\npassword = \"HASH\"\nhome = \"/b\"\n"; got != want {
		t.Errorf("after deleting the first user: %q, want %q", got, want)
	}
}

// A failing edit leaves the file byte for byte as it was, and no temporary
// file behind.
func TestEditFailuresLeaveFile(t *testing.T) {
	inline := "[users]\nzed = { password = \"HASH\", home = \"/z\" }\n"
	tests := []struct {
		name string
		text string
		edit func(path string) error
		want string // in the error
	}{
		{"add existing", editBase, func(p string) error {
			return AddUser(p, UserRecord{Name: "bob", Password: testHash, Home: "/b"})
		}, `:12: user "bob" already exists`},
		{"add plain text", editBase, func(p string) error {
			return AddUser(p, UserRecord{Name: "eve", Password: "s3cret", Home: "/e"})
		}, "plain text is never accepted"},
		{"add bad name", editBase, func(p string) error {
			return AddUser(p, UserRecord{Name: "e ve", Password: testHash, Home: "/e"})
		}, "space"},
		{"add no home", editBase, func(p string) error {
			return AddUser(p, UserRecord{Name: "eve", Password: testHash})
		}, "home is required"},
		{"add would not load", editBase, func(p string) error {
			return AddUser(p, UserRecord{Name: "eve", Password: testHash, Home: "/e", MaxSessions: -1})
		}, "left unchanged: the edit would not load: " + `%s:27: users.eve.max-sessions: -1 out of range (0 = unlimited)`},
		{"add to broken file", editBase + "perms = \"fly\"\n", func(p string) error {
			return AddUser(p, UserRecord{Name: "eve", Password: testHash, Home: "/e"})
		}, `:22: users.dave.perms: unknown permission "fly"`},
		{"passwd plain text", editBase, func(p string) error { return SetPassword(p, "bob", "s3cret") }, "plain text is never accepted"},
		{"passwd no user", editBase, func(p string) error { return SetPassword(p, "zed", testHash) }, `no user "zed"`},
		{"passwd inline", inline, func(p string) error { return SetPassword(p, "zed", testHash) }, `:2: users.zed is an inline table; edit it by hand`},
		{"set bad perms", editBase, func(p string) error { return SetUserField(p, "bob", "perms", "list,fly") }, `left unchanged: the edit would not load: %s:15: users.bob.perms: unknown permission "fly"`},
		{"set unknown key", editBase, func(p string) error { return SetUserField(p, "bob", "colour", "red") }, "unknown key"},
		{"set bad type", editBase, func(p string) error { return SetUserField(p, "bob", "disabled", 1.5) }, "cannot write a float64"},
		{"set wrong type", editBase, func(p string) error { return SetUserField(p, "bob", "disabled", "yes") }, "want true or false, not a string"},
		{"del no user", editBase, func(p string) error { return DeleteUser(p, "zed") }, `no user "zed"`},
		{"del inline", inline, func(p string) error { return DeleteUser(p, "zed") }, `:2: users.zed is not written as a [users.zed] table; edit it by hand`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := editFixture(t, tt.text)
			before, _ := os.ReadFile(path)
			err := tt.edit(path)
			if err == nil {
				t.Fatal("no error")
			}
			want := strings.ReplaceAll(tt.want, "%s", path)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file and say %q", err, want)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(before) {
				t.Errorf("file changed:\n%s", after)
			}
			assertNoTempFiles(t, path)
		})
	}
}

func TestEditMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.toml")
	for _, err := range []error{SetPassword(path, "a", testHash), DeleteUser(path, "a"), SetUserField(path, "a", "disabled", true)} {
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want not exist", err)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("file created")
	}
}

func TestEditThroughSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	target := editFixture(t, editBase)
	link := filepath.Join(t.TempDir(), "link.toml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := DeleteUser(link, "dave"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi, err)
	}
	if strings.Contains(readText(t, target), "dave") {
		t.Error("dave still in the target")
	}
}

func assertNoTempFiles(t *testing.T, path string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
