package ftp

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"syscall"

	"github.com/rotary-ftp/rotary/internal/storage"
)

// appendReply formats one reply. RFC 959 section 4.2: a multi-line reply
// starts with "code-" and ends with "code "; lines in between are sent with a
// leading space so that none of them can be mistaken for the last line.
func appendReply(b []byte, code int, text string) []byte {
	if !strings.Contains(text, "\n") {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = append(b, text...)
		return append(b, '\r', '\n')
	}
	c := strconv.Itoa(code)
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 1 {
		// "text\n" is one line: as "code-text" alone it would open a
		// multi-line reply that never ends, and the client would wait for
		// its last line (found by FuzzCommandLine).
		b = append(b, c...)
		b = append(b, ' ')
		b = append(b, strings.TrimRight(lines[0], "\r")...)
		return append(b, '\r', '\n')
	}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		switch {
		case i == 0:
			b = append(b, c...)
			b = append(b, '-')
		case i == len(lines)-1:
			b = append(b, c...)
			b = append(b, ' ')
		default:
			b = append(b, ' ')
		}
		b = append(b, l...)
		b = append(b, '\r', '\n')
	}
	return b
}

// quotePath quotes a path for 257 replies: RFC 959 appendix II, embedded
// double quotes are doubled.
func quotePath(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}

// ReplyError is an error that knows its reply: a failure deep in a transfer
// (a data connection's TLS handshake, say) that must be answered with its
// own code rather than the transfer's generic 426 or 451.
type ReplyError struct {
	Code int
	Text string
	Err  error
}

func (e *ReplyError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Text
}

func (e *ReplyError) Unwrap() error { return e.Err }

// errorReply maps a storage error to an FTP reply. It is the one place where
// error kinds become reply codes; handlers never pick codes for storage errors.
func errorReply(err error) (int, string) {
	var re *ReplyError
	switch {
	case errors.As(err, &re):
		return re.Code, re.Text
	case errors.Is(err, storage.ErrUnsupportedParameter):
		// RFC 959: 504 "Command not implemented for that parameter". Before
		// ErrUnsupported, which it wraps.
		return 504, "Command not implemented for that parameter"
	case errors.Is(err, storage.ErrUnsupported), errors.Is(err, errors.ErrUnsupported):
		// RFC 959: 502 "Command not implemented": the storage cannot do it.
		return 502, "Command not implemented for this storage"
	case errors.Is(err, storage.ErrBadOffset):
		return 554, "Invalid REST parameter: beyond end of file"
	case errors.Is(err, storage.ErrInvalidName), errors.Is(err, syscall.ENAMETOOLONG):
		return 553, "File name not allowed"
	case errors.Is(err, fs.ErrNotExist):
		return 550, "No such file or directory"
	case errors.Is(err, storage.ErrOutsideRoot), errors.Is(err, fs.ErrPermission):
		return 550, "Permission denied"
	case errors.Is(err, storage.ErrIsDir):
		return 550, "Is a directory"
	case errors.Is(err, storage.ErrNotDir):
		return 550, "Not a directory"
	case errors.Is(err, storage.ErrNotEmpty), errors.Is(err, syscall.ENOTEMPTY):
		// Before fs.ErrExist, which ENOTEMPTY also matches.
		return 550, "Directory not empty"
	case errors.Is(err, fs.ErrExist):
		return 550, "File exists"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return 452, "Insufficient storage space"
	}
	return 451, "Local error in processing"
}
