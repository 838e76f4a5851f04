package config

import (
	"flag"
	"io"
	"path/filepath"
	"sort"
	"strings"
)

// AbsolutePaths returns the serve command line args with every relative
// path given to --config or to a path setting (root, users-file, ...)
// joined to dir: for a command line stored for later, by a service
// manager that starts the program in another folder (Windows starts
// services in System32). Other arguments are kept as they are.
func AbsolutePaths(args []string, dir string) []string {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c Config
	var path string
	Flags(fs, &c, &path)
	abs := func(v string) string {
		if v == "" || filepath.IsAbs(v) {
			return v
		}
		return filepath.Join(dir, v)
	}
	isPath := func(name string) bool { return name == "config" || pathSettings[name] }
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			out = append(out, args[i:]...) // the flag package stops here too
			break
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		f := fs.Lookup(name)
		if f == nil {
			out = append(out, a) // Parse reports it
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			out = append(out, a)
			continue
		}
		switch {
		case hasValue && isPath(name):
			out = append(out, a[:len(a)-len(value)]+abs(value))
		case hasValue:
			out = append(out, a)
		case i+1 < len(args):
			v := args[i+1]
			if isPath(name) {
				v = abs(v)
			}
			out = append(out, a, v)
			i++
		default:
			out = append(out, a)
		}
	}
	return out
}

// RelativePaths names the path settings of c whose value is a relative
// path (a default such as root's "./ftproot", since a config file's
// relative paths are already made absolute by LoadFile), sorted.
func RelativePaths(c Config) []string {
	var out []string
	for name := range pathSettings {
		s, ok := lookup(name)
		if !ok {
			continue
		}
		if v := s.bind(&c).String(); v != "" && !filepath.IsAbs(v) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
