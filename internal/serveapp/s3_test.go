package serveapp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"
	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/storage/s3/s3test"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// s3Storage is the storage setting of a fresh prefix on srv (or on
// endpoint), with the credentials in the environment.
func s3Storage(t *testing.T, srv *s3test.Server, endpoint, bucket string) (url, prefix string) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	if endpoint == "" {
		endpoint = srv.Endpoint
	}
	if bucket == "" {
		bucket = s3test.Bucket
	}
	prefix = srv.Prefix(t)
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&path-style=true&tls=false&abort-uploads-after=1h", bucket, prefix, endpoint), prefix
}

func sha(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/7919) ^ seed ^ byte(i*31)
	}
	return b
}

func retr(t *testing.T, c *ftpc.ServerConn, name string) []byte {
	t.Helper()
	r, err := c.Retr(name)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	return b
}

// An S3-backed server, through a real client: round trips of 0 bytes, 1
// byte and a few MiB (by SHA-256), REST+STOR resume on both sides of S3's
// 5 MiB part minimum, APPE, MFMT then MLSD, the rename of a folder of a
// few hundred keys, a users-file home as a sub-prefix, and the old object
// intact after an upload that was aborted or broke.
func TestS3StorageThroughAClient(t *testing.T) {
	srv := s3test.Require(t)
	url, prefix := s3Storage(t, srv, "", "")
	dir := t.TempDir()
	hash, err := auth.HashPassword("alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "users.toml"), []byte(fmt.Sprintf("[users.alice]\npassword = %q\nhome = \"alice\"\n", hash)), 0o600)
	started := time.Now()
	ta := startAppIn(t, dir, fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nusers-file = \"users.toml\"\nstorage = %q\npassive-ports = %q\n",
		url, passiveRange(8)))
	t.Logf("server on S3 started in %v", time.Since(started).Round(time.Millisecond))
	ta.Sync()
	if !strings.Contains(ta.log.String(), "storage=\""+strings.SplitN(url, "?", 2)[0]) {
		t.Errorf("the listening line does not name the storage:\n%s", ta.log.String())
	}
	addr := ta.addr(t)
	c, err := ftpc.Dial(addr, ftpc.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	core := srv.Core()

	t.Run("round trips", func(t *testing.T) {
		for _, n := range []int{0, 1, 11<<20 + 3} {
			payload := pattern(n, byte(n))
			name := fmt.Sprintf("/f%d.bin", n)
			if err := c.Stor(name, bytes.NewReader(payload)); err != nil {
				t.Fatalf("STOR %d bytes: %v", n, err)
			}
			if got := retr(t, c, name); sha(got) != sha(payload) {
				t.Errorf("%d bytes came back as %d, sha256 %s", n, len(got), sha(got)[:12])
			}
			if size, err := c.FileSize(name); err != nil || size != int64(n) {
				t.Errorf("SIZE %s = %d, %v", name, size, err)
			}
			if _, err := core.StatObject(context.Background(), s3test.Bucket, prefix+name[1:], minio.StatObjectOptions{}); err != nil {
				t.Errorf("no object %s%s: %v", prefix, name[1:], err)
			}
		}
	})

	t.Run("REST STOR and APPE", func(t *testing.T) {
		full := pattern(9<<20, 42)
		for _, cut := range []int{6 << 20, 1 << 20} { // over and under S3's 5 MiB part minimum
			if err := c.Stor("/resumed", bytes.NewReader(full[:cut])); err != nil {
				t.Fatal(err)
			}
			if err := c.StorFrom("/resumed", bytes.NewReader(full[cut:]), uint64(cut)); err != nil {
				t.Fatalf("REST %d + STOR: %v", cut, err)
			}
			if got := retr(t, c, "/resumed"); sha(got) != sha(full) {
				t.Errorf("resumed at %d: %d bytes, want %d", cut, len(got), len(full))
			}
			r, err := c.RetrFrom("/resumed", uint64(cut))
			if err != nil {
				t.Fatal(err)
			}
			tail, _ := io.ReadAll(r)
			r.Close()
			if !bytes.Equal(tail, full[cut:]) {
				t.Errorf("REST %d + RETR: %d bytes, want %d", cut, len(tail), len(full)-cut)
			}
		}
		if err := c.Stor("/appended", bytes.NewReader(full[:7<<20])); err != nil {
			t.Fatal(err)
		}
		if err := c.Append("/appended", bytes.NewReader(full[7<<20:])); err != nil {
			t.Fatalf("APPE: %v", err)
		}
		if err := c.Append("/new-by-appe", bytes.NewReader([]byte("fresh"))); err != nil {
			t.Fatalf("APPE of a new name: %v", err)
		}
		if got := retr(t, c, "/appended"); sha(got) != sha(full) {
			t.Errorf("appended: %d bytes, want %d", len(got), len(full))
		}
		if got := retr(t, c, "/new-by-appe"); string(got) != "fresh" {
			t.Errorf("APPE of a new name made %q", got)
		}
	})

	t.Run("MFMT then MLSD", func(t *testing.T) {
		when := time.Date(2009, 11, 10, 23, 0, 0, 0, time.UTC)
		if err := c.MakeDir("/timed"); err != nil {
			t.Fatal(err)
		}
		if err := c.Stor("/timed/a.txt", strings.NewReader("a")); err != nil {
			t.Fatal(err)
		}
		if !c.IsSetTimeSupported() {
			t.Fatal("MFMT not offered")
		}
		if err := c.SetTime("/timed/a.txt", when); err != nil {
			t.Fatalf("MFMT: %v", err)
		}
		entries, err := c.List("/timed")
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name != "a.txt" || !entries[0].Time.Equal(when) {
			for _, e := range entries {
				t.Logf("entry %q %v %v", e.Name, e.Type, e.Time)
			}
			t.Errorf("MLSD after MFMT does not show %v", when)
		}
		if got, err := c.GetTime("/timed/a.txt"); err != nil || !got.Equal(when) {
			t.Errorf("MDTM = %v, %v", got, err)
		}
	})

	t.Run("rename a folder of a few hundred keys", func(t *testing.T) {
		if err := c.MakeDir("/many"); err != nil {
			t.Fatal(err)
		}
		if err := c.MakeDir("/many/sub"); err != nil {
			t.Fatal(err)
		}
		const n = 300
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				key := fmt.Sprintf("%smany/%sk%03d", prefix, []string{"", "sub/"}[i%2], i)
				core.PutObject(context.Background(), s3test.Bucket, key, strings.NewReader(fmt.Sprint(i)), int64(len(fmt.Sprint(i))), "", "", minio.PutObjectOptions{})
			})
		}
		wg.Wait()
		start := time.Now()
		if err := c.Rename("/many", "/moved"); err != nil {
			t.Fatalf("RNFR/RNTO of the folder: %v", err)
		}
		t.Logf("RNFR/RNTO of a folder of %d keys took %v", n+2, time.Since(start).Round(time.Millisecond))
		top, err := c.List("/moved")
		if err != nil {
			t.Fatal(err)
		}
		sub, err := c.List("/moved/sub")
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != n/2+1 || len(sub) != n/2 {
			t.Errorf("after the rename /moved lists %d entries and /moved/sub %d, want %d and %d", len(top), len(sub), n/2+1, n/2)
		}
		if got := retr(t, c, "/moved/sub/k123"); string(got) != "123" {
			t.Errorf("/moved/sub/k123 reads %q", got)
		}
		if _, err := c.List("/many"); err == nil {
			t.Error("the old folder still lists")
		}
	})

	t.Run("aborted and broken uploads keep the old object", func(t *testing.T) {
		old := pattern(3<<20, 9)
		if err := c.Stor("/precious", bytes.NewReader(old)); err != nil {
			t.Fatal(err)
		}
		for _, how := range []string{"ABOR", "reset"} {
			r := dialCtl(t, addr)
			r.Login("u", "p")
			data := r.PASV()
			r.Must(150, "STOR /precious")
			if _, err := data.Write(pattern(12<<20, 1)); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "ABOR":
				r.Must(426, "ABOR")
				r.Expect(226)
			case "reset":
				data.(*net.TCPConn).SetLinger(0)
				data.Close()
				r.Expect(426)
			}
			if got := retr(t, c, "/precious"); sha(got) != sha(old) {
				t.Errorf("after %s the object reads %d bytes, want the old %d", how, len(got), len(old))
			}
			waitFor(t, "the aborted multipart upload to go", func() bool {
				res, err := core.ListMultipartUploads(context.Background(), s3test.Bucket, prefix+"precious", "", "", "", 10)
				return err == nil && len(res.Uploads) == 0
			})
		}
	})

	t.Run("replies to storage errors", func(t *testing.T) {
		r := dialCtl(t, addr)
		r.Login("u", "p")
		r.Must(550, "SIZE /missing")
		r.Must(550, "RETR /missing")
		r.Must(257, "MKD /full")
		r.Must(250, "CWD /full")
		r.Must(250, "CWD /")
		if err := c.Stor("/full/f", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		r.Must(550, "RMD /full")
		r.Must(550, "DELE /full")
		r.Must(550, "MKD /full")
		r.Must(550, "CWD /full/f")
		r.Must(502, "SITE CHMOD 644 /full/f")
		r.Must(250, "DELE /full/f")
		r.Must(250, "RMD /full")
	})

	t.Run("a users-file home is a sub-prefix", func(t *testing.T) {
		a, err := ftpc.Dial(addr, ftpc.DialWithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Quit()
		if err := a.Login("alice", "alice-pw"); err != nil {
			t.Fatal(err)
		}
		if err := a.Stor("/hers.txt", strings.NewReader("alice")); err != nil {
			t.Fatal(err)
		}
		if _, err := core.StatObject(context.Background(), s3test.Bucket, prefix+"alice/hers.txt", minio.StatObjectOptions{}); err != nil {
			t.Errorf("alice's file is not at %salice/hers.txt: %v", prefix, err)
		}
		if _, err := a.FileSize("/f1.bin"); err == nil {
			t.Error("alice sees the other user's files")
		}
	})
}

// When S3 keeps answering 503 SlowDown, the server still starts (with a
// warning) and commands that need storage are answered 451, after the
// client's retries.
func TestS3TransientErrorsAre451(t *testing.T) {
	srv := s3test.Require(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	}))
	defer slow.Close()
	url, _ := s3Storage(t, srv, strings.TrimPrefix(slow.URL, "http://"), "")
	ta := startApp(t, fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nstorage = %q\n", url))
	ta.Sync()
	if !strings.Contains(ta.log.String(), "does not answer yet") {
		t.Errorf("no warning about the storage at start:\n%s", ta.log.String())
	}
	r := dialCtl(t, ta.addr(t))
	r.Login("u", "p")
	start := time.Now()
	r.Must(451, "SIZE /f")
	r.Must(451, "MKD /d")
	t.Logf("two 451s after the retries in %v", time.Since(start).Round(time.Millisecond))
}

// A bucket that does not exist, or credentials it refuses, stop the start
// with the reason; rotary check says the same.
func TestS3StartRefusesABadBucket(t *testing.T) {
	srv := s3test.Require(t)
	for _, tc := range []struct {
		name, bucket, secret, want string
	}{
		{"missing bucket", "no-such-bucket", s3test.SecretKey, "file does not exist"},
		{"wrong secret", "", "not-the-secret", "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := s3Storage(t, srv, "", tc.bucket)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			cfg, _, err := config.Parse("rotary serve", "", []string{"--listen", "127.0.0.1:0", "--user", "u:p", "--storage", url,
				"--admin-listen", "", "--passive-ports", passiveRange(2)}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(cfg, Options{Stdout: io.Discard, Stderr: io.Discard})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error with %q", err, tc.want)
			}
			var out bytes.Buffer
			if n := Check(cfg, &out); n == 0 || !strings.Contains(out.String(), tc.want) {
				t.Errorf("Check found %d problems:\n%s", n, out.String())
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		url, _ := s3Storage(t, srv, "", "")
		cfg, _, err := config.Parse("rotary serve", "", []string{"--listen", "127.0.0.1:0", "--storage", url, "--admin-listen", "",
			"--passive-ports", passiveRange(2)}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if n := Check(cfg, &out); n != 0 || !strings.Contains(out.String(), "the bucket answers") {
			t.Errorf("Check found %d problems:\n%s", n, out.String())
		}
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		out.Reset()
		if n := Check(cfg, &out); n == 0 || !strings.Contains(out.String(), "AWS_ACCESS_KEY_ID") {
			t.Errorf("Check without credentials found %d problems:\n%s", n, out.String())
		}
	})
}

// s3-credentials-file: the profile of an AWS shared credentials file signs
// the requests in place of the environment (a wrong secret there does not
// matter), AWS_PROFILE picks another profile, and a missing file or a
// profile without keys stops the start naming the file.
func TestS3CredentialsFile(t *testing.T) {
	srv := s3test.Require(t)
	url, prefix := s3Storage(t, srv, "", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "from-env")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-from-env")
	t.Setenv("AWS_PROFILE", "")
	dir := t.TempDir()
	creds := filepath.Join(dir, "s3-credentials")
	os.WriteFile(creds, []byte(fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n[wrong]\naws_access_key_id = %s\naws_secret_access_key = nope\n\n[empty]\nregion = us-east-1\n",
		s3test.AccessKey, s3test.SecretKey, s3test.AccessKey)), 0o600)

	ta := startAppIn(t, dir, fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\nstorage = %q\ns3-credentials-file = \"s3-credentials\"\npassive-ports = %q\n",
		url, passiveRange(2)))
	c, err := ftpc.Dial(ta.addr(t), ftpc.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	payload := pattern(3<<20, 7)
	if err := c.Stor("/signed.bin", bytes.NewReader(payload)); err != nil {
		t.Fatalf("STOR with the file's credentials: %v", err)
	}
	obj, err := srv.Core().Client.StatObject(context.Background(), s3test.Bucket, prefix+"signed.bin", minio.StatObjectOptions{})
	if err != nil || obj.Size != int64(len(payload)) {
		t.Fatalf("the object in the bucket: %+v, %v", obj, err)
	}

	for _, tc := range []struct{ name, profile, file, want string }{
		{"wrong secret in the profile", "wrong", creds, "permission denied"},
		{"profile without keys", "empty", creds, "profile empty has no aws_access_key_id"},
		{"missing file", "", filepath.Join(dir, "absent"), "absent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_PROFILE", tc.profile)
			cfg, _, err := config.Parse("rotary serve", "", []string{"--listen", "127.0.0.1:0", "--user", "u:p", "--storage", url,
				"--s3-credentials-file", tc.file, "--admin-listen", "", "--passive-ports", passiveRange(2)}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := New(cfg, Options{Stdout: io.Discard, Stderr: io.Discard}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error with %q", err, tc.want)
			}
			var out bytes.Buffer
			if n := Check(cfg, &out); n == 0 || !strings.Contains(out.String(), tc.want) {
				t.Errorf("Check found %d problems:\n%s", n, out.String())
			}
		})
	}
}
