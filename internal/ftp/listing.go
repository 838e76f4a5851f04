package ftp

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// Listings are written through a pooled buffer: a session that is not
// listing holds none.
var listBufPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32*1024) }}

// fact is one MLST fact (RFC 3659 section 7).
type factSet uint8

const (
	factType factSet = 1 << iota
	factSize
	factModify
	factPerm
	factUnixMode
)

const defaultFacts = factType | factSize | factModify | factPerm | factUnixMode

var factNames = []struct {
	f    factSet
	name string
}{
	{factType, "type"}, {factSize, "size"}, {factModify, "modify"}, {factPerm, "perm"}, {factUnixMode, "unix.mode"},
}

// featMLST is the MLST line of FEAT: every fact, the selected ones starred.
func (fs factSet) featMLST() string {
	var b strings.Builder
	b.WriteString("MLST ")
	for _, n := range factNames {
		b.WriteString(n.name)
		if fs&n.f != 0 {
			b.WriteByte('*')
		}
		b.WriteByte(';')
	}
	return b.String()
}

// listEntry is a directory entry to print.
type listEntry struct {
	name string
	info fs.FileInfo
}

// readListing returns the entries a LIST/NLST/MLSD argument names: the
// entries of a directory, or the one file named. A last path element with
// wildcards (*, ?, [) is matched against the directory's names, as ls would.
func (s *session) readListing(p string, mustBeDir bool) ([]listEntry, error) {
	fi, err := s.acct.FS.Stat(s.ctx, p)
	if err == nil && !fi.IsDir() {
		if mustBeDir {
			return nil, errNotDirListing
		}
		return []listEntry{{name: path.Base(p), info: fi}}, nil
	}
	pattern := ""
	if err != nil {
		base := path.Base(p)
		if mustBeDir || !strings.ContainsAny(base, "*?[") {
			return nil, err
		}
		if _, perr := path.Match(base, ""); perr != nil {
			return nil, err
		}
		pattern, p = base, path.Dir(p)
	}
	infos, err := s.acct.FS.ReadDir(s.ctx, p)
	if err != nil {
		return nil, err
	}
	entries := make([]listEntry, 0, len(infos))
	for _, fi := range infos {
		if pattern != "" {
			if ok, _ := path.Match(pattern, fi.Name()); !ok {
				continue
			}
		}
		entries = append(entries, listEntry{name: fi.Name(), info: fi})
	}
	slices.SortFunc(entries, func(a, b listEntry) int { return strings.Compare(a.name, b.name) })
	return entries, nil
}

type listingError string

func (e listingError) Error() string { return string(e) }

const errNotDirListing = listingError("not a directory")

// listArg strips ls-style options ("-la") that clients put before the path.
func listArg(arg string) string {
	for strings.HasPrefix(arg, "-") {
		opt, rest, _ := strings.Cut(arg, " ")
		if strings.ContainsAny(opt, "/.") {
			break // a file name that starts with '-'
		}
		arg = strings.TrimLeft(rest, " ")
	}
	return arg
}

func (s *session) handleLIST(arg string) { s.list("LIST", listArg(arg), appendLongLine) }
func (s *session) handleNLST(arg string) { s.list("NLST", listArg(arg), appendNameLine) }
func (s *session) handleMLSD(arg string) { s.list("MLSD", arg, s.appendFactsLine) }

type lineFormatter func(b []byte, e listEntry, now time.Time) []byte

func (s *session) list(verb, arg string, format lineFormatter) {
	if !s.allowed(PermList) {
		s.discardData()
		return
	}
	p := s.resolve(arg)
	if opener, ok := s.acct.FS.(storage.DirOpener); ok && verb == "MLSD" {
		s.streamListing(opener, verb, p, format)
		return
	}
	entries, err := s.readListing(p, verb == "MLSD")
	if err != nil {
		s.refuseListing(verb, err)
		return
	}
	s.startTransfer(verb, p, listOpener, func(_ *transfer, data net.Conn) (int64, error) {
		return writeListing(s.deadlineConn(data), entries, format)
	}, nil)
}

// listOpener is the 150 reply's text for every listing.
const listOpener = "Opening ASCII mode data connection for file list"

// refuseListing answers a listing that cannot start, before any data: MLSD
// of a file gets 501 (RFC 3659: MLST describes files), anything else the
// storage error's code.
func (s *session) refuseListing(verb string, err error) {
	if verb == "MLSD" && (err == errNotDirListing || errors.Is(err, storage.ErrNotDir)) {
		s.reply(501, "MLSD needs a directory; use MLST for a file")
	} else {
		s.replyErr(err)
	}
	s.discardData()
}

// streamListing sends MLSD as the directory is read: a batch of entries is
// read, described and written while the client parses the one before, and
// no listing is held in memory. The lines are in directory order; RFC 3659
// gives MLSD's lines no order (LIST and NLST, which people read, stay
// sorted). Errors opening the directory are answered before 150, as with
// the other listings.
func (s *session) streamListing(opener storage.DirOpener, verb, p string, format lineFormatter) {
	dir, err := opener.OpenDir(s.ctx, p)
	if err != nil {
		s.refuseListing(verb, err)
		return
	}
	s.startTransfer(verb, p, listOpener, func(_ *transfer, data net.Conn) (int64, error) {
		return writeDirListing(s.deadlineConn(data), dir, format)
	}, func(error) error {
		dir.Close()
		return nil
	})
}

// listBatch is how many entries streamListing reads at a time.
const listBatch = 256

// writeDirListing formats dir's entries into w, a batch at a time.
func writeDirListing(w io.Writer, dir storage.Dir, format lineFormatter) (int64, error) {
	return writeLines(w, format, func(emit func(listEntry) error) error {
		for {
			infos, err := dir.Next(listBatch)
			for _, fi := range infos {
				if werr := emit(listEntry{name: fi.Name(), info: fi}); werr != nil {
					return werr
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
}

// writeListing formats entries into w.
func writeListing(w io.Writer, entries []listEntry, format lineFormatter) (int64, error) {
	return writeLines(w, format, func(emit func(listEntry) error) error {
		for _, e := range entries {
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeLines formats the entries that each emits into w through a pooled
// buffer, one reused line buffer, and the same "now" for every line.
func writeLines(w io.Writer, format lineFormatter, each func(emit func(listEntry) error) error) (int64, error) {
	bw := listBufPool.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() { bw.Reset(nil); listBufPool.Put(bw) }()
	now := time.Now()
	var line []byte
	var n int64
	err := each(func(e listEntry) error {
		line = format(line[:0], e, now)
		m, err := bw.Write(line)
		n += int64(m)
		return err
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return n, err
}

func appendNameLine(b []byte, e listEntry, _ time.Time) []byte {
	b = append(b, e.name...)
	return append(b, '\r', '\n')
}

// appendLongLine formats one "ls -l" line, the de-facto LIST format that
// clients parse: mode, links, owner, group, size, date, name. Dates within
// six months show the time, older ones the year, as ls does.
func appendLongLine(b []byte, e listEntry, now time.Time) []byte {
	fi := e.info
	b = appendModeString(b, fi.Mode())
	b = append(b, " 1 ftp      ftp      "...)
	var sizeBuf [20]byte
	size := strconv.AppendInt(sizeBuf[:0], fi.Size(), 10)
	for i := len(size); i < 12; i++ {
		b = append(b, ' ')
	}
	b = append(b, size...)
	b = append(b, ' ')
	mt := fi.ModTime().UTC()
	if d := now.Sub(mt); d < 180*24*time.Hour && d > -180*24*time.Hour {
		b = mt.AppendFormat(b, "Jan _2 15:04")
	} else {
		b = mt.AppendFormat(b, "Jan _2  2006")
	}
	b = append(b, ' ')
	b = append(b, e.name...)
	return append(b, '\r', '\n')
}

func appendModeString(b []byte, m fs.FileMode) []byte {
	switch {
	case m.IsDir():
		b = append(b, 'd')
	case m&fs.ModeSymlink != 0:
		b = append(b, 'l')
	default:
		b = append(b, '-')
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	return b
}

// appendFactsLine formats one RFC 3659 entry: "fact=value;... name".
func (s *session) appendFactsLine(b []byte, e listEntry, _ time.Time) []byte {
	b = s.appendFacts(b, e.info)
	b = append(b, ' ')
	b = append(b, e.name...)
	return append(b, '\r', '\n')
}

func (s *session) appendFacts(b []byte, fi fs.FileInfo) []byte {
	f := s.mlstFacts
	if f&factType != 0 {
		switch {
		case fi.IsDir():
			b = append(b, "type=dir;"...)
		case fi.Mode().IsRegular():
			b = append(b, "type=file;"...)
		default:
			b = append(b, "type=OS.unix=symlink;"...)
		}
	}
	if f&factSize != 0 {
		b = append(b, "size="...)
		b = strconv.AppendInt(b, fi.Size(), 10)
		b = append(b, ';')
	}
	if f&factModify != 0 {
		b = append(b, "modify="...)
		b = fi.ModTime().UTC().AppendFormat(b, "20060102150405")
		b = append(b, ';')
	}
	if f&factPerm != 0 {
		b = append(b, "perm="...)
		b = s.appendPermFact(b, fi.IsDir())
		b = append(b, ';')
	}
	if f&factUnixMode != 0 {
		b = append(b, "unix.mode=0"...)
		b = strconv.AppendUint(b, uint64(fi.Mode().Perm()), 8)
		b = append(b, ';')
	}
	return b
}

// appendPermFact appends the RFC 3659 7.5.5 perm fact for this user's rights.
func (s *session) appendPermFact(b []byte, dir bool) []byte {
	p, caps := s.acct.Perm, s.capabilities()
	add := func(ok bool, c byte) {
		if ok {
			b = append(b, c)
		}
	}
	if dir {
		add(p&PermWrite != 0, 'c')
		add(p&PermDelete != 0, 'd')
		add(true, 'e')
		add(p&PermRename != 0 && caps.Has(storage.CapRename), 'f')
		add(p&PermList != 0, 'l')
		add(p&PermMkdir != 0, 'm')
		add(p&PermDelete != 0, 'p')
		return b
	}
	add(p&PermWrite != 0 && caps.Has(storage.CapAppend), 'a')
	add(p&PermDelete != 0, 'd')
	add(p&PermRename != 0 && caps.Has(storage.CapRename), 'f')
	add(p&PermRead != 0, 'r')
	add(p&PermWrite != 0, 'w')
	return b
}

// handleMLST: RFC 3659 7.2, the facts of one entry over the control connection.
func (s *session) handleMLST(arg string) {
	if !s.allowed(PermList) {
		return
	}
	p := s.resolve(arg)
	fi, err := s.acct.FS.Stat(s.ctx, p)
	if err != nil {
		s.replyErr(err)
		return
	}
	line := s.appendFacts(nil, fi)
	s.reply(250, "Listing "+p+"\n"+string(line)+" "+p+"\nEnd")
}

// statPath: STAT with a path answers a listing on the control connection
// (RFC 959: 213, or 211/212 for a directory listing).
func (s *session) statPath(arg string) {
	if !s.allowed(PermList) {
		return
	}
	p := s.resolve(listArg(arg))
	entries, err := s.readListing(p, false)
	if err != nil {
		s.replyErr(err)
		return
	}
	var b []byte
	b = append(b, "Status of "...)
	b = append(b, p...)
	b = append(b, ":\n"...)
	now := time.Now()
	for _, e := range entries {
		b = appendLongLine(b, e, now)
		b = b[:len(b)-2]
		b = append(b, '\n')
	}
	b = append(b, "End of status"...)
	s.reply(213, string(b))
}
