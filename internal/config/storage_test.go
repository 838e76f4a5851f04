package config

import (
	"io"
	"strings"
	"testing"
)

// storage takes the local disk or an S3 URL that parses, from the file
// and the command line, and a bad URL names the key and the reason.
func TestStorageSetting(t *testing.T) {
	tests := []struct {
		file, flag string
		want, err  string
	}{
		{want: "local"},
		{file: `storage = "local"`, want: "local"},
		{file: `storage = "s3://bucket/ftp?endpoint=127.0.0.1:9000&tls=false"`, want: "s3://bucket/ftp?endpoint=127.0.0.1:9000&tls=false"},
		{file: `storage = "local"`, flag: "s3://other", want: "s3://other"},
		{file: `storage = "s3://bucket?tls=perhaps"`, err: "rotary.toml:1: storage: s3://bucket?tls=perhaps: tls=perhaps: want true or false"},
		{file: `storage = "s3://key:secret@bucket"`, err: "credentials do not belong in the URL"},
		{file: `storage = "/srv/ftp"`, err: "rotary.toml:1: storage: /srv/ftp: want local or s3://"},
		{flag: "s3://x", err: `invalid value "s3://x" for flag -storage: bucket`},
		{file: "storage = \"s3://bucket\"\ns3-credentials-file = \"creds\"", want: "s3://bucket"},
		{file: `s3-credentials-file = "creds"`, err: "/creds: set, but storage is not an s3:// URL"},
	}
	for _, tt := range tests {
		var args []string
		if tt.file != "" {
			args = append(args, "--config", writeConfig(t, tt.file+"\n"))
		}
		if tt.flag != "" {
			args = append(args, "--storage", tt.flag)
		}
		c, _, err := Parse("serve", "", args, io.Discard)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: %v, want an error with %q", args, err, tt.err)
			}
		case err != nil:
			t.Errorf("%v: %v", args, err)
		case c.Storage != tt.want || c.IsS3() != strings.HasPrefix(tt.want, "s3://"):
			t.Errorf("%v: storage %q (S3 %v), want %q", args, c.Storage, c.IsS3(), tt.want)
		}
	}
}
