// Package xferlog writes transfers in the wu-ftpd/vsftpd xferlog format
// (xferlog(5)), so existing log analysers read Rotary's logs.
package xferlog

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// Writer appends lines to an xferlog file. Reopen (on SIGHUP) lets log
// rotation move the old file away.
type Writer struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Open opens path for appending, creating it 0640.
func Open(path string) (*Writer, error) {
	w := &Writer{path: path}
	if err := w.Reopen(); err != nil {
		return nil, err
	}
	return w, nil
}

// Reopen closes and reopens the file.
func (w *Writer) Reopen() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("xferlog: %w", err)
	}
	w.mu.Lock()
	old := w.f
	w.f = f
	w.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Log writes one record; it is an ftp.Server TransferLog.
func (w *Writer) Log(r ftp.TransferRecord) {
	line := Format(r)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.f.WriteString(line)
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Format renders one xferlog line:
//
//	current-time transfer-time remote-host file-size filename transfer-type
//	special-action-flag direction access-mode username service-name
//	authentication-method authenticated-user-id completion-status
//
// Times are local, in ctime format; the transfer time is whole seconds,
// rounded up as vsftpd does; spaces in file names become underscores so
// that the fields stay separable.
func Format(r ftp.TransferRecord) string {
	var b strings.Builder
	b.WriteString(r.End.Local().Format("Mon Jan _2 15:04:05 2006"))
	secs := int64((r.Duration + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(secs, 10))
	b.WriteByte(' ')
	b.WriteString(r.Client.String())
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(r.Bytes, 10))
	b.WriteByte(' ')
	b.WriteString(strings.Map(func(c rune) rune {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return '_'
		}
		return c
	}, r.Path))
	kind, dir, mode, status := " b", " o", " r", " c"
	if r.ASCII {
		kind = " a"
	}
	if r.Upload {
		dir = " i"
	}
	if r.Anonymous {
		mode = " a"
	}
	if !r.Complete {
		status = " i"
	}
	b.WriteString(kind)
	b.WriteString(" _")
	b.WriteString(dir)
	b.WriteString(mode)
	b.WriteByte(' ')
	user := r.User
	if user == "" {
		user = "*"
	}
	b.WriteString(strings.ReplaceAll(user, " ", "_"))
	b.WriteString(" ftp 0 *")
	b.WriteString(status)
	b.WriteByte('\n')
	return b.String()
}
