package ios

import (
	"strings"
)

// token is one blank-separated word of a line and its 1-based byte column.
type token struct {
	s   string
	col int
}

// line is one non-comment line of the file, split into tokens.
type line struct {
	num      int
	text     string
	indented bool
	toks     []token
}

func splitLine(num int, text string) line {
	l := line{num: num, text: text}
	l.indented = len(text) > 0 && (text[0] == ' ' || text[0] == '\t')
	i := 0
	for i < len(text) {
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		if i >= len(text) {
			break
		}
		start := i
		for i < len(text) && text[i] != ' ' && text[i] != '\t' {
			i++
		}
		l.toks = append(l.toks, token{s: text[start:i], col: start + 1})
	}
	return l
}

// cursor walks the tokens of one line; every method that fails returns an
// *Error positioned at the token it could not accept.
type cursor struct {
	file string
	l    *line
	i    int
}

func (c *cursor) errAt(t token, expected, detail string) *Error {
	return &Error{File: c.file, Line: c.l.num, Column: t.col, Token: t.s, Expected: expected, Detail: detail}
}

// errHere reports at the next token, or at the end of the line when none is left.
func (c *cursor) errHere(expected, detail string) *Error {
	if c.i < len(c.l.toks) {
		return c.errAt(c.l.toks[c.i], expected, detail)
	}
	return &Error{File: c.file, Line: c.l.num, Column: len(c.l.text) + 1, Expected: expected, Detail: detail}
}

func (c *cursor) more() bool { return c.i < len(c.l.toks) }

func (c *cursor) peek() string {
	if c.i < len(c.l.toks) {
		return strings.ToLower(c.l.toks[c.i].s)
	}
	return ""
}

// next returns the next token or an error saying what was expected there.
func (c *cursor) next(expected string) (token, error) {
	if c.i >= len(c.l.toks) {
		return token{}, c.errHere(expected, "")
	}
	t := c.l.toks[c.i]
	c.i++
	return t, nil
}

// keyword accepts one of words (case-insensitive, as IOS does) and returns it lower-cased.
func (c *cursor) keyword(words ...string) (string, token, error) {
	expected := quoteList(words)
	if c.i >= len(c.l.toks) {
		return "", token{}, c.errHere(expected, "")
	}
	t := c.l.toks[c.i]
	lw := strings.ToLower(t.s)
	for _, w := range words {
		if lw == w {
			c.i++
			return w, t, nil
		}
	}
	return "", t, c.errAt(t, expected, "")
}

// keywordWhy is keyword with an explanation attached when a wrong word
// (not a missing one) stands there.
func (c *cursor) keywordWhy(why string, words ...string) (string, token, error) {
	w, t, err := c.keyword(words...)
	if e, ok := err.(*Error); ok && t.s != "" {
		e.Detail = why
	}
	return w, t, err
}

// rest returns the raw text from the next token to the end of the line.
func (c *cursor) rest() string {
	if c.i >= len(c.l.toks) {
		return ""
	}
	s := c.l.text[c.l.toks[c.i].col-1:]
	c.i = len(c.l.toks)
	return strings.TrimRight(s, " \t")
}

// end fails when tokens are left on the line.
func (c *cursor) end() error {
	if c.i < len(c.l.toks) {
		return c.errAt(c.l.toks[c.i], "end of line", "")
	}
	return nil
}

func quoteList(words []string) string {
	var b strings.Builder
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(`"` + w + `"`)
	}
	return b.String()
}
