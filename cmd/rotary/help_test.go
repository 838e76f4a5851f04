package main

import (
	"flag"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rotary-ftp/rotary/internal/config"
)

// flagLine is how flag.PrintDefaults starts the line of each flag.
var flagLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9-]+)`)

// configFlags are the flags of serve and check: every setting plus --config.
func configFlags() []string {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c := config.Defaults()
	var path string
	config.Flags(fs, &c, &path)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// TestHelpBinary runs the real binary's --help for each subcommand: exit
// status 0, the usage text, and each flag listed exactly once. serve --help
// once printed the flag package's default usage and then its own, so every
// flag appeared twice; ban --help was "unknown subcommand", exit 2.
func TestHelpBinary(t *testing.T) {
	bin := buildRotary(t)
	serveFlags := configFlags()
	banFlags := []string{"admin", "admin-token-file", "config"}
	for _, tt := range []struct {
		args  []string
		head  string // the usage text starts with this
		flags []string
	}{
		{[]string{"serve", "--help"}, "Usage: rotary serve", serveFlags},
		{[]string{"serve", "-h"}, "Usage: rotary serve", serveFlags},
		{[]string{"check", "--help"}, "Usage: rotary check", serveFlags},
		{[]string{"gateway", "--help"}, "Usage:\n  rotary gateway --config", []string{"admin", "admin-token-file", "config", "datapath", "drain", "lenient", "masquerade", "print-model", "print-plan", "strict"}},
		{[]string{"gateway", "show", "--help"}, "Usage:\n  rotary gateway show", nil},
		{[]string{"gateway", "show", "translations", "--help"}, "Usage:\n  rotary gateway show", []string{"admin", "admin-token-file", "verbose"}},
		{[]string{"bench", "--help"}, "Usage: rotary bench", []string{
			"allow-remote", "clients", "duration", "file", "json", "list-dir", "list-entries", "logins",
			"server-pid", "sessions", "size", "small-size", "temp-dir", "tls", "warmup", "workload"}},
		{[]string{"user", "--help"}, "Usage:\n  rotary user add", nil},
		{[]string{"user", "add", "--help"}, "Usage: rotary user add", []string{
			"download-rate", "file", "home", "max-sessions", "password-stdin", "perms", "upload-rate"}},
		{[]string{"user", "passwd", "--help"}, "Usage: rotary user passwd", []string{"file", "password-stdin"}},
		{[]string{"user", "del", "--help"}, "Usage: rotary user del", []string{"file"}},
		{[]string{"user", "list", "--help"}, "Usage: rotary user list", []string{"file"}},
		{[]string{"ban", "--help"}, "Usage:\n  rotary ban list", banFlags},
		{[]string{"ban", "help"}, "Usage:\n  rotary ban list", banFlags},
		{[]string{"ban", "list", "--help"}, "Usage:\n  rotary ban list", banFlags},
		{[]string{"ban", "del", "--help"}, "Usage:\n  rotary ban list", banFlags},
		{[]string{"service", "--help"}, "Usage:\n  rotary service install", nil},
	} {
		name := strings.Join(tt.args, " ")
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(bin, tt.args...).CombinedOutput()
			if err != nil {
				t.Fatalf("rotary %s: %v, want exit status 0\n%s", name, err, out)
			}
			if !strings.HasPrefix(string(out), tt.head) {
				t.Errorf("rotary %s starts %q, want %q", name, firstLines(string(out), 2), tt.head)
			}
			count := map[string]int{}
			for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
				count[m[1]]++
			}
			for f, n := range count {
				if n != 1 {
					t.Errorf("rotary %s lists -%s %d times", name, f, n)
				}
			}
			got := make([]string, 0, len(count))
			for f := range count {
				got = append(got, f)
			}
			sort.Strings(got)
			want := slices.Clone(tt.flags)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("rotary %s lists flags %v, want %v", name, got, want)
			}
		})
	}
}

// TestFlagErrorBinary: a mistake on the command line is told once, with
// the usage, and exits 2.
func TestFlagErrorBinary(t *testing.T) {
	bin := buildRotary(t)
	for _, args := range [][]string{
		{"serve", "--bogus"},
		{"check", "--bogus"},
		{"ban", "list", "--bogus"},
	} {
		name := strings.Join(args, " ")
		out, err := exec.Command(bin, args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("rotary %s: %v, want exit status 2\n%s", name, err, out)
		}
		if n := strings.Count(string(out), "flag provided but not defined: -bogus"); n != 1 {
			t.Errorf("rotary %s tells the mistake %d times, want once\n%s", name, n, out)
		}
		if n := strings.Count(string(out), "\n  -config "); n != 1 {
			t.Errorf("rotary %s lists -config %d times, want once (the usage after the mistake)\n%s", name, n, out)
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
