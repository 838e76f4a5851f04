package auth

// Editing a users file in place. BurntSushi/toml cannot write comments back,
// so edits work on the text: scanTOML finds the statements and only the
// lines concerned change; comments, order and formatting survive.
//
// Each edit checks the would-be file with the loader before writing it, and
// writes atomically (a temporary file in the same folder, then a rename): a
// failed edit leaves the file byte for byte as it was, and a server reading
// the file sees the old or the new one, never half of one.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// newUsersFileMode is the mode of a users file AddUser creates: it holds
// password hashes, which are for the server's eyes only.
const newUsersFileMode = 0o600

// AddUser appends a [users.NAME] table for r to the users file at path, or
// creates the file. r.Password must be a hash (see HashPassword); r.Home is
// written as given, so a relative home is relative to the file's folder; a
// zero r.Perm means all permissions. Line is ignored.
func AddUser(path string, r UserRecord) error {
	if err := CheckUserName(r.Name); err != nil {
		return fmt.Errorf("%s: add %q: %w", path, r.Name, err)
	}
	if err := CheckHash(r.Password); err != nil {
		return fmt.Errorf("%s: add %q: %w", path, r.Name, err)
	}
	if r.Home == "" {
		return fmt.Errorf("%s: add %q: home is required", path, r.Name)
	}
	return editUsersFile(path, true, func(text string, f *UsersFile, nl string) (string, error) {
		if f.Users[r.Name] != nil {
			return "", fmt.Errorf("%s:%d: user %q already exists", path, f.Users[r.Name].Line, r.Name)
		}
		var b strings.Builder
		b.WriteString(text)
		if text != "" && !strings.HasSuffix(text, "\n") {
			b.WriteString(nl)
		}
		if strings.TrimSpace(text) != "" && !strings.HasSuffix(text, "\n"+nl) && !strings.HasSuffix(text, "\n\n") {
			b.WriteString(nl)
		}
		b.WriteString(formatUserBlock(r, nl))
		return b.String(), nil
	}, func(before, after *UsersFile) error {
		if a := after.Users[r.Name]; a == nil || a.Password != r.Password || len(after.Users) != len(before.Users)+1 {
			return errors.New("the added user did not come out as written")
		}
		return nil
	})
}

// formatUserBlock writes r as a [users.NAME] table.
func formatUserBlock(r UserRecord, nl string) string {
	perm := r.Perm
	if perm == 0 {
		perm = ftp.PermAll
	}
	var b strings.Builder
	line := func(k, v string) { b.WriteString(k + " = " + v + nl) }
	b.WriteString("[" + formatKey([]string{"users", r.Name}) + "]" + nl)
	line("password", tomlString(r.Password))
	line("home", tomlString(r.Home))
	line("perms", tomlString(perm.String()))
	if r.MaxSessions != 0 {
		line("max-sessions", strconv.Itoa(r.MaxSessions))
	}
	if r.UploadRate != 0 {
		line("upload-rate", rateLiteral(r.UploadRate))
	}
	if r.DownloadRate != 0 {
		line("download-rate", rateLiteral(r.DownloadRate))
	}
	if r.Disabled {
		line("disabled", "true")
	}
	return b.String()
}

// rateLiteral writes "10MiB" where a binary unit divides n, else n.
func rateLiteral(n int64) string {
	s := FormatRate(n)
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return s
	}
	return tomlString(s)
}

// SetPassword sets the password hash of user name, replacing the value of
// its password key or adding one. hash must be in a format VerifyPassword
// accepts: plain text is refused.
func SetPassword(path, name, hash string) error {
	if err := CheckHash(hash); err != nil {
		return fmt.Errorf("%s: set password of %q: %w", path, name, err)
	}
	return SetUserField(path, name, "password", hash)
}

// SetUserField sets key (one of the keys of a user's table, such as
// "disabled" or "max-sessions") of user name to value: a string, bool, int,
// int64, []string or ftp.Perm. The value in the file is replaced where the
// key is written, keeping the comment after it; otherwise a line is added
// after the user's last key.
func SetUserField(path, name, key string, value any) error {
	if _, ok := userKeys[key]; !ok {
		return fmt.Errorf("%s: set %s: unknown key (want %s)", path, key, strings.Join(userKeyNames, ", "))
	}
	val, err := tomlValue(value)
	if err != nil {
		return fmt.Errorf("%s: set %s: %w", path, key, err)
	}
	user := []string{"users", name}
	want := append(slices.Clip(user), key)
	return editUsersFile(path, false, func(text string, f *UsersFile, nl string) (string, error) {
		if f.Users[name] == nil {
			return "", fmt.Errorf("%s: no user %q", path, name)
		}
		stmts, err := scanTOML(text)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		header, keys, inline := userStmts(stmts, name)
		if inline != nil {
			return "", fmt.Errorf("%s:%d: %s is an inline table; edit it by hand", path, inline.line, formatKey(user))
		}
		for _, s := range keys {
			if slices.Equal(s.path, want) {
				return text[:s.valStart] + val + text[s.valEnd:], nil
			}
		}
		// Not written yet: a new line after the user's last key, in the same
		// dotted form and indentation, or right after its header.
		at, rel, indent := 0, []string{key}, ""
		switch {
		case len(keys) > 0:
			last := keys[len(keys)-1]
			if len(last.table) > len(user) || !slices.Equal(last.table, user[:len(last.table)]) {
				return "", fmt.Errorf("%s:%d: cannot tell where to add %s; edit it by hand", path, last.line, formatKey(want))
			}
			at, rel = last.end, want[len(last.table):]
			rest := text[last.start:]
			indent = rest[:len(rest)-len(strings.TrimLeft(rest, " \t"))]
		case header != nil:
			at = header.end
		default:
			return "", fmt.Errorf("%s: cannot tell where %s is written; edit it by hand", path, formatKey(user))
		}
		ins := indent + formatKey(rel) + " = " + val + nl
		if at == len(text) && text != "" && !strings.HasSuffix(text, "\n") {
			ins = nl + ins
		}
		return text[:at] + ins + text[at:], nil
	}, func(before, after *UsersFile) error {
		if after.Users[name] == nil || len(after.Users) != len(before.Users) {
			return errors.New("the users came out different")
		}
		return nil
	})
}

// tomlValue writes v as a TOML value.
func tomlValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return tomlString(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case ftp.Perm:
		return tomlString(v.String()), nil
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = tomlString(s)
		}
		return "[" + strings.Join(q, ", ") + "]", nil
	}
	return "", fmt.Errorf("cannot write a %T", v)
}

// userStmts returns the statements that define user name: its [users.NAME]
// header, its keys (in file order), or the key whose value is the whole user
// as an inline table.
func userStmts(stmts []tomlStmt, name string) (header *tomlStmt, keys []tomlStmt, inline *tomlStmt) {
	user := []string{"users", name}
	for i := range stmts {
		s := &stmts[i]
		switch {
		case s.header && slices.Equal(s.path, user):
			header = s
		case !s.header && slices.Equal(s.path, user):
			inline = s
		case !s.header && len(s.path) > len(user) && slices.Equal(s.path[:len(user)], user):
			keys = append(keys, *s)
		}
	}
	return header, keys, inline
}

// DeleteUser removes user name's [users.NAME] table: from its header to the
// next header, together with the comment lines directly above its header
// (no blank line between), which are taken to describe it. Comment lines
// directly above the next header stay with that header, and so does a
// comment block that opens the file.
func DeleteUser(path, name string) error {
	return editUsersFile(path, false, func(text string, f *UsersFile, nl string) (string, error) {
		if f.Users[name] == nil {
			return "", fmt.Errorf("%s: no user %q", path, name)
		}
		stmts, err := scanTOML(text)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		hi := slices.IndexFunc(stmts, func(s tomlStmt) bool { return s.header && slices.Equal(s.path, []string{"users", name}) })
		if hi < 0 {
			return "", fmt.Errorf("%s:%d: %s is not written as a [%[3]s] table; edit it by hand", path, f.Users[name].Line, formatKey([]string{"users", name}))
		}
		lines := strings.SplitAfter(text, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		isComment := func(n int) bool { return strings.HasPrefix(strings.TrimSpace(lines[n-1]), "#") }
		isBlank := func(n int) bool { return strings.TrimSpace(lines[n-1]) == "" }

		prevEnd := 0 // last line of the statement before the header
		if hi > 0 {
			prevEnd = stmts[hi-1].endLine
		}
		from := stmts[hi].line
		for from-1 > prevEnd && isComment(from-1) {
			from--
		}
		if from == 1 {
			// A comment block opening the file is the file's, not the user's.
			from = stmts[hi].line
		}
		to := len(lines) // last line removed
		if ni := slices.IndexFunc(stmts[hi+1:], func(s tomlStmt) bool { return s.header }); ni >= 0 {
			next := stmts[hi+1+ni]
			lastEnd := stmts[hi+ni].endLine
			to = next.line - 1
			for to > lastEnd && isComment(to) {
				to--
			}
		} else {
			for from-1 > prevEnd && isBlank(from-1) {
				from--
			}
		}
		offset := func(n int) int { // byte offset of line n (line 1: after a BOM)
			if n == 1 {
				return bomLen(text)
			}
			o := 0
			for _, l := range lines[:n-1] {
				o += len(l)
			}
			return o
		}
		end := len(text)
		if to < len(lines) {
			end = offset(to + 1)
		}
		return text[:offset(from)] + text[end:], nil
	}, func(before, after *UsersFile) error {
		if after.Users[name] != nil || len(after.Users) != len(before.Users)-1 {
			return errors.New("more than the user would be removed")
		}
		return nil
	})
}

// editUsersFile runs edit on the text of the users file at path (an empty
// text if it is missing and create is set), checks the result with the
// loader and with check, and writes it atomically. nl is the file's line
// ending.
func editUsersFile(path string, create bool, edit func(text string, f *UsersFile, nl string) (string, error), check func(before, after *UsersFile) error) error {
	// Edit the file a symlink points to, rather than replacing the link.
	target := path
	if t, err := filepath.EvalSymlinks(path); err == nil {
		target = t
	}
	exists := true
	mode := fs.FileMode(newUsersFileMode)
	data, err := readUsersFile(target)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		exists = false
	case err != nil:
		return err
	default:
		fi, err := os.Stat(target)
		if err != nil {
			return err
		}
		mode = fi.Mode().Perm()
	}
	before, err := parseUsersFile(path, data)
	if err != nil {
		return err
	}
	text := string(data)
	nl := "\n"
	if strings.Contains(text, "\r\n") {
		nl = "\r\n"
	}
	out, err := edit(text, before, nl)
	if err != nil {
		return err
	}
	after, err := parseUsersFile(path, []byte(out))
	if err != nil {
		return fmt.Errorf("%s left unchanged: the edit would not load: %w", path, err)
	}
	if err := check(before, after); err != nil {
		return fmt.Errorf("%s left unchanged: %w", path, err)
	}
	// Another edit may have written the file since it was read: that one
	// would be lost. (A small window remains; edits are rare and by hand.)
	now, err := os.ReadFile(target)
	if exists && (err != nil || !bytes.Equal(now, data)) || !exists && err == nil {
		return fmt.Errorf("%s left unchanged: it changed while being edited; try again", path)
	}
	return writeFileAtomic(target, []byte(out), mode)
}

// writeFileAtomic replaces path with data: a temporary file in the same
// folder (so the rename cannot cross file systems), synced, given mode, then
// renamed over path.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable. Not possible on every system (Windows
	// cannot sync a folder); the file's content is already synced.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
