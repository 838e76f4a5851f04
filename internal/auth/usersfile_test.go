package auth

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// A cheap, valid argon2id hash (m=64 KiB, t=1) for users files in tests.
var testHash = argon2idPHC("pw", 64, 1, 1)

func writeUsers(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadUsersFile(t *testing.T) {
	path := writeUsers(t, `# Rotary users
[users.alice]
password = "`+testHash+`"   # argon2id
home = "/srv/ftp/alice"
perms = "list,read,write,delete,rename,mkdir"
max-sessions = 3
upload-rate = "1MiB"
download-rate = "10MiB"
disabled = false

# Bob reads only.
[users.bob]
password = '`+testHash+`'
home = "bob"
perms = ["list", "read"]
upload-rate = 0
download-rate = 500000

[users."j.doe"]
password = """
`+testHash+`"""
home = 'shared/j'
disabled = true

[users.carol]
password = "s3cret"  # plain text: loads, but carol cannot log in
home = "/srv/ftp/carol"
`)
	f, err := LoadUsersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	want := map[string]*UserRecord{
		"alice": {Name: "alice", Password: testHash, Home: filepath.Clean("/srv/ftp/alice"), HomeAsWritten: "/srv/ftp/alice", Perm: ftp.PermAll,
			MaxSessions: 3, UploadRate: 1 << 20, DownloadRate: 10 << 20, Line: 2},
		"bob": {Name: "bob", Password: testHash, Home: filepath.Join(dir, "bob"), HomeAsWritten: "bob", Perm: ftp.PermReadOnly,
			DownloadRate: 500000, Line: 12},
		"j.doe": {Name: "j.doe", Password: testHash, Home: filepath.Join(dir, "shared", "j"), HomeAsWritten: "shared/j", Perm: ftp.PermAll,
			Disabled: true, Line: 19},
		"carol": {Name: "carol", Password: "s3cret", Home: filepath.Clean("/srv/ftp/carol"), HomeAsWritten: "/srv/ftp/carol", Perm: ftp.PermAll, Line: 25},
	}
	if f.Path != path {
		t.Errorf("Path = %q, want %q", f.Path, path)
	}
	if !reflect.DeepEqual(f.Users, want) {
		for n, r := range f.Users {
			t.Logf("%s: %+v", n, *r)
		}
		t.Errorf("Users differ from %v", want)
	}
	if got := f.Names(); !reflect.DeepEqual(got, []string{"alice", "bob", "carol", "j.doe"}) {
		t.Errorf("Names = %q", got)
	}
	if got := f.BadHashes(); !reflect.DeepEqual(got, []string{"carol"}) {
		t.Errorf("BadHashes = %q, want [carol]", got)
	}
	if !f.Users["alice"].HashOK() || f.Users["carol"].HashOK() {
		t.Error("HashOK wrong")
	}
}

func TestLoadUsersFileEmpty(t *testing.T) {
	for _, text := range []string{"", "# nothing yet\n", "[users]\n"} {
		f, err := LoadUsersFile(writeUsers(t, text))
		if err != nil || len(f.Users) != 0 {
			t.Errorf("%q: %v, %v; want no users and no error", text, f, err)
		}
	}
}

func TestLoadUsersFileErrors(t *testing.T) {
	const ok = "[users.alice]\npassword = \"" + "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" + "\"\nhome = \"/a\"\n"
	tests := []struct{ name, text, want string }{
		{"syntax", "[users.alice\n", `:2: expected '.' or ']' to end table name, but got '\n' instead`},
		{"duplicate key", ok + "home = \"/b\"\n", `:4: Key 'users.alice.home' has already been defined.`},
		{"unknown perm", ok + "\n\nperms = \"list,fly\"\n", `:6: users.alice.perms: unknown permission "fly" (want list, read, write, delete, rename, mkdir or all)`},
		{"unknown perm in list", ok + "perms = [\n  \"list\",\n  \"fly\",\n]\n", `:4: users.alice.perms: unknown permission "fly" (want list, read, write, delete, rename, mkdir or all)`},
		{"perm not string", ok + "perms = [\"list\", 3]\n", `:4: users.alice.perms: want strings in the list, not an integer`},
		{"perm number", ok + "perms = 7\n", `:4: users.alice.perms: want a string or a list of strings, not an integer`},
		{"perms empty", ok + "perms = []\n", `:4: users.alice.perms: empty (leave perms out for all permissions)`},
		{"perms empty string", ok + "perms = \"\"\n", `:4: users.alice.perms: empty (leave perms out for all permissions)`},
		{"unknown key", ok + "colour = \"red\"\n", `:4: users.alice.colour: unknown key (want password, home, perms, max-sessions, upload-rate, download-rate, disabled)`},
		{"unknown dotted key", ok + "limits.rate = 3\n", `:4: users.alice.limits: unknown key (want password, home, perms, max-sessions, upload-rate, download-rate, disabled)`},
		{"unknown top key", "listen = \":21\"\n" + ok, `:1: listen: unknown key (a users file holds only [users.NAME] tables)`},
		{"unknown top table", ok + "[server]\nport = 21\n", `:4: server: unknown key (a users file holds only [users.NAME] tables)`},
		{"users not a table", "users = 3\n", `:1: users: want a table of users ([users.NAME]), not an integer`},
		{"users array of tables", "[[users]]\nname = \"x\"\n", `:1: users: want a table of users ([users.NAME]), not an array`},
		{"user not a table", "[users]\nalice = \"x\"\n", `:2: users.alice: want a table ([users.alice]), not a string`},
		{"missing home", "# c\n[users.alice]\npassword = \"x\"\n", `:2: users.alice: home is required`},
		{"missing password", "[users.alice]\nhome = \"/a\"\n", `:1: users.alice: password is required`},
		{"empty password", "[users.alice]\nhome = \"/a\"\npassword = \"\"\n", `:3: users.alice.password: empty: set a password hash with rotary user passwd`},
		{"home empty", "[users.alice]\npassword = \"x\"\nhome = \"\"\n", `:3: users.alice.home: empty`},
		{"home not string", "[users.alice]\npassword = \"x\"\nhome = 1\n", `:3: users.alice.home: want a string, not an integer`},
		{"password not string", "[users.alice]\npassword = 1234\nhome = \"/a\"\n", `:2: users.alice.password: want a string, not an integer`},
		{"max-sessions negative", ok + "max-sessions = -1\n", `:4: users.alice.max-sessions: -1 out of range (0 = unlimited)`},
		{"max-sessions string", ok + "max-sessions = \"3\"\n", `:4: users.alice.max-sessions: want an integer, not a string`},
		{"max-sessions float", ok + "max-sessions = 1.5\n", `:4: users.alice.max-sessions: want an integer, not a float`},
		{"upload-rate bits", ok + "upload-rate = \"10Mb\"\n", `:4: users.alice.upload-rate: rate "10Mb": rates are in bytes: write B, not b`},
		{"upload-rate negative", ok + "upload-rate = -5\n", `:4: users.alice.upload-rate: -5 is negative (0 = unlimited)`},
		{"download-rate unit", ok + "download-rate = \"3 parsecs\"\n", `:4: users.alice.download-rate: rate "3 parsecs": unknown unit "parsecs" (want K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB)`},
		{"download-rate bool", ok + "download-rate = true\n", `:4: users.alice.download-rate: want an integer or a string such as "10MiB", not a boolean`},
		{"disabled string", ok + "disabled = \"yes\"\n", `:4: users.alice.disabled: want true or false, not a string`},
		{"disabled date", ok + "disabled = 1979-05-27 07:32:00  # when\n", `:4: users.alice.disabled: want true or false, not a date or time`},
		{"name with space", "[users.\"bob smith\"]\npassword = \"x\"\nhome = \"/b\"\n", `:1: users."bob smith": user name contains a space or control character`},
		{"name with tab", "[users.\"bob\\tsmith\"]\npassword = \"x\"\nhome = \"/b\"\n", `:1: users."bob\tsmith": user name contains a space or control character`},
		{"name empty", "[users.\"\"]\npassword = \"x\"\nhome = \"/b\"\n", `:1: users."": user name is empty`},
		{"name too long", "[users." + strings.Repeat("a", 65) + "]\npassword = \"x\"\nhome = \"/b\"\n", `:1: users.` + strings.Repeat("a", 65) + `: user name is longer than 64 bytes`},
		{"after multi-line string", "[users.alice]\npassword = '''\nx\nperms = \"fly\"\n'''\nhome = \"/a\"\nperms = \"fly\"\n", `:7: users.alice.perms: unknown permission "fly" (want list, read, write, delete, rename, mkdir or all)`},
		{"dotted under users", "[users]\nalice.password = \"x\"\nalice.home = \"/a\"\nalice.perms = \"fly\"\n", `:4: users.alice.perms: unknown permission "fly" (want list, read, write, delete, rename, mkdir or all)`},
		{"inline table", "[users]\nalice = { password = \"x\", home = \"/a\", perms = \"fly\" }\n", `:2: users.alice.perms: unknown permission "fly" (want list, read, write, delete, rename, mkdir or all)`},
		{"crlf", "[users.alice]\r\npassword = \"x\"\r\nhome = \"/a\"\r\n\r\nperms = \"fly\"\r\n", `:5: users.alice.perms: unknown permission "fly" (want list, read, write, delete, rename, mkdir or all)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeUsers(t, tt.text)
			_, err := LoadUsersFile(path)
			if err == nil {
				t.Fatal("no error")
			}
			if got, want := err.Error(), path+tt.want; got != want {
				t.Errorf("error\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestLoadUsersFileManyErrors(t *testing.T) {
	path := writeUsers(t, "[users.bob]\nhome = \"/b\"\nperms = \"fly\"\n\n[users.alice]\npassword = \"x\"\nhome = \"/a\"\ncolour = 1\n")
	_, err := LoadUsersFile(path)
	want := path + ":1: users.bob: password is required\n" +
		path + ":3: users.bob.perms: unknown permission \"fly\" (want list, read, write, delete, rename, mkdir or all)\n" +
		path + ":8: users.alice.colour: unknown key (want password, home, perms, max-sessions, upload-rate, download-rate, disabled)"
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
	var fe *UsersFileError
	if !errors.As(err, &fe) || fe.Line != 1 || fe.Key != "users.bob" {
		t.Errorf("errors.As(UsersFileError) = %+v", fe)
	}
}

func TestLoadUsersFileMissing(t *testing.T) {
	_, err := LoadUsersFile(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("err = %v, want a not-exist error naming the file", err)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1024", 1024}, {"1B", 1}, {"1K", 1024}, {"1k", 1024}, {"1KB", 1000}, {"1KiB", 1024},
		{"2M", 2 << 20}, {"2MB", 2e6}, {"2MiB", 2 << 20}, {"1.5MiB", 1572864},
		{"10MiB/s", 10 << 20}, {" 2 G ", 2 << 30}, {"1GB", 1e9}, {"1TiB", 1 << 40}, {"1TB", 1e12},
		{"0.5K", 512}, {"9223372036854775807", 9223372036854775807},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", `rate "": want bytes per second, such as 500K or 10MiB`},
		{"fast", `rate "fast": want bytes per second, such as 500K or 10MiB`},
		{"-1", `rate "-1": want bytes per second, such as 500K or 10MiB`},
		{"1Mb", `rate "1Mb": rates are in bytes: write B, not b`},
		{"1 kb", `rate "1 kb": rates are in bytes: write B, not b`},
		{"1kib", `rate "1kib": rates are in bytes: write B, not b`},
		{"1X", `rate "1X": unknown unit "X" (want K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB)`},
		{"1Kbit", `rate "1Kbit": unknown unit "Kbit" (want K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB)`},
		{"1..5K", `rate "1..5K": not a number`},
		{"9223372036854775808", `rate "9223372036854775808": out of range`},
		{"9007199254740992K", `rate "9007199254740992K": out of range`},
		{"9007199254740992.0T", `rate "9007199254740992.0T": out of range`},
	}
	for _, tt := range bad {
		if got, err := ParseRate(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("ParseRate(%q) = %d, %v; want error %s", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "1", 1000: "1000", 1024: "1KiB", 1536: "1536",
		10 << 20: "10MiB", 3 << 30: "3GiB", 1 << 40: "1TiB", 1<<40 + 1<<20: "1048577MiB"} {
		if got := FormatRate(n); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", n, got, want)
		}
		if back, err := ParseRate(want); err != nil || back != n {
			t.Errorf("ParseRate(FormatRate(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestCheckUserName(t *testing.T) {
	for _, name := range []string{"alice", "j.doe", "user@example.com", "Ünïcödé", strings.Repeat("a", 64)} {
		if err := CheckUserName(name); err != nil {
			t.Errorf("CheckUserName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "a b", "a\tb", "a\x00b", "a\u00a0b", "a\x7fb", strings.Repeat("a", 65), "\xff"} {
		if err := CheckUserName(name); err == nil {
			t.Errorf("CheckUserName(%q) = nil", name)
		}
	}
}

// The scanner finds every header and key that the toml package decodes.
func TestScanTOML(t *testing.T) {
	text := "# top\n" +
		"a = 1\n" +
		"[ users . \"x.y\" ]  # c\n" +
		"password = \"\"\"\nmulti = line\n\"\"\"\"\"\n" +
		"'q k' = [\n  1, # one\n  [2, \"]\"],\n]\n" +
		"t = { a = 1, b = \"}\" }\r\n" +
		"d = 1979-05-27 07:32:00Z # date\n" +
		"[[arr]]\n" +
		"e.f = 'lit\\'\n"
	if _, err := toml.Decode(text, new(map[string]any)); err != nil {
		t.Fatal(err)
	}
	stmts, err := scanTOML(text)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		path    string
		line    int
		endLine int
		val     string
	}
	var gots []got
	for _, s := range stmts {
		gots = append(gots, got{strings.Join(s.path, "|"), s.line, s.endLine, text[s.valStart:s.valEnd]})
	}
	want := []got{
		{"a", 2, 2, "1"},
		{"users|x.y", 3, 3, "[ users . \"x.y\" ]"},
		{"users|x.y|password", 4, 6, "\"\"\"\nmulti = line\n\"\"\"\"\""},
		{"users|x.y|q k", 7, 10, "[\n  1, # one\n  [2, \"]\"],\n]"},
		{"users|x.y|t", 11, 11, "{ a = 1, b = \"}\" }"},
		{"users|x.y|d", 12, 12, "1979-05-27 07:32:00Z"},
		{"arr", 13, 13, "[[arr]]"},
		{"arr|e|f", 14, 14, "'lit\\'"},
	}
	if !reflect.DeepEqual(gots, want) {
		t.Errorf("scanTOML:\n got %+v\nwant %+v", gots, want)
	}
}

func FuzzParseUsersFile(f *testing.F) {
	f.Add("[users.alice]\npassword = \"x\"\nhome = \"/a\"\nperms = [\"list\"]\n")
	f.Add("[users]\nalice = { password = '''x''', home = \"a\" }\n")
	f.Add("a.'b'.\"c\" = \"\"\"\n\"\"\"\n[x]\ny = [1,\n2]\r\n")
	f.Add("\xff\xfe") // a UTF-16 byte order mark, which the toml package skips
	f.Fuzz(func(t *testing.T, text string) {
		uf, err := parseUsersFile("users.toml", []byte(text))
		// Every problem names the file, and one about a key its line (the
		// scanner follows whatever the toml package accepts).
		var problems []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			problems = j.Unwrap()
		} else if err != nil {
			problems = []error{err}
		}
		for _, p := range problems {
			var ue *UsersFileError
			if !errors.As(p, &ue) {
				if !strings.HasPrefix(p.Error(), "users.toml: ") {
					t.Fatalf("problem %q (%T) does not name users.toml", p, p)
				}
				continue
			}
			if ue.Path != "users.toml" || ue.Key != "" && ue.Line <= 0 {
				t.Fatalf("problem %q: path %q, line %d", p, ue.Path, ue.Line)
			}
		}
		if err == nil {
			for name, u := range uf.Users {
				if CheckUserName(name) != nil || u.Line <= 0 || u.Password == "" || u.Home == "" {
					t.Fatalf("user %q loaded as %+v", name, *u)
				}
			}
		}
		// Wherever the toml package accepts the text, the scanner can
		// follow it, so that errors and edits find their lines.
		if _, err := toml.Decode(text, new(map[string]any)); err == nil {
			if _, err := scanTOML(text); err != nil {
				t.Errorf("toml accepts %q, scanTOML: %v", text, err)
			}
		}
	})
}

// examples/users.toml loads, and its documented passwords are the ones.
func TestExampleUsersFile(t *testing.T) {
	f, err := LoadUsersFile(filepath.Join("..", "..", "examples", "users.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !reflect.DeepEqual(got, []string{"alice", "bob"}) {
		t.Fatalf("users %q", got)
	}
	for name, pw := range map[string]string{"alice": "alice-example-password", "bob": "bob-example-password"} {
		if ok, err := VerifyPassword(f.Users[name].Password, pw); !ok || err != nil {
			t.Errorf("%s: VerifyPassword = %v, %v", name, ok, err)
		}
	}
	if b := f.Users["bob"]; b.Perm != ftp.PermReadOnly || b.DownloadRate != 500<<10 || b.Disabled {
		t.Errorf("bob: %+v", *b)
	}
}
