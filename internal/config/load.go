package config

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/passive"
)

// Error is a configuration error: where it is and what is wrong, printed as
// "rotary.toml:7: passive-ports: 6000-5000: low end above high end", or for
// a flag "--passive-ports 6000-5000: low end above high end".
type Error struct {
	File   string // "" for a flag
	Line   int
	Key    string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
		if e.Key != "" {
			b.WriteString(e.Key + ": ")
		}
	} else if e.Key != "" {
		b.WriteString("--" + e.Key + " ")
	}
	if e.Value != "" {
		b.WriteString(e.Value + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// LoadFile reads a TOML config file into c, over what c already holds.
// Unknown keys are errors; so are values of the wrong type.
func LoadFile(path string, c *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return load(path, data, c)
}

func load(path string, data []byte, c *Config) error {
	name := filepath.Base(path)
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return &Error{File: name, Line: pe.Position.Line, Reason: pe.Message}
		}
		return &Error{File: name, Reason: err.Error()}
	}
	lines := keyLines(data)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	// Report problems in file order.
	sort.Slice(keys, func(i, j int) bool { return lines[keys[i]] < lines[keys[j]] })
	for _, k := range keys {
		line := lines[k]
		if k == "config" {
			return &Error{File: name, Line: line, Key: k, Reason: "a config file cannot name another config file"}
		}
		st, ok := lookup(k)
		if !ok {
			return &Error{File: name, Line: line, Key: k, Reason: "unknown key" + suggest(k)}
		}
		v := st.bind(c)
		v.reset()
		vals, err := tomlStrings(raw[k])
		if err != nil {
			return &Error{File: name, Line: line, Key: k, Reason: err.Error()}
		}
		_, isList := v.(*listValue)
		_, isOverride := v.(*overrideValue)
		if len(vals) != 1 && !isList && !isOverride {
			return &Error{File: name, Line: line, Key: k, Reason: "want a single value, not a list"}
		}
		if len(vals) == 0 {
			// An empty list clears the setting.
			switch lv := v.(type) {
			case *listValue:
				*lv.p = nil
			case *overrideValue:
				*lv.p = nil
			}
		}
		for _, s := range vals {
			if pathSettings[k] && s != "" && !filepath.IsAbs(s) {
				s = filepath.Join(filepath.Dir(path), s)
			}
			if err := v.Set(s); err != nil {
				return &Error{File: name, Line: line, Key: k, Value: s, Reason: err.Error()}
			}
		}
	}
	c.File = path
	return nil
}

// tomlStrings turns a TOML value into the strings Set parses.
func tomlStrings(v any) ([]string, error) {
	switch t := v.(type) {
	case string:
		return []string{t}, nil
	case bool:
		return []string{strconv.FormatBool(t)}, nil
	case int64:
		return []string{strconv.FormatInt(t, 10)}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, err := tomlStrings(e)
			if err != nil || len(s) != 1 {
				return nil, errors.New("a list may hold only strings, numbers and booleans")
			}
			out = append(out, s[0])
		}
		return out, nil
	case map[string]any:
		return nil, errors.New("a table is not allowed here: serve settings are top-level keys")
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// keyLines finds the line of each top-level key. BurntSushi/toml does not
// expose key positions, and serve settings are flat keys, so a scan of the
// lines is enough: "key = ..." (the key bare, "quoted" or 'literal', maybe
// dotted: its first part is the top-level key) and "[table]" or "[[array]]"
// headers (their first part), comments after them allowed. A line inside a
// multi-line string may be taken for a key: the first line wins, and a
// top-level key comes before any table, so only the line of a mistake that
// the scan cannot see is lost.
func keyLines(data []byte) map[string]int {
	lines := make(map[string]int)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "[") {
			l = strings.TrimSpace(strings.TrimLeft(l, "["))
		} else if !strings.Contains(l, "=") {
			continue
		}
		k, ok := firstKey(l)
		if !ok {
			continue
		}
		if _, seen := lines[k]; !seen {
			lines[k] = n
		}
	}
	return lines
}

// firstKey reads the TOML key at the start of s: a bare key, a basic
// "quoted" key (with its escapes) or a 'literal' one.
func firstKey(s string) (string, bool) {
	switch {
	case s == "":
		return "", false
	case s[0] == '"':
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return tomlUnescape(s[1:i]), true
			}
		}
		return "", false
	case s[0] == '\'':
		if i := strings.IndexByte(s[1:], '\''); i >= 0 {
			return s[1 : i+1], true
		}
		return "", false
	}
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9' || s[i] == '_' || s[i] == '-') {
		i++
	}
	return s[:i], i > 0
}

// tomlUnescape decodes a TOML basic string's escapes, which are not Go's:
// \e (escape) and \xHH are TOML 1.1's, and there are no octal ones. An
// escape it does not know is kept as written (the decoder has refused the
// file by then anyway).
func tomlUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	simple := map[byte]byte{'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', '"': '"', '\\': '\\', 'e': 0x1b}
	width := map[byte]int{'x': 2, 'u': 4, 'U': 8}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if c, ok := simple[s[i]]; ok {
			b.WriteByte(c)
			continue
		}
		if w := width[s[i]]; w > 0 && i+w < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+1+w], 16, 32); err == nil {
				b.WriteRune(rune(v))
				i += w
				continue
			}
		}
		b.WriteByte('\\')
		b.WriteByte(s[i])
	}
	return b.String()
}

func suggest(k string) string {
	best, bestD := "", 3
	for _, s := range settings {
		if d := distance(k, s.name); d < bestD {
			best, bestD = s.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is the Levenshtein distance, for "did you mean".
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Flags registers every setting on fs, bound to c, plus --config (whose
// value goes to *configPath).
func Flags(fs *flag.FlagSet, c *Config, configPath *string) {
	fs.StringVar(configPath, "config", "", "read settings from the TOML `FILE`; flags override it")
	for _, s := range settings {
		v := s.bind(c)
		v.reset()
		fs.Var(v, s.name, s.help)
	}
}

// FlagError is a command-line mistake that the flag package has already
// printed to Parse's out, with the usage after it: callers exit 2 without
// printing it again.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// Parse reads --config (if given) and then the flags over it, and validates
// the result. Errors are *Error where they have a place, *FlagError for a
// mistake on the command line, or flag.ErrHelp after -h or --help. Output
// from the flag package (usage, errors) goes to out; the usage is header
// followed by the flag list, each flag once. The usage must be set before
// fs.Parse: the flag package prints it itself on -h and on errors, so one
// set afterwards by the caller printed the list a second time.
func Parse(name, header string, args []string, out io.Writer) (Config, *flag.FlagSet, error) {
	return ParseWith(name, header, args, out, nil)
}

// ParseWith is Parse for a command that takes flags of its own beside the
// serve settings (rotary rules): extra registers them on each flag set the
// parse uses (twice; the second one's values are the ones that count).
func ParseWith(name, header string, args []string, out io.Writer, extra func(*flag.FlagSet)) (Config, *flag.FlagSet, error) {
	// First pass: only to find --config; errors are reported by the second.
	var path string
	pre := flag.NewFlagSet(name, flag.ContinueOnError)
	pre.SetOutput(io.Discard)
	scratch := Defaults()
	Flags(pre, &scratch, &path)
	if extra != nil {
		extra(pre)
	}
	pre.Parse(args)

	c := Defaults()
	if path != "" {
		if err := LoadFile(path, &c); err != nil {
			return c, nil, err
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	if header != "" {
		fs.Usage = func() { fmt.Fprint(fs.Output(), header); fs.PrintDefaults() }
	}
	Flags(fs, &c, &path)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, fs, err
		}
		return c, fs, &FlagError{err}
	}
	if path != "" {
		c.File = path
	}
	if fs.NArg() > 0 {
		return c, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, fs, c.Validate()
}

// Validate checks what no single setting can: combinations.
func (c *Config) Validate() error {
	where := func(key string) *Error {
		e := &Error{Key: key}
		if c.File != "" {
			e.File = filepath.Base(c.File)
			if data, err := os.ReadFile(c.File); err == nil {
				e.Line = keyLines(data)[key]
			}
		}
		return e
	}
	if len(c.Listen) == 0 {
		e := where("listen")
		e.Reason = "at least one control listener is needed"
		return e
	}
	if c.Root == "" {
		e := where("root")
		e.Reason = "must not be empty"
		return e
	}
	if pub := c.PublicPassivePorts; pub != (passive.Range{}) && pub.Len() != c.PassivePorts.Len() {
		e := where("public-passive-ports")
		e.Value = pub.String()
		e.Reason = fmt.Sprintf("%d ports, but passive-ports %s has %d: the two ranges map port for port", pub.Len(), c.PassivePorts, c.PassivePorts.Len())
		return e
	}
	if c.AdminListen != "" && c.AdminTokenFile == "" && !adminhttp.IsLoopback(c.AdminListen) {
		e := where("admin-listen")
		e.Value = c.AdminListen
		e.Reason = "not a loopback address, and admin-token-file is not set: without a token the admin endpoint would answer anybody (bans, sessions, metrics)"
		return e
	}
	if c.S3CredentialsFile != "" && !c.IsS3() {
		e := where("s3-credentials-file")
		e.Value = c.S3CredentialsFile
		e.Reason = "set, but storage is not an s3:// URL: only S3 storage uses it"
		return e
	}
	if c.Anonymous && c.AnonymousRoot == "" {
		c.AnonymousRoot = c.Root
	}
	return nil
}
