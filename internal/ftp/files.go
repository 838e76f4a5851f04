package ftp

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/storage"
)

func (s *session) handleCWD(arg string) {
	p := s.resolve(arg)
	fi, err := s.acct.FS.Stat(p)
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
	if err := s.acct.FS.Mkdir(p); err != nil {
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
	if err := s.acct.FS.RemoveDir(p); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(250, "Directory removed")
}

func (s *session) handleDELE(arg string) {
	if !s.allowed(PermDelete) {
		return
	}
	if err := s.acct.FS.Remove(s.resolve(arg)); err != nil {
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
	if _, err := s.acct.FS.Stat(p); err != nil {
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
	if err := s.acct.FS.Rename(from, to); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(250, "Rename successful")
}

func (s *session) statFile(arg string) (fs.FileInfo, bool) {
	if !s.allowed(PermList) {
		return nil, false
	}
	fi, err := s.acct.FS.Stat(s.resolve(arg))
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
// TYPE, so in ASCII mode the file is read to count the added CRs.
func (s *session) handleSIZE(arg string) {
	fi, ok := s.statFile(arg)
	if !ok {
		return
	}
	size := fi.Size()
	if s.asciiMode {
		f, err := s.acct.FS.Open(s.resolve(arg), 0)
		if err != nil {
			s.replyErr(err)
			return
		}
		size, err = io.Copy(io.Discard, newASCIIEncoder(f))
		f.Close()
		if err != nil {
			s.replyErr(err)
			return
		}
	}
	s.reply(213, strconv.FormatInt(size, 10))
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
	ts, name, ok := strings.Cut(arg, " ")
	if !ok || name == "" {
		s.reply(501, "Syntax error: MFMT YYYYMMDDHHMMSS path")
		return
	}
	t, err := parseMDTMTime(ts)
	if err != nil {
		s.reply(501, "Syntax error in time: want YYYYMMDDHHMMSS")
		return
	}
	if !s.allowed(PermWrite) {
		return
	}
	p := s.resolve(name)
	if err := s.acct.FS.Chtimes(p, t); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(213, "Modify="+t.Format("20060102150405")+"; "+p)
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

// handleSITE: SITE CHMOD and SITE HELP.
func (s *session) handleSITE(arg string) {
	sub, rest, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(sub) {
	case "HELP":
		s.reply(214, "SITE commands:\nCHMOD <octal mode> <path>\nHELP\nEnd")
	case "CHMOD":
		modeStr, name, ok := strings.Cut(strings.TrimLeft(rest, " "), " ")
		mode, err := strconv.ParseUint(modeStr, 8, 32)
		if !ok || name == "" || err != nil || mode > 0o777 {
			s.reply(501, "Syntax error: SITE CHMOD <octal mode 000-777> <path>")
			return
		}
		if !s.allowed(PermWrite) {
			return
		}
		if err := s.acct.FS.Chmod(s.resolve(name), fs.FileMode(mode)); err != nil {
			s.replyErr(err)
			return
		}
		s.reply(200, "SITE CHMOD command ok")
	default:
		s.reply(504, "Unknown SITE command; try SITE HELP")
	}
}

// Hash algorithms of draft-bryan-ftpext-hash, in FEAT order.
var hashAlgos = []struct {
	name string
	new  func() hash.Hash
}{
	{"SHA-256", sha256.New}, {"SHA-1", sha1.New}, {"MD5", md5.New},
}

// handleHASH: draft-bryan-ftpext-hash, "213 ALGO START-END HEX path" where
// END is the file size (the range hashed is START to END).
func (s *session) handleHASH(arg string) {
	if !s.allowed(PermRead) {
		return
	}
	p := s.resolve(arg)
	fi, err := s.acct.FS.Stat(p)
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
	f, err := s.acct.FS.Open(p, 0)
	if err != nil {
		s.replyErr(err)
		return
	}
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		s.replyErr(err)
		return
	}
	s.reply(213, fmt.Sprintf("%s 0-%d %s %s", s.hashAlgo, n, hex.EncodeToString(h.Sum(nil)), p))
}
