package ftp

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/storage"
)

func (s *session) handleCWD(arg string) {
	p := s.resolve(arg)
	fi, err := s.acct.FS.Stat(s.ctx, p)
	if err == nil && !fi.IsDir() {
		err = storage.ErrNotDir
	}
	if err != nil {
		s.replyErr(err)
		return
	}
	s.cwd = p
	s.reply(250, "Directory successfully changed")
}

func (s *session) handleCDUP(arg string) { s.handleCWD("..") }

func (s *session) handlePWD(arg string) {
	s.reply(257, quotePath(s.cwd)+" is the current directory")
}

func (s *session) handleMKD(arg string) {
	if !s.allowed(PermMkdir) {
		return
	}
	p := s.resolve(arg)
	if err := s.acct.FS.Mkdir(s.ctx, p); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(257, quotePath(p)+" created")
}

func (s *session) handleRMD(arg string) {
	if !s.allowed(PermDelete) {
		return
	}
	p := s.resolve(arg)
	if p == "/" {
		s.reply(550, "Permission denied")
		return
	}
	if err := s.acct.FS.RemoveDir(s.ctx, p); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(250, "Directory removed")
}

func (s *session) handleDELE(arg string) {
	if !s.allowed(PermDelete) {
		return
	}
	if err := s.acct.FS.Remove(s.ctx, s.resolve(arg)); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(250, "File deleted")
}

// handleRNFR: logged in -> waiting for RNTO.
func (s *session) handleRNFR(arg string) {
	if !s.allowed(PermRename) {
		return
	}
	p := s.resolve(arg)
	if _, err := s.acct.FS.Stat(s.ctx, p); err != nil {
		s.replyErr(err)
		return
	}
	s.renameFrom = p
	s.reply(350, "Ready for RNTO")
}

// handleRNTO: waiting for RNTO -> logged in.
func (s *session) handleRNTO(arg string) {
	from := s.renameFrom
	s.renameFrom = ""
	if from == "" {
		s.reply(503, "RNFR required first")
		return
	}
	if !s.allowed(PermRename) {
		return
	}
	to := s.resolve(arg)
	if from == "/" || to == "/" {
		s.reply(553, "File name not allowed")
		return
	}
	if err := s.acct.FS.Rename(s.ctx, from, to); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(250, "Rename successful")
}

func (s *session) statFile(arg string) (fs.FileInfo, bool) {
	if !s.allowed(PermList) {
		return nil, false
	}
	fi, err := s.acct.FS.Stat(s.ctx, s.resolve(arg))
	if err == nil && fi.IsDir() {
		err = storage.ErrIsDir
	}
	if err != nil {
		s.replyErr(err)
		return nil, false
	}
	return fi, true
}

// handleSIZE: RFC 3659 4. The size is that of the transfer in the current
// TYPE, so in ASCII mode the file is read to count the added CRs; that read
// runs as a job (startJob), as HASH's does.
func (s *session) handleSIZE(arg string) {
	fi, ok := s.statFile(arg)
	if !ok {
		return
	}
	if !s.asciiMode {
		s.reply(213, strconv.FormatInt(fi.Size(), 10))
		return
	}
	p, fsys := s.resolve(arg), s.acct.FS
	s.startJob("SIZE", p, func(ctx context.Context, progress func(int64)) (string, error) {
		f, err := fsys.Open(ctx, p, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		size, err := io.CopyBuffer(io.Discard, newASCIIEncoder(&jobReader{ctx: ctx, r: f, progress: progress}), make([]byte, jobBuffer))
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(size, 10), nil
	})
}

// handleMDTM: RFC 3659 3, modification time in UTC.
func (s *session) handleMDTM(arg string) {
	fi, ok := s.statFile(arg)
	if !ok {
		return
	}
	s.reply(213, fi.ModTime().UTC().Format("20060102150405"))
}

// handleMFMT: draft-somers-ftp-mfxx, "MFMT YYYYMMDDHHMMSS path".
func (s *session) handleMFMT(arg string) {
	t, name, err := parseMFMT(arg)
	if errors.Is(err, errMFMTSyntax) {
		s.reply(501, "Syntax error: MFMT YYYYMMDDHHMMSS path")
		return
	}
	if err != nil {
		s.reply(501, "Syntax error in time: want YYYYMMDDHHMMSS")
		return
	}
	if !s.allowed(PermWrite) {
		return
	}
	p := s.resolve(name)
	if err := s.acct.FS.Chtimes(s.ctx, p, t); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(213, "Modify="+t.Format("20060102150405")+"; "+p)
}

var errMFMTSyntax = errors.New("want YYYYMMDDHHMMSS path")

// parseMFMT splits "MFMT YYYYMMDDHHMMSS path": the time, and the path as
// sent (it may contain spaces).
func parseMFMT(arg string) (time.Time, string, error) {
	ts, name, ok := strings.Cut(arg, " ")
	if !ok || name == "" {
		return time.Time{}, "", errMFMTSyntax
	}
	t, err := parseMDTMTime(ts)
	if err != nil {
		return time.Time{}, "", err
	}
	return t, name, nil
}

// parseMDTMTime parses an RFC 3659 time-val, with optional fraction.
func parseMDTMTime(v string) (time.Time, error) {
	whole, frac, _ := strings.Cut(v, ".")
	if len(whole) != 14 {
		return time.Time{}, fmt.Errorf("time %q: want 14 digits", v)
	}
	t, err := time.ParseInLocation("20060102150405", whole, time.UTC)
	if err != nil {
		return time.Time{}, err
	}
	if frac != "" {
		n, err := strconv.ParseUint(frac, 10, 32)
		if err != nil || len(frac) > 9 {
			return time.Time{}, fmt.Errorf("time %q: bad fraction", v)
		}
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		t = t.Add(time.Duration(n))
	}
	return t, nil
}

// siteCommand is one row of the SITE table; needs works as in the command
// table (a SITE command the storage cannot do answers 502).
type siteCommand struct {
	fn    func(s *session, arg string)
	needs storage.Capabilities
	help  string
}

var siteCommands map[string]siteCommand

func init() {
	siteCommands = map[string]siteCommand{
		"CHMOD": {fn: (*session).siteCHMOD, needs: storage.CapChmod, help: "CHMOD <octal mode> <path>"},
		"HELP":  {fn: (*session).siteHELP, help: "HELP"},
	}
}

// handleSITE runs a SITE command of the table.
func (s *session) handleSITE(arg string) {
	sub, rest, _ := strings.Cut(arg, " ")
	c, ok := siteCommands[strings.ToUpper(sub)]
	if !ok {
		s.reply(504, "Unknown SITE command; try SITE HELP")
		return
	}
	if !s.capabilities().Has(c.needs) {
		s.replyErr(storage.Unsupported("site", c.help))
		return
	}
	c.fn(s, rest)
}

// siteHELP lists the SITE commands this session's storage can do.
func (s *session) siteHELP(string) {
	var b strings.Builder
	b.WriteString("SITE commands:\n")
	names := make([]string, 0, len(siteCommands))
	for name := range siteCommands {
		names = append(names, name)
	}
	sort.Strings(names)
	caps := s.capabilities()
	for _, name := range names {
		if c := siteCommands[name]; caps.Has(c.needs) {
			b.WriteString(c.help + "\n")
		}
	}
	b.WriteString("End")
	s.reply(214, b.String())
}

func (s *session) siteCHMOD(rest string) {
	modeStr, name, ok := strings.Cut(strings.TrimLeft(rest, " "), " ")
	mode, err := strconv.ParseUint(modeStr, 8, 32)
	if !ok || name == "" || err != nil || mode > 0o777 {
		s.reply(501, "Syntax error: SITE CHMOD <octal mode 000-777> <path>")
		return
	}
	if !s.allowed(PermWrite) {
		return
	}
	if err := s.acct.FS.Chmod(s.ctx, s.resolve(name), fs.FileMode(mode)); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(200, "SITE CHMOD command ok")
}

// Hash algorithms of draft-bryan-ftpext-hash, in FEAT order.
var hashAlgos = []struct {
	name string
	new  func() hash.Hash
}{
	{"SHA-256", sha256.New}, {"SHA-1", sha1.New}, {"MD5", md5.New},
}

// handleHASH: draft-bryan-ftpext-hash, "213 ALGO START-END HEX path" where
// END is the file size (the range hashed is START to END). Hashing reads the
// whole file, so it runs as a job (startJob): ABOR and STAT are heard
// meanwhile, and a read that moves nothing for the data timeout ends it.
func (s *session) handleHASH(arg string) {
	if !s.allowed(PermRead) {
		return
	}
	p := s.resolve(arg)
	fi, err := s.acct.FS.Stat(s.ctx, p)
	if err == nil && fi.IsDir() {
		err = storage.ErrIsDir
	}
	if err != nil {
		s.replyErr(err)
		return
	}
	var h hash.Hash
	for _, a := range hashAlgos {
		if a.name == s.hashAlgo {
			h = a.new()
		}
	}
	algo, fsys := s.hashAlgo, s.acct.FS
	s.startJob("HASH", p, func(ctx context.Context, progress func(int64)) (string, error) {
		f, err := fsys.Open(ctx, p, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		n, err := io.CopyBuffer(h, &jobReader{ctx: ctx, r: f, progress: progress}, make([]byte, jobBuffer))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s 0-%d %s %s", algo, n, hex.EncodeToString(h.Sum(nil)), p), nil
	})
}
