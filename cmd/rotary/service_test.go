package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestServiceArgs(t *testing.T) {
	tests := []struct {
		args      []string
		verb      string
		name      string
		rest      []string
		errSubstr string
	}{
		{args: []string{"install", "--config", "c.toml"}, verb: "install", name: "Rotary", rest: []string{"--config", "c.toml"}},
		{args: []string{"install", "--name", "FTP2", "--root", "x"}, verb: "install", name: "FTP2", rest: []string{"--root", "x"}},
		{args: []string{"stop", "-name=FTP2"}, verb: "stop", name: "FTP2"},
		{args: []string{"run", "--name", "R", "--config", `C:\rotary\rotary.toml`}, verb: "run", name: "R", rest: []string{"--config", `C:\rotary\rotary.toml`}},
		{args: nil, errSubstr: "a verb is required"},
		{args: []string{"restart"}, errSubstr: `unknown verb "restart"`},
		{args: []string{"install", "--name"}, errSubstr: "--name needs a value"},
		{args: []string{"install", "--name="}, errSubstr: "--name needs a value"},
		{args: []string{"start", "--name", `a\b`}, errSubstr: "no slashes"},
		{args: []string{"uninstall", "--root", "x"}, errSubstr: `uninstall takes only --name, not "--root"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			verb, name, rest, err := serviceArgs(tt.args)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want one with %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if verb != tt.verb || name != tt.name || !slices.Equal(rest, tt.rest) {
				t.Errorf("got %q %q %q, want %q %q %q", verb, name, rest, tt.verb, tt.name, tt.rest)
			}
		})
	}
}

// TestServiceCommandLine: install stores a command line that works from
// any folder, and refuses one that would serve System32 or generate a
// password nobody reads.
func TestServiceCommandLine(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "users.toml"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "good.toml"), []byte("root = \"ftp\"\nstate-dir = \"state\"\nusers-file = \"users.toml\"\npassive-ports = \"5500-5520\"\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "norootdir.toml"), []byte("users-file = \"users.toml\"\n"), 0o600))
	tests := []struct {
		name      string
		args      []string
		want      []string
		errSubstr string
	}{
		{name: "a config file with relative paths", args: []string{"--config", "good.toml"},
			want: []string{"--config", filepath.Join(dir, "good.toml")}},
		{name: "flags made absolute", args: []string{"--root", "ftp", "--state-dir=st", "--user", "ann:secret", "--listen", ":21"},
			want: []string{"--root", filepath.Join(dir, "ftp"), "--state-dir=" + filepath.Join(dir, "st"), "--user", "ann:secret", "--listen", ":21"}},
		{name: "no users", args: []string{"--root", "ftp", "--state-dir", "st"}, errSubstr: "a service needs its users: set users-file"},
		{name: "default root and state-dir", args: []string{"--config", "norootdir.toml"}, errSubstr: "set root, state-dir to an absolute path"},
		{name: "a bad flag", args: []string{"--config", "good.toml", "--bogus"}, errSubstr: "serve flags: flag provided but not defined: -bogus"},
		{name: "a bad config", args: []string{"--config", "missing.toml"}, errSubstr: "serve flags:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := serviceCommandLine(tt.args, dir)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want one with %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestServiceElsewhereBinary: off Windows, `rotary service` points to the
// systemd unit and fails.
func TestServiceElsewhereBinary(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the real service commands run here")
	}
	out, err := exec.Command(buildRotary(t), "service", "install").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("exit %v, want status 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "packaging/rotary.service") {
		t.Errorf("output does not point to the systemd unit:\n%s", out)
	}
}
