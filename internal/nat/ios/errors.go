package ios

import (
	"fmt"
	"strings"
)

// Error is a configuration error at one token of the file.
type Error struct {
	File     string
	Line     int
	Column   int    // 1-based byte column of Token; 0 when the error is about the whole file
	Token    string // the offending token; "" for a missing one (end of line)
	Expected string // what the parser wanted instead
	Detail   string // why, when "expected" alone does not explain it
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Column)
	if e.Token == "" && e.Expected == "" {
		b.WriteString(e.Detail)
		return b.String()
	}
	if e.Token == "" {
		b.WriteString("unexpected end of line")
	} else {
		fmt.Fprintf(&b, "unexpected %q", e.Token)
	}
	if e.Expected != "" {
		b.WriteString(": expected ")
		b.WriteString(e.Expected)
	}
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	return b.String()
}

// Warning is a line the parser skipped or a statement that has no effect.
type Warning struct {
	File    string
	Line    int
	Column  int
	Message string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d:%d: warning: %s", w.File, w.Line, w.Column, w.Message)
}
