package config

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestAbsolutePaths(t *testing.T) {
	dir := filepath.FromSlash("/srv/install")
	j := func(p string) string { return filepath.Join(dir, p) }
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"separate values", []string{"--config", "rotary.toml", "--root", "ftp", "--listen", ":21"},
			[]string{"--config", j("rotary.toml"), "--root", j("ftp"), "--listen", ":21"}},
		{"= values and one dash", []string{"-users-file=users.toml", "--state-dir=./state", "--public-ip=ftp.example.com"},
			[]string{"-users-file=" + j("users.toml"), "--state-dir=" + j("state"), "--public-ip=ftp.example.com"}},
		{"absolute kept", []string{"--root", filepath.FromSlash("/data/ftp")}, []string{"--root", filepath.FromSlash("/data/ftp")}},
		{"a bool flag takes no value", []string{"--anonymous", "--anonymous-root", "pub"},
			[]string{"--anonymous", "--anonymous-root", j("pub")}},
		{"not a path setting", []string{"--user", "ann:pw/with/slash"}, []string{"--user", "ann:pw/with/slash"}},
		{"unknown flags and arguments pass through", []string{"--nope", "x", "--", "--root", "y"},
			[]string{"--nope", "x", "--", "--root", "y"}},
		{"a flag missing its value", []string{"--root"}, []string{"--root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AbsolutePaths(tt.args, dir); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AbsolutePaths(%q) = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	c := Defaults()
	if got, want := RelativePaths(c), []string{"root", "state-dir"}; !reflect.DeepEqual(got, want) {
		t.Errorf("defaults: %q, want %q", got, want)
	}
	abs := filepath.Join(t.TempDir(), "x")
	c.Root, c.StateDir, c.UsersFile, c.TLSCert = abs, abs, abs, "cert.pem"
	if got, want := RelativePaths(c), []string{"tls-cert"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
