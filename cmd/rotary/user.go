package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/ftp"
)

// Where rotary user talks; tests replace them.
var (
	userStdin  io.Reader = os.Stdin
	userStdout io.Writer = os.Stdout
	userStderr io.Writer = os.Stderr
)

const userUsage = `Usage:
  rotary user add NAME --file FILE --home DIR [--perms LIST] [--max-sessions N]
                       [--upload-rate RATE] [--download-rate RATE] [--password-stdin]
  rotary user passwd NAME --file FILE [--password-stdin]
  rotary user del NAME --file FILE
  rotary user list --file FILE

Edits the users file of rotary serve, keeping its comments and layout. The
password is asked twice on the terminal, without echo, or read from the
first line of standard input with --password-stdin; the file stores only its
argon2id hash. Flags may come before or after NAME. "rotary user add --help"
lists the flags of add.
`

// maxPasswordLen bounds a new password. PASS arrives on one control line,
// which the server limits to 4096 bytes; 1024 is plenty and still typeable.
const maxPasswordLen = 1024

// usageError is a mistake on the command line: exit status 2. The flag
// package has already printed its own (printed).
type usageError struct {
	error
	printed bool
}

func runUser(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(userStderr, userUsage)
		return 2
	}
	sub := args[0]
	var err error
	switch sub {
	case "add":
		err = userAdd(args[1:])
	case "passwd":
		err = userPasswd(args[1:])
	case "del":
		err = userDel(args[1:])
	case "list":
		err = userList(args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(userStdout, userUsage)
		return 0
	default:
		fmt.Fprintf(userStderr, "rotary user: unknown command %q\n\n%s", sub, userUsage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.printed {
			fmt.Fprintf(userStderr, "rotary user %s: %v\n", sub, err)
		}
		return 2
	default:
		fmt.Fprintf(userStderr, "rotary user %s: %v\n", sub, err)
		return 1
	}
}

// userFlags holds what every subcommand parses.
type userFlags struct {
	fs            *flag.FlagSet
	file          string
	passwordStdin bool
}

func newUserFlags(sub, synopsis string, password bool) *userFlags {
	u := &userFlags{fs: flag.NewFlagSet("rotary user "+sub, flag.ContinueOnError)}
	u.fs.SetOutput(userStderr)
	u.fs.StringVar(&u.file, "file", "", "the users `FILE` (required)")
	if password {
		u.fs.BoolVar(&u.passwordStdin, "password-stdin", false, "read the password from the first line of standard input instead of the terminal")
	}
	u.fs.Usage = func() {
		fmt.Fprintf(u.fs.Output(), "Usage: rotary user %s\n\nFlags:\n", synopsis)
		u.fs.PrintDefaults()
	}
	return u
}

// parse parses args, whose flags may come before or after the want
// positional arguments (Go's flag package stops at the first non-flag, so
// each positional argument is taken out and parsing resumes after it).
func (u *userFlags) parse(args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := u.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err, true}
		}
		rest := u.fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...) // after "--", all positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case u.file == "":
		return nil, usageError{error: errors.New("--file is required")}
	case len(pos) < want:
		return nil, usageError{error: errors.New("missing user NAME")}
	case len(pos) > want:
		return nil, usageError{error: fmt.Errorf("unexpected argument %q", pos[want])}
	}
	for _, name := range pos {
		if err := auth.CheckUserName(name); err != nil {
			return nil, usageError{error: fmt.Errorf("%q: %w", name, err)}
		}
	}
	return pos, nil
}

func userAdd(args []string) error {
	u := newUserFlags("add", "add NAME --file FILE --home DIR [flags]", true)
	home := u.fs.String("home", "", "the user's home `DIR` (required); relative to the current folder, written relative to FILE's folder when inside it")
	perms := u.fs.String("perms", "all", "permissions, a comma-separated `LIST` of list, read, write, delete, rename, mkdir, or all")
	maxSessions := u.fs.Int("max-sessions", 0, "at most `N` sessions at once (0 = unlimited)")
	upload := u.fs.String("upload-rate", "0", "upload `RATE` in bytes per second, such as 500K or 10MiB (0 = unlimited)")
	download := u.fs.String("download-rate", "0", "download `RATE` in bytes per second (0 = unlimited)")
	pos, err := u.parse(args, 1)
	if err != nil {
		return err
	}
	r := auth.UserRecord{Name: pos[0], MaxSessions: *maxSessions}
	if *home == "" {
		return usageError{error: errors.New("--home is required")}
	}
	if r.Home, err = homeForFile(u.file, *home); err != nil {
		return err
	}
	if r.Perm, err = ftp.ParsePerm(*perms); err != nil {
		return usageError{error: fmt.Errorf("--perms: %w", err)}
	} else if r.Perm == 0 {
		return usageError{error: errors.New("--perms is empty (leave it out for all permissions)")}
	}
	if r.MaxSessions < 0 {
		return usageError{error: errors.New("--max-sessions must not be negative")}
	}
	if r.UploadRate, err = auth.ParseRate(*upload); err != nil {
		return usageError{error: fmt.Errorf("--upload-rate: %w", err)}
	}
	if r.DownloadRate, err = auth.ParseRate(*download); err != nil {
		return usageError{error: fmt.Errorf("--download-rate: %w", err)}
	}
	// Refuse before asking for a password.
	if f, err := auth.LoadUsersFile(u.file); err == nil && f.Users[r.Name] != nil {
		return fmt.Errorf("%s:%d: user %q already exists", u.file, f.Users[r.Name].Line, r.Name)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if r.Password, err = newPasswordHash(r.Name, u.passwordStdin); err != nil {
		return err
	}
	if err := auth.AddUser(u.file, r); err != nil {
		return err
	}
	fmt.Fprintf(userStdout, "%s: added user %q\n", u.file, r.Name)
	return nil
}

func userPasswd(args []string) error {
	u := newUserFlags("passwd", "passwd NAME --file FILE [--password-stdin]", true)
	pos, err := u.parse(args, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	f, err := auth.LoadUsersFile(u.file)
	if err != nil {
		return err
	}
	if f.Users[name] == nil {
		return fmt.Errorf("%s: no user %q", u.file, name)
	}
	hash, err := newPasswordHash(name, u.passwordStdin)
	if err != nil {
		return err
	}
	if err := auth.SetPassword(u.file, name, hash); err != nil {
		return err
	}
	fmt.Fprintf(userStdout, "%s: changed the password of %q\n", u.file, name)
	return nil
}

func userDel(args []string) error {
	u := newUserFlags("del", "del NAME --file FILE", false)
	pos, err := u.parse(args, 1)
	if err != nil {
		return err
	}
	if err := auth.DeleteUser(u.file, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(userStdout, "%s: deleted user %q\n", u.file, pos[0])
	return nil
}

func userList(args []string) error {
	u := newUserFlags("list", "list --file FILE", false)
	if _, err := u.parse(args, 0); err != nil {
		return err
	}
	f, err := auth.LoadUsersFile(u.file)
	if err != nil {
		return err
	}
	if len(f.Users) == 0 {
		fmt.Fprintf(userStdout, "%s: no users\n", u.file)
		return nil
	}
	tw := tabwriter.NewWriter(userStdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOME\tPERMS\tMAX-SESSIONS\tUPLOAD\tDOWNLOAD\tSTATUS")
	for _, name := range f.Names() {
		r := f.Users[name]
		perms := r.Perm.String()
		if r.Perm == ftp.PermAll {
			perms = "all"
		}
		sessions := "unlimited"
		if r.MaxSessions > 0 {
			sessions = fmt.Sprint(r.MaxSessions)
		}
		var status []string
		if r.Disabled {
			status = append(status, "disabled")
		}
		if !r.HashOK() {
			status = append(status, "bad hash")
		}
		if len(status) == 0 {
			status = append(status, "ok")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, r.Home, perms, sessions,
			rateText(r.UploadRate), rateText(r.DownloadRate), strings.Join(status, ", "))
	}
	return tw.Flush()
}

func rateText(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return auth.FormatRate(n) + "/s"
}

// homeForFile turns --home into what the users file should say. A relative
// DIR on the command line means the current folder, as anywhere in a shell;
// in the file it means the file's folder. So DIR becomes absolute, and is
// written relative to the file's folder when it lies inside it, so that
// the two can move together.
func homeForFile(file, home string) (string, error) {
	if filepath.IsAbs(home) {
		return filepath.Clean(home), nil
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return "", fmt.Errorf("--home %q: %w", home, err)
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return "", fmt.Errorf("--file %q: %w", file, err)
	}
	if rel, err := filepath.Rel(dir, abs); err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel), nil
	}
	return abs, nil
}

// newPasswordHash reads a new password for user name, from the terminal or
// from the first line of standard input, and hashes it.
func newPasswordHash(name string, fromStdin bool) (string, error) {
	var pw string
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(userStdin, maxPasswordLen+2)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read password from standard input: %w", err)
		}
		if err == io.EOF && len(line) > maxPasswordLen {
			return "", fmt.Errorf("password longer than %d bytes", maxPasswordLen)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	} else {
		f, ok := userStdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", usageError{error: errors.New("standard input is not a terminal: give the password with --password-stdin")}
		}
		fd := int(f.Fd())
		fmt.Fprintf(userStderr, "New password for %s: ", name)
		first, err := term.ReadPassword(fd)
		fmt.Fprintln(userStderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprintf(userStderr, "Retype the password: ")
		second, err := term.ReadPassword(fd)
		fmt.Fprintln(userStderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(second) {
			return "", errors.New("the passwords do not match")
		}
		pw = string(first)
	}
	if err := checkNewPassword(pw); err != nil {
		return "", err
	}
	return auth.HashPassword(pw)
}

// checkNewPassword refuses passwords no FTP client could send: the server
// answers NUL bytes and invalid UTF-8 with 501, and a line ends at CR LF.
func checkNewPassword(pw string) error {
	switch {
	case pw == "":
		return errors.New("empty password refused")
	case len(pw) > maxPasswordLen:
		return fmt.Errorf("password longer than %d bytes", maxPasswordLen)
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8")
	case strings.ContainsAny(pw, "\x00\r\n"):
		return errors.New("password contains a NUL, CR or LF")
	}
	return nil
}
