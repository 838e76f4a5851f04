package auth

// The users file: TOML with one [users.NAME] table per account.
//
//	[users.alice]
//	password = "$argon2id$v=19$m=19456,t=2,p=1$..."  # a hash, never plain text
//	home = "/srv/ftp/alice"      # relative: to the users file's folder
//	perms = "list,read,write"    # or ["list", "read"]; default all
//	max-sessions = 3             # 0 = unlimited
//	upload-rate = "1MiB"         # bytes per second; 0 = unlimited
//	download-rate = "10MiB"
//	disabled = false
//
// BurntSushi/toml decodes the values but does not say where a key was
// written, so scanTOML finds the line of every header and key in the text:
// each error names the file, the line and the key.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// UserRecord is one account of a users file.
type UserRecord struct {
	Name string
	// Password is a hash (see VerifyPassword). One in an unknown format is
	// kept, so that HashOK can say so: that user cannot log in.
	Password string
	// Home is the folder served as the user's root. LoadUsersFile makes a
	// relative home relative to the users file's folder.
	Home string
	// HomeAsWritten is home as the file gives it, before it is made
	// relative to the file's folder: a storage that is not the local disk
	// reads it (S3: a prefix under the storage URL's).
	HomeAsWritten string
	Perm          ftp.Perm // ftp.PermAll unless the file says otherwise
	MaxSessions   int      // 0 = unlimited
	UploadRate    int64    // bytes per second, 0 = unlimited
	DownloadRate  int64    // bytes per second, 0 = unlimited
	Disabled      bool
	Line          int // where the user's table starts in the file
}

// HashOK reports whether Password is a hash in a format VerifyPassword
// accepts. CheckHash(r.Password) says what is wrong with one that is not.
func (r *UserRecord) HashOK() bool { return CheckHash(r.Password) == nil }

// UsersFile is a loaded users file.
type UsersFile struct {
	Path  string
	Users map[string]*UserRecord
}

// Names returns the user names, sorted.
func (f *UsersFile) Names() []string {
	names := make([]string, 0, len(f.Users))
	for n := range f.Users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// BadHashes returns the sorted names of the users whose password is not a
// hash in a known format. The spec wants them logged once, at load: they
// cannot log in.
func (f *UsersFile) BadHashes() []string {
	var names []string
	for _, n := range f.Names() {
		if !f.Users[n].HashOK() {
			names = append(names, n)
		}
	}
	return names
}

// UsersFileError is one problem in a users file, printed as
// "FILE:LINE: KEY: REASON" (without ":LINE" or "KEY:" where unknown).
type UsersFileError struct {
	Path   string
	Line   int
	Key    string // e.g. users.alice.perms
	Reason string
}

func (e *UsersFileError) Error() string {
	s := e.Path
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Reason
}

// maxUsersFileSize bounds what LoadUsersFile reads: about 20,000 users.
const maxUsersFileSize = 16 << 20

// maxUsersFileErrors is how many problems one load reports.
const maxUsersFileErrors = 20

// LoadUsersFile reads and checks a users file. All problems found are
// reported together, one per line, in file order.
func LoadUsersFile(path string) (*UsersFile, error) {
	data, err := readUsersFile(path)
	if err != nil {
		return nil, err
	}
	return parseUsersFile(path, data)
}

func readUsersFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUsersFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxUsersFileSize {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxUsersFileSize>>20)
	}
	return data, nil
}

// userKeys is every key a user's table may hold, with what it sets; dir is
// the users file's folder. Adding a setting is one entry here.
var userKeys = map[string]func(r *UserRecord, v any, dir string) error{
	"password": func(r *UserRecord, v any, _ string) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, not %s", tomlType(v))
		}
		if s == "" {
			// Nobody could log in with it; say so at load, not at each login.
			return errors.New("empty: set a password hash with rotary user passwd")
		}
		r.Password = s
		return nil
	},
	"home": func(r *UserRecord, v any, dir string) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, not %s", tomlType(v))
		}
		if s == "" {
			return errors.New("empty")
		}
		if strings.ContainsRune(s, 0) {
			return errors.New("contains a NUL byte")
		}
		r.Home, r.HomeAsWritten = resolveHome(dir, s), s
		return nil
	},
	"perms": func(r *UserRecord, v any, _ string) error {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case []any:
			list := make([]string, len(v))
			for i, e := range v {
				es, ok := e.(string)
				if !ok {
					return fmt.Errorf("want strings in the list, not %s", tomlType(e))
				}
				list[i] = es
			}
			s = strings.Join(list, ",")
		default:
			return fmt.Errorf("want a string or a list of strings, not %s", tomlType(v))
		}
		p, err := ftp.ParsePerm(s)
		if err != nil {
			return err
		}
		if p == 0 {
			return errors.New("empty (leave perms out for all permissions)")
		}
		r.Perm = p
		return nil
	},
	"max-sessions": func(r *UserRecord, v any, _ string) error {
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("want an integer, not %s", tomlType(v))
		}
		if n < 0 || n > math.MaxInt32 {
			return fmt.Errorf("%d out of range (0 = unlimited)", n)
		}
		r.MaxSessions = int(n)
		return nil
	},
	"upload-rate":   func(r *UserRecord, v any, _ string) (err error) { r.UploadRate, err = rateValue(v); return err },
	"download-rate": func(r *UserRecord, v any, _ string) (err error) { r.DownloadRate, err = rateValue(v); return err },
	"disabled": func(r *UserRecord, v any, _ string) error {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, not %s", tomlType(v))
		}
		r.Disabled = b
		return nil
	},
}

// userKeyNames lists userKeys in the order the docs and AddUser use.
var userKeyNames = []string{"password", "home", "perms", "max-sessions", "upload-rate", "download-rate", "disabled"}

func rateValue(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return 0, fmt.Errorf("%d is negative (0 = unlimited)", v)
		}
		return v, nil
	case string:
		return ParseRate(v)
	}
	return 0, fmt.Errorf("want an integer or a string such as \"10MiB\", not %s", tomlType(v))
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

// resolveHome makes a relative home relative to dir. A path that is rooted
// but has no volume ("/srv/ftp" on Windows) is left alone: it means the
// current drive, not a folder under dir.
func resolveHome(dir, home string) string {
	if filepath.IsAbs(home) || strings.HasPrefix(home, "/") || strings.HasPrefix(home, `\`) || filepath.VolumeName(home) != "" {
		return filepath.Clean(home)
	}
	return filepath.Join(dir, home)
}

// CheckUserName reports whether name may be a user's name: not empty, at
// most 64 bytes, without spaces or control characters (USER would not carry
// them, and they would garble logs).
func CheckUserName(name string) error {
	switch {
	case name == "":
		return errors.New("user name is empty")
	case len(name) > 64:
		return errors.New("user name is longer than 64 bytes")
	case !utf8.ValidString(name):
		return errors.New("user name is not valid UTF-8")
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return errors.New("user name contains a space or control character")
	}
	return nil
}

// parseUsersFile checks data as the users file at path. The editing
// functions use it on a would-be file before they write it.
func parseUsersFile(path string, data []byte) (*UsersFile, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &UsersFileError{Path: path, Line: pe.Position.Line, Reason: pe.Message}
		}
		return nil, &UsersFileError{Path: path, Reason: err.Error()}
	}
	dir := "."
	if abs, err := filepath.Abs(path); err == nil {
		dir = filepath.Dir(abs)
	}
	stmts, _ := scanTOML(string(data)) // on a scan failure, lines are best effort
	lines := newLineIndex(stmts)

	f := &UsersFile{Path: path, Users: map[string]*UserRecord{}}
	var errs []*UsersFileError
	fail := func(key []string, format string, a ...any) {
		errs = append(errs, &UsersFileError{Path: path, Line: lines.find(key), Key: formatKey(key), Reason: fmt.Sprintf(format, a...)})
	}
	for _, k := range sortedKeys(doc) {
		if k != "users" {
			fail([]string{k}, "unknown key (a users file holds only [users.NAME] tables)")
		}
	}
	users, ok := doc["users"].(map[string]any)
	if !ok && doc["users"] != nil {
		fail([]string{"users"}, "want a table of users ([users.NAME]), not %s", tomlType(doc["users"]))
	}
	for _, name := range sortedKeys(users) {
		key := []string{"users", name}
		if err := CheckUserName(name); err != nil {
			fail(key, "%v", err)
			continue
		}
		table, ok := users[name].(map[string]any)
		if !ok {
			fail(key, "want a table ([%s]), not %s", formatKey(key), tomlType(users[name]))
			continue
		}
		r := &UserRecord{Name: name, Perm: ftp.PermAll, Line: lines.find(key)}
		for _, k := range sortedKeys(table) {
			set, ok := userKeys[k]
			if !ok {
				fail(append(key, k), "unknown key (want %s)", strings.Join(userKeyNames, ", "))
				continue
			}
			if err := set(r, table[k], dir); err != nil {
				fail(append(key, k), "%v", err)
			}
		}
		for _, k := range []string{"password", "home"} {
			if _, ok := table[k]; !ok {
				fail(key, "%s is required", k)
			}
		}
		f.Users[name] = r
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *UsersFileError) int { return a.Line - b.Line })
		if len(errs) == 1 {
			return nil, errs[0]
		}
		var all []error
		for i, e := range errs {
			if i == maxUsersFileErrors {
				all = append(all, fmt.Errorf("%s: %d more problems", path, len(errs)-i))
				break
			}
			all = append(all, e)
		}
		return nil, errors.Join(all...)
	}
	return f, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// rateUnits maps ParseRate's units, upper-cased, to their multipliers. A
// bare prefix is binary, as in curl's --limit-rate and rsync's --bwlimit.
var rateUnits = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KIB": 1 << 10, "KB": 1e3,
	"M": 1 << 20, "MIB": 1 << 20, "MB": 1e6,
	"G": 1 << 30, "GIB": 1 << 30, "GB": 1e9,
	"T": 1 << 40, "TIB": 1 << 40, "TB": 1e12,
}

// ParseRate parses a transfer rate in bytes per second: a plain integer, or
// a number with a unit: K or KiB (1024), KB (1000), M, MiB, MB, G, GiB, GB,
// T, TiB, TB, optionally followed by "/s" ("1.5MiB/s"). Units ignore case,
// except that a final lower-case b (bits) is refused. 0 means unlimited.
func ParseRate(s string) (int64, error) {
	in := s
	s = strings.TrimSuffix(strings.TrimSpace(s), "/s")
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	num, unit := s[:end], strings.TrimSpace(s[end:])
	if num == "" {
		return 0, fmt.Errorf("rate %q: want bytes per second, such as 500K or 10MiB", in)
	}
	if strings.HasSuffix(unit, "b") {
		return 0, fmt.Errorf("rate %q: rates are in bytes: write B, not b", in)
	}
	mult, ok := rateUnits[strings.ToUpper(unit)]
	if !ok {
		return 0, fmt.Errorf("rate %q: unknown unit %q (want K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB)", in, unit)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("rate %q: out of range", in)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: not a number", in)
	}
	v := math.Round(f * float64(mult))
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("rate %q: out of range", in)
	}
	return int64(v), nil
}

// FormatRate writes a rate the way ParseRate reads it, in the largest binary
// unit that divides it ("10MiB"), or "0" for unlimited.
func FormatRate(n int64) string {
	units := []string{"TiB", "GiB", "MiB", "KiB"}
	for i, u := range units {
		m := int64(1) << (10 * (len(units) - i))
		if n != 0 && n%m == 0 {
			return strconv.FormatInt(n/m, 10) + u
		}
	}
	return strconv.FormatInt(n, 10)
}

// formatKey writes a key path as TOML would: users.alice.perms, with names
// quoted where they are not bare keys (users."j.doe").
func formatKey(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = tomlKey(p)
	}
	return strings.Join(parts, ".")
}

func tomlKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, c := range k {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return tomlString(k)
		}
	}
	return k
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlStmt is one statement of a TOML document, found by scanTOML: a table
// header or a key = value line. Offsets are bytes into the text.
type tomlStmt struct {
	header  bool     // [table] or [[table]]
	path    []string // header: the table; key: the table, then the dotted key
	table   []string // key: the table it belongs to (the last header)
	line    int      // 1-based line where it starts
	endLine int      // line where its value ends (multi-line strings, arrays)
	// For keys, the value; for headers, the header itself.
	valStart, valEnd int
	start            int // start of its first line
	end              int // just past the newline ending its last line (or the text)
}

// lineIndex finds the line of a key path among scanned statements.
type lineIndex struct {
	exact map[string]int // where a path is written itself
	first map[string]int // the first statement under a path
}

func newLineIndex(stmts []tomlStmt) lineIndex {
	l := lineIndex{exact: map[string]int{}, first: map[string]int{}}
	for _, s := range stmts {
		for n := 1; n <= len(s.path); n++ {
			k := strings.Join(s.path[:n], "\x00")
			if n == len(s.path) {
				if _, ok := l.exact[k]; !ok {
					l.exact[k] = s.line
				}
			} else if _, ok := l.first[k]; !ok {
				l.first[k] = s.line
			}
		}
	}
	return l
}

// find returns the line of path itself, or else of the first statement
// under it (a table defined only by its sub-tables), or else of its parent;
// 0 if nothing matches.
func (l lineIndex) find(path []string) int {
	for n := len(path); n > 0; n-- {
		k := strings.Join(path[:n], "\x00")
		if line, ok := l.exact[k]; ok {
			return line
		}
		if line, ok := l.first[k]; ok {
			return line
		}
	}
	return 0
}

// scanTOML finds the table headers and top-level key/value statements of a
// TOML document, with their lines and the byte spans of their values. It
// expects a document the toml package has already accepted and is lenient
// otherwise: it returns what it found before anything it cannot follow.
func scanTOML(text string) ([]tomlStmt, error) {
	sc := &tomlScanner{s: text, line: 1}
	sc.i = bomLen(text)
	var stmts []tomlStmt
	var table []string
	for {
		sc.skipBlank(true)
		if sc.i >= len(sc.s) {
			return stmts, nil
		}
		st := tomlStmt{line: sc.line, start: sc.lineStart()}
		if sc.s[sc.i] == '[' {
			st.header = true
			st.valStart = sc.i
			sc.i++
			array := sc.peek() == '['
			if array {
				sc.i++
			}
			path, err := sc.key()
			if err != nil {
				return stmts, err
			}
			closing := "]"
			if array {
				closing = "]]"
			}
			sc.skipBlank(false)
			if !strings.HasPrefix(sc.s[sc.i:], closing) {
				return stmts, sc.errorf("want %s", closing)
			}
			sc.i += len(closing)
			st.valEnd = sc.i
			st.path = path
			table = path
		} else {
			key, err := sc.key()
			if err != nil {
				return stmts, err
			}
			sc.skipBlank(false)
			if sc.peek() != '=' {
				return stmts, sc.errorf("want =")
			}
			sc.i++
			sc.skipBlank(false)
			st.valStart = sc.i
			if err := sc.value(); err != nil {
				return stmts, err
			}
			st.valEnd = sc.i
			st.table = table
			st.path = append(slices.Clip(table), key...)
		}
		st.endLine = sc.line
		sc.skipBlank(false)
		if sc.peek() == '#' {
			sc.skipComment()
		}
		switch {
		case sc.i >= len(sc.s):
		case sc.s[sc.i] == '\n':
			sc.i++
			sc.line++
		case strings.HasPrefix(sc.s[sc.i:], "\r\n"):
			sc.i += 2
			sc.line++
		default:
			return stmts, sc.errorf("want the end of the line")
		}
		st.end = sc.i
		stmts = append(stmts, st)
	}
}

// bomLen is the length of the byte order mark text starts with, which the
// toml package skips: UTF-8 or (leniently) UTF-16.
func bomLen(text string) int {
	for _, bom := range []string{"\xef\xbb\xbf", "\xff\xfe", "\xfe\xff"} {
		if strings.HasPrefix(text, bom) {
			return len(bom)
		}
	}
	return 0
}

type tomlScanner struct {
	s    string
	i    int
	line int
}

func (sc *tomlScanner) peek() byte {
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

func (sc *tomlScanner) errorf(format string, a ...any) error {
	return fmt.Errorf("line %d: %s", sc.line, fmt.Sprintf(format, a...))
}

func (sc *tomlScanner) lineStart() int {
	return strings.LastIndexByte(sc.s[:sc.i], '\n') + 1
}

// skipBlank skips spaces and tabs, and with newlines also line ends and
// comments.
func (sc *tomlScanner) skipBlank(newlines bool) {
	for sc.i < len(sc.s) {
		switch c := sc.s[sc.i]; {
		case c == ' ' || c == '\t':
			sc.i++
		case newlines && c == '\n':
			sc.i++
			sc.line++
		case newlines && c == '\r':
			sc.i++
		case newlines && c == '#':
			sc.skipComment()
		default:
			return
		}
	}
}

func (sc *tomlScanner) skipComment() {
	for sc.i < len(sc.s) && sc.s[sc.i] != '\n' {
		sc.i++
	}
}

// key reads a dotted key: bare or quoted parts separated by dots.
func (sc *tomlScanner) key() ([]string, error) {
	var path []string
	for {
		sc.skipBlank(false)
		start := sc.i
		switch sc.peek() {
		case '"', '\'':
			if err := sc.str(); err != nil {
				return nil, err
			}
			k, err := unquoteKey(sc.s[start:sc.i])
			if err != nil {
				return nil, sc.errorf("key %s: %v", sc.s[start:sc.i], err)
			}
			path = append(path, k)
		default:
			for sc.i < len(sc.s) && isBareKeyByte(sc.s[sc.i]) {
				sc.i++
			}
			if sc.i == start {
				return nil, sc.errorf("want a key")
			}
			path = append(path, sc.s[start:sc.i])
		}
		sc.skipBlank(false)
		if sc.peek() != '.' {
			return path, nil
		}
		sc.i++
	}
}

func isBareKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// unquoteKey decodes a quoted key; the toml package itself decodes escapes.
func unquoteKey(q string) (string, error) {
	if q[0] == '\'' || !strings.ContainsRune(q, '\\') {
		return q[1 : len(q)-1], nil
	}
	var v struct{ K string }
	if _, err := toml.Decode("K = "+q, &v); err != nil {
		return "", err
	}
	return v.K, nil
}

// str skips a string of any of TOML's four kinds, starting at its quote.
func (sc *tomlScanner) str() error {
	q := sc.s[sc.i]
	if strings.HasPrefix(sc.s[sc.i:], strings.Repeat(string(q), 3)) {
		sc.i += 3
		for sc.i < len(sc.s) {
			c := sc.s[sc.i]
			switch {
			case c == '\\' && q == '"':
				if sc.i+1 < len(sc.s) && sc.s[sc.i+1] == '\n' {
					sc.line++
				}
				sc.i += 2
			case c == '\n':
				sc.line++
				sc.i++
			case c == q && strings.HasPrefix(sc.s[sc.i:], strings.Repeat(string(q), 3)):
				// Up to two more quotes may end the content: """a""""" is a"".
				// The toml package takes a third after a backslash (the end
				// of a \\ escape): """\\"""""" is \""". Matching its quirk
				// keeps our line numbers on the lines it accepts.
				most := 5
				if q == '"' && sc.s[sc.i-1] == '\\' {
					most = 6
				}
				n := 3
				for n < most && sc.i+n < len(sc.s) && sc.s[sc.i+n] == q {
					n++
				}
				sc.i += n
				return nil
			default:
				sc.i++
			}
		}
		return sc.errorf("unterminated multi-line string")
	}
	sc.i++
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '\\' && q == '"':
			sc.i += 2
		case c == q:
			sc.i++
			return nil
		case c == '\n':
			return sc.errorf("unterminated string")
		default:
			sc.i++
		}
	}
	return sc.errorf("unterminated string")
}

// value skips a value: a string, an array or inline table (which may span
// lines), or a scalar up to a comment or the end of the line (a date may
// contain a space).
func (sc *tomlScanner) value() error {
	switch sc.peek() {
	case '"', '\'':
		return sc.str()
	case '[', '{':
		depth := 0
		for sc.i < len(sc.s) {
			switch c := sc.s[sc.i]; c {
			case '"', '\'':
				if err := sc.str(); err != nil {
					return err
				}
				continue
			case '#':
				sc.skipComment()
				continue
			case '\n':
				sc.line++
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					sc.i++
					return nil
				}
			}
			sc.i++
		}
		return sc.errorf("unterminated array or inline table")
	}
	start := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] != '\n' && sc.s[sc.i] != '#' {
		sc.i++
	}
	for sc.i > start && (sc.s[sc.i-1] == ' ' || sc.s[sc.i-1] == '\t' || sc.s[sc.i-1] == '\r') {
		sc.i--
	}
	if sc.i == start {
		return sc.errorf("want a value")
	}
	return nil
}
