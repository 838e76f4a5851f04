package service

import (
	"bytes"
	"strings"
	"sync"
)

// Severity is an event log entry's type.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "info"
}

// SeverityOf reads the level of one log line written by log/slog's text
// or JSON handler ("level=WARN", `"level":"ERROR"`); anything else (the
// start banner, a generated password's line) is Info.
func SeverityOf(line string) Severity {
	for _, f := range []struct {
		prefix string
		sev    Severity
	}{
		{"level=ERROR", Error}, {`"level":"ERROR"`, Error},
		{"level=WARN", Warning}, {`"level":"WARN"`, Warning},
	} {
		if strings.Contains(line, f.prefix) {
			return f.sev
		}
	}
	return Info
}

// MaxEntry is the longest entry LineWriter emits, in bytes: the Windows
// event log takes at most 31,839 characters per string, and a longer line
// is cut with a marker rather than lost.
const MaxEntry = 31 * 1024

// LineWriter turns a stream of log output into one entry per line, each
// with its severity: the program's logger writes to it as it would to
// stderr, and Emit writes the event log. Writes may split lines anywhere;
// Flush emits a last line that has no newline.
type LineWriter struct {
	Emit func(Severity, string)

	mu      sync.Mutex
	partial []byte
}

func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) > MaxEntry {
				w.emitLocked(w.partial)
				w.partial = w.partial[:0]
			}
			break
		}
		line := p[:i]
		if len(w.partial) > 0 {
			line = append(w.partial, line...)
			w.partial = w.partial[:0]
		}
		w.emitLocked(line)
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits what is left of an unfinished line.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emitLocked(w.partial)
		w.partial = w.partial[:0]
	}
}

func (w *LineWriter) emitLocked(line []byte) {
	s := strings.TrimRight(string(line), "\r")
	if strings.TrimSpace(s) == "" {
		return
	}
	if len(s) > MaxEntry {
		s = strings.ToValidUTF8(s[:MaxEntry], "") + " [cut: the line was longer than the event log takes]"
	}
	w.Emit(SeverityOf(s), s)
}
