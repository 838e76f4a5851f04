package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/ftp"
)

// runUserWith runs "rotary user ARGS" with stdin coming through a real pipe
// fed with input, and returns the exit status, stdout and stderr.
func runUserWith(t *testing.T, input string, args ...string) (int, string, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		io.WriteString(w, input)
		w.Close()
	}()
	defer r.Close()
	var stdout, stderr bytes.Buffer
	oldIn, oldOut, oldErr := userStdin, userStdout, userStderr
	userStdin, userStdout, userStderr = r, &stdout, &stderr
	defer func() { userStdin, userStdout, userStderr = oldIn, oldOut, oldErr }()
	code := runUser(args)
	return code, stdout.String(), stderr.String()
}

func TestRunUserEndToEnd(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.toml")
	t.Chdir(dir)

	// Flags after NAME, a relative --home (written relative to the file).
	code, out, errOut := runUserWith(t, "s3cret\n", "add", "alice", "--file", file, "--home", "ftp/alice",
		"--perms", "list,read", "--max-sessions", "3", "--upload-rate", "1MiB", "--download-rate", "500K", "--password-stdin")
	if code != 0 {
		t.Fatalf("add alice: exit %d, stderr %q", code, errOut)
	}
	if want := file + ": added user \"alice\"\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	// Flags before NAME, a password with CR LF, an absolute home.
	code, _, errOut = runUserWith(t, "hunter2\r\nignored\n", "add", "--file", file, "--password-stdin", "--home", filepath.Join(dir, "b"), "bob")
	if code != 0 {
		t.Fatalf("add bob: exit %d, stderr %q", code, errOut)
	}
	text, _ := os.ReadFile(file)
	if !strings.Contains(string(text), "home = \"ftp/alice\"") || strings.Contains(string(text), "s3cret") {
		t.Errorf("file:\n%s", text)
	}
	f, err := auth.LoadUsersFile(file)
	if err != nil {
		t.Fatal(err)
	}
	a, b := f.Users["alice"], f.Users["bob"]
	if a.Home != filepath.Join(dir, "ftp", "alice") || a.Perm != ftp.PermReadOnly || a.MaxSessions != 3 ||
		a.UploadRate != 1<<20 || a.DownloadRate != 500<<10 || b.Home != filepath.Join(dir, "b") || b.Perm != ftp.PermAll {
		t.Errorf("loaded alice %+v, bob %+v", *a, *b)
	}
	verify := func(name, pw string, want bool) {
		t.Helper()
		f, err := auth.LoadUsersFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := auth.VerifyPassword(f.Users[name].Password, pw); ok != want || err != nil {
			t.Errorf("VerifyPassword(%s, %q) = %v, %v; want %v", name, pw, ok, err, want)
		}
	}
	verify("alice", "s3cret", true)
	verify("bob", "hunter2", true)

	// A comment written by hand survives passwd and del.
	os.WriteFile(file, append([]byte("# by hand\n"), text...), 0o600)
	if code, out, errOut := runUserWith(t, "n3w", "passwd", "alice", "--password-stdin", "--file", file); code != 0 || out != file+": changed the password of \"alice\"\n" {
		t.Fatalf("passwd: exit %d, %q, %q", code, out, errOut)
	}
	verify("alice", "n3w", true)
	verify("alice", "s3cret", false)

	code, out, errOut = runUserWith(t, "", "list", "--file", file)
	homeA, homeB := filepath.Join(dir, "ftp", "alice"), filepath.Join(dir, "b")
	pad := func(s string, w int) string { return s + strings.Repeat(" ", w-len(s)) }
	w := len(homeA) + 2
	want := "NAME   " + pad("HOME", w) + "PERMS      MAX-SESSIONS  UPLOAD     DOWNLOAD   STATUS\n" +
		"alice  " + pad(homeA, w) + "list,read  3             1MiB/s     500KiB/s   ok\n" +
		"bob    " + pad(homeB, w) + "all        unlimited     unlimited  unlimited  ok\n"
	if code != 0 || out != want {
		t.Errorf("list: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errOut, out, want)
	}

	if code, out, errOut := runUserWith(t, "", "del", "bob", "--file", file); code != 0 || out != file+": deleted user \"bob\"\n" {
		t.Fatalf("del: exit %d, %q, %q", code, out, errOut)
	}
	text, _ = os.ReadFile(file)
	if !strings.HasPrefix(string(text), "# by hand\n[users.alice]\n") || strings.Contains(string(text), "bob") {
		t.Errorf("after del:\n%s", text)
	}
}

func TestRunUserListStatus(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.toml")
	os.WriteFile(file, []byte("[users.carol]\npassword = \"plain\"\nhome = \"/c\"\ndisabled = true\n[users.dan]\npassword = \"plain\"\nhome = \"/d\"\n"), 0o600)
	_, out, _ := runUserWith(t, "", "list", "--file", file)
	if !strings.Contains(out, "disabled, bad hash\n") || !strings.Contains(out, "  bad hash\n") {
		t.Errorf("list:\n%s", out)
	}
	empty := filepath.Join(t.TempDir(), "empty.toml")
	os.WriteFile(empty, []byte("# no one\n"), 0o600)
	if code, out, _ := runUserWith(t, "", "list", "--file", empty); code != 0 || out != empty+": no users\n" {
		t.Errorf("list empty: %d %q", code, out)
	}
}

func TestRunUserErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.toml")
	if code, _, errOut := runUserWith(t, "pw\n", "add", "alice", "--file", file, "--home", "/a", "--password-stdin"); code != 0 {
		t.Fatal(errOut)
	}
	missing := filepath.Join(dir, "missing.toml")
	tests := []struct {
		name   string
		input  string
		args   []string
		code   int
		stderr string // contained in stderr
	}{
		{"no command", "", nil, 2, "Usage:"},
		{"unknown command", "", []string{"rename"}, 2, `rotary user: unknown command "rename"`},
		{"no file", "pw\n", []string{"add", "bob", "--home", "/b", "--password-stdin"}, 2, "rotary user add: --file is required"},
		{"no name", "pw\n", []string{"add", "--file", file, "--home", "/b", "--password-stdin"}, 2, "rotary user add: missing user NAME"},
		{"two names", "pw\n", []string{"add", "bob", "carol", "--file", file, "--home", "/b", "--password-stdin"}, 2, `rotary user add: unexpected argument "carol"`},
		{"list with name", "", []string{"list", "bob", "--file", file}, 2, `rotary user list: unexpected argument "bob"`},
		{"bad name", "pw\n", []string{"add", "--file", file, "--home", "/b", "--password-stdin", "--", "bo b"}, 2, `rotary user add: "bo b": user name contains a space`},
		{"no home", "pw\n", []string{"add", "bob", "--file", file, "--password-stdin"}, 2, "rotary user add: --home is required"},
		{"bad perms", "pw\n", []string{"add", "bob", "--file", file, "--home", "/b", "--perms", "list,fly", "--password-stdin"}, 2, `rotary user add: --perms: unknown permission "fly"`},
		{"bad rate", "pw\n", []string{"add", "bob", "--file", file, "--home", "/b", "--upload-rate", "10Mb", "--password-stdin"}, 2, `rotary user add: --upload-rate: rate "10Mb": rates are in bytes`},
		{"bad max-sessions", "pw\n", []string{"add", "bob", "--file", file, "--home", "/b", "--max-sessions", "many", "--password-stdin"}, 2, `invalid value "many" for flag -max-sessions`},
		{"negative max-sessions", "pw\n", []string{"add", "bob", "--file", file, "--home", "/b", "--max-sessions", "-1", "--password-stdin"}, 2, `--max-sessions must not be negative`},
		{"unknown flag", "", []string{"del", "bob", "--file", file, "--force"}, 2, "flag provided but not defined: -force"},
		{"not a terminal", "pw\n", []string{"add", "bob", "--file", file, "--home", "/b"}, 2, "rotary user add: standard input is not a terminal: give the password with --password-stdin"},
		{"empty password", "\n", []string{"add", "bob", "--file", file, "--home", "/b", "--password-stdin"}, 1, "rotary user add: empty password refused"},
		{"no input", "", []string{"passwd", "alice", "--file", file, "--password-stdin"}, 1, "rotary user passwd: empty password refused"},
		{"long password", strings.Repeat("x", 1025), []string{"passwd", "alice", "--file", file, "--password-stdin"}, 1, "password longer than 1024 bytes"},
		{"NUL in password", "a\x00b\n", []string{"passwd", "alice", "--file", file, "--password-stdin"}, 1, "password contains a NUL"},
		{"invalid UTF-8", "a\xffb\n", []string{"passwd", "alice", "--file", file, "--password-stdin"}, 1, "not valid UTF-8"},
		{"add existing", "pw\n", []string{"add", "alice", "--file", file, "--home", "/b", "--password-stdin"}, 1, "rotary user add: " + file + `:1: user "alice" already exists`},
		{"passwd unknown", "pw\n", []string{"passwd", "bob", "--file", file, "--password-stdin"}, 1, "rotary user passwd: " + file + `: no user "bob"`},
		{"del unknown", "", []string{"del", "bob", "--file", file}, 1, "rotary user del: " + file + `: no user "bob"`},
		{"list missing file", "", []string{"list", "--file", missing}, 1, "rotary user list: open " + missing},
		{"passwd missing file", "pw\n", []string{"passwd", "alice", "--file", missing, "--password-stdin"}, 1, "rotary user passwd: open " + missing},
	}
	before, _ := os.ReadFile(file)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runUserWith(t, tt.input, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.stderr)
			}
			if strings.Count(errOut, "flag provided but not defined") > 1 {
				t.Errorf("error printed twice: %q", errOut)
			}
			if after, _ := os.ReadFile(file); !bytes.Equal(after, before) {
				t.Errorf("file changed:\n%s", after)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a failing command created a file")
	}
}

func TestRunUserHelp(t *testing.T) {
	if code, out, _ := runUserWith(t, "", "help"); code != 0 || !strings.Contains(out, "rotary user add NAME") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, _, errOut := runUserWith(t, "", "add", "--help"); code != 0 || !strings.Contains(errOut, "-password-stdin") {
		t.Errorf("add --help: %d %q", code, errOut)
	}
}

func TestHomeForFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "etc", "users.toml")
	for home, want := range map[string]string{
		"etc/alice":                      "alice",
		"etc":                            ".",
		"srv/bob":                        filepath.Join(dir, "srv", "bob"),
		filepath.Join(dir, "etc", "abs"): filepath.Join(dir, "etc", "abs"),
	} {
		if got, err := homeForFile(file, home); err != nil || got != want {
			t.Errorf("homeForFile(%q) = %q, %v; want %q", home, got, err, want)
		}
	}
}
