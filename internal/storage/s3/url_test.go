package s3

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		url  string
		want Config // compared field by field below
		err  string
	}{
		{url: "s3://bucket", want: Config{Bucket: "bucket"}},
		{url: "s3://bucket/", want: Config{Bucket: "bucket"}},
		{url: "s3://my-bucket/ftp/homes/", want: Config{Bucket: "my-bucket", Prefix: "ftp/homes/"}},
		{url: "S3://bucket/p", want: Config{Bucket: "bucket", Prefix: "p/"}},
		{url: "s3://bucket/p?endpoint=127.0.0.1:9000&region=us-east-1&path-style=true&tls=false",
			want: Config{Bucket: "bucket", Prefix: "p/", Endpoint: "127.0.0.1:9000", Region: "us-east-1", PathStyle: &yes, TLS: false}},
		{url: "s3://bucket?endpoint=[::1]:9000&path-style=false", want: Config{Bucket: "bucket", Endpoint: "[::1]:9000", PathStyle: &no}},
		{url: "s3://bucket?abort-uploads-after=1h", want: Config{Bucket: "bucket", AbortUploadsAfter: time.Hour}},
		{url: "s3://bucket?abort-uploads-after=0", want: Config{Bucket: "bucket", AbortUploadsAfter: 0}},
		{url: "s3://bucket?abort-uploads-after=never", want: Config{Bucket: "bucket", AbortUploadsAfter: -1}},
		{url: "s3://bucket?list-mtime=head&conditional-writes=false", want: Config{Bucket: "bucket", ListMtime: ListMtimeHead}},

		{url: "/srv/ftp", err: "want s3://"},
		{url: "s3://", err: "bucket"},
		{url: "s3://Bad_Bucket", err: "bucket"},
		{url: "s3://ab", err: "bucket"},
		{url: "s3://key:secret@bucket", err: "credentials do not belong"},
		{url: "s3://bucket/a/../b", err: "components"},
		{url: "s3://bucket/a//b", err: "components"},
		{url: "s3://bucket/./b", err: "components"},
		{url: "s3://bucket?endpoint=http://127.0.0.1:9000", err: "without a scheme"},
		{url: "s3://bucket?endpoint=host:0", err: "bad port"},
		{url: "s3://bucket?endpoint=host/path", err: "HOST:PORT"},
		{url: "s3://bucket?endpoint=", err: "HOST"},
		{url: "s3://bucket?tls=maybe", err: "true or false"},
		{url: "s3://bucket?tls=true&tls=false", err: "2 times"},
		{url: "s3://bucket?acl=public", err: "unknown query key"},
		{url: "s3://bucket?list-mtime=always", err: "want metadata"},
		{url: "s3://bucket?abort-uploads-after=-1h", err: "negative"},
		{url: "s3://bucket#frag", err: "want s3://"},
		{url: "s3://bucket/\x00", err: "NUL"},
		{url: "s3://bucket/" + strings.Repeat("a", 600), err: "longer"},
	}
	for _, tt := range tests {
		c, err := ParseURL(tt.url)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseURL(%q) = %v, want an error with %q", tt.url, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.url, err)
			continue
		}
		w := tt.want
		if !strings.Contains(tt.url, "tls=") {
			w.TLS = true
		}
		if !strings.Contains(tt.url, "abort-uploads-after") {
			w.AbortUploadsAfter = DefaultAbortUploadsAfter
		}
		if w.ListMtime == "" {
			w.ListMtime = ListMtimeMetadata
		}
		w.ConditionalWrites = !strings.Contains(tt.url, "conditional-writes=false")
		if c.Bucket != w.Bucket || c.Prefix != w.Prefix || c.Endpoint != w.Endpoint || c.Region != w.Region || c.TLS != w.TLS ||
			(c.PathStyle == nil) != (w.PathStyle == nil) || (c.PathStyle != nil && *c.PathStyle != *w.PathStyle) ||
			c.AbortUploadsAfter != w.AbortUploadsAfter || c.ListMtime != w.ListMtime || c.ConditionalWrites != w.ConditionalWrites {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.url, c, w)
		}
		// String gives a URL that parses to the same place.
		again, err := ParseURL(c.String())
		if err != nil || again.Bucket != c.Bucket || again.Prefix != c.Prefix || again.Endpoint != c.Endpoint || again.TLS != c.TLS {
			t.Errorf("ParseURL(%q).String() = %q, which parses to %+v, %v", tt.url, c.String(), again, err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "id")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "token")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
	c := Config{Bucket: "b"}.FromEnv()
	if c.AccessKey != "id" || c.SecretKey != "secret" || c.SessionToken != "token" || c.Region != "eu-west-1" {
		t.Errorf("FromEnv = %+v", c)
	}
	c = Config{Bucket: "b", AccessKey: "mine", SecretKey: "own", Region: "us-east-2"}.FromEnv()
	if c.AccessKey != "mine" || c.SecretKey != "own" || c.SessionToken != "" || c.Region != "us-east-2" {
		t.Errorf("FromEnv over explicit fields = %+v", c)
	}
	if _, err := New(Config{Bucket: "bucket", ListMtime: ListMtimeMetadata}); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("New without credentials = %v, want an error naming AWS_ACCESS_KEY_ID", err)
	}
}

// Homes map to prefixes under the Provider's and never outside it.
func TestHomePrefix(t *testing.T) {
	p, err := New(Config{Bucket: "bucket", Prefix: "ftp/", AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	for home, want := range map[string]string{
		"": "ftp/", "/": "ftp/", "alice": "ftp/alice/", "/alice": "ftp/alice/", "/srv/ftp/alice/": "ftp/srv/ftp/alice/",
		"../alice": "ftp/alice/", "/../../x": "ftp/x/", "a/./b//c": "ftp/a/b/c/",
	} {
		if got, err := p.homePrefix(home); err != nil || got != want {
			t.Errorf("homePrefix(%q) = %q, %v; want %q", home, got, err, want)
		}
	}
	for _, bad := range []string{"a\x00b", "\xff"} {
		if _, err := p.homePrefix(bad); err == nil {
			t.Errorf("homePrefix(%q) accepted", bad)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://bucket/p?endpoint=127.0.0.1:9000&tls=false", "s3://a.b-c/x/y/?region=r&list-mtime=head", "s3://b/%2e%2e/x", "s3://u@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s)
		if err != nil {
			return
		}
		// Whatever parses names a bucket and a clean prefix, and prints
		// as a URL that parses to the same.
		if c.Bucket == "" || (c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/")) || strings.Contains(c.Prefix, "//") ||
			strings.HasPrefix(c.Prefix, "/") {
			t.Fatalf("ParseURL(%q) = %+v", s, c)
		}
		for _, elem := range strings.Split(strings.TrimSuffix(c.Prefix, "/"), "/") {
			if c.Prefix != "" && (elem == ".." || elem == ".") {
				t.Fatalf("ParseURL(%q): prefix %q has %q", s, c.Prefix, elem)
			}
		}
		again, err := ParseURL(c.String())
		if err != nil || again.Bucket != c.Bucket || again.Prefix != c.Prefix || again.Endpoint != c.Endpoint {
			t.Fatalf("ParseURL(%q).String() = %q: %+v, %v", s, c.String(), again, err)
		}
	})
}
