package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage"
	"github.com/rotary-ftp/rotary/internal/storage/s3"
	"github.com/rotary-ftp/rotary/internal/storage/s3/s3test"
	"github.com/rotary-ftp/rotary/internal/storage/storagetest"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

var ctx = context.Background()

// config is the URL of a fresh prefix on srv (or on endpoint, a proxy in
// front of it), with the test server's credentials.
func config(t *testing.T, srv *s3test.Server, endpoint, query string) s3.Config {
	t.Helper()
	if endpoint == "" {
		endpoint = srv.Endpoint
	}
	raw := fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&path-style=true&tls=false", s3test.Bucket, srv.Prefix(t), endpoint)
	if query != "" {
		raw += "&" + query
	}
	cfg, err := s3.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AccessKey, cfg.SecretKey = s3test.AccessKey, s3test.SecretKey
	return cfg
}

func newProvider(t *testing.T, cfg s3.Config) *s3.Provider {
	t.Helper()
	p, err := s3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func open(t *testing.T, p *s3.Provider, home string) storage.Driver {
	t.Helper()
	d, err := p.Open(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestDriverContract runs the table every driver passes (the local disk's
// too): each row on a prefix of its own.
func TestDriverContract(t *testing.T) {
	srv := s3test.Require(t)
	for _, mode := range []string{s3.ListMtimeMetadata, s3.ListMtimeHead} {
		t.Run(mode, func(t *testing.T) {
			p := newProvider(t, config(t, srv, "", "list-mtime="+mode))
			storagetest.Run(t, func(t *testing.T) storage.Driver {
				d, err := p.Open(ctx, strings.ReplaceAll(t.Name(), "/", "_"))
				if err != nil {
					t.Fatal(err)
				}
				return d
			})
		})
	}
	t.Run("NoConditionalWrites", func(t *testing.T) {
		p := newProvider(t, config(t, srv, "", "conditional-writes=false"))
		if p.Capabilities().Has(storage.CapExclusive) {
			t.Fatal("conditional-writes=false still offers exclusive creates")
		}
		storagetest.Run(t, func(t *testing.T) storage.Driver {
			d, err := p.Open(ctx, strings.ReplaceAll(t.Name(), "/", "_"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		})
	})
}

func put(t *testing.T, d storage.Driver, name string, data []byte) {
	t.Helper()
	u, err := d.Create(ctx, name, storage.Truncate, 0)
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	if err := u.Begin(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := u.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(ctx); err != nil {
		t.Fatalf("Commit(%s): %v", name, err)
	}
}

func get(t *testing.T, d storage.Driver, name string, offset int64) []byte {
	t.Helper()
	rc, err := d.Open(ctx, name, offset)
	if err != nil {
		t.Fatalf("Open(%s, %d): %v", name, offset, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// data is n bytes that differ from part to part.
func data(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/4093) + seed + byte(i)
	}
	return b
}

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// recorder is a proxy in front of MinIO that records the requests it
// passes (and can answer some itself, to play a failing server).
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []request
	// fail, when set, may answer a request instead of MinIO.
	fail func(r *http.Request) (status int, code string, ok bool)
	// delay holds each part upload this long (to see how many overlap).
	delay            time.Duration
	parts, peakParts atomic.Int32
}

type request struct {
	method, path, query, rng, copySource, copyRange string
}

func newRecorder(t *testing.T, srv *s3test.Server) *recorder {
	target, _ := url.Parse("http://" + srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cancelled requests are expected
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.log = append(rec.log, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Range"),
			r.Header.Get("X-Amz-Copy-Source"), r.Header.Get("X-Amz-Copy-Source-Range")})
		fail := rec.fail
		rec.mu.Unlock()
		if fail != nil {
			if status, code, ok := fail(r); ok {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(status)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
				return
			}
		}
		isPart := r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" && r.Header.Get("X-Amz-Copy-Source") == ""
		if isPart {
			n := rec.parts.Add(1)
			for {
				peak := rec.peakParts.Load()
				if n <= peak || rec.peakParts.CompareAndSwap(peak, n) {
					break
				}
			}
			time.Sleep(rec.delay)
			defer rec.parts.Add(-1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) endpoint() string { return strings.TrimPrefix(rec.srv.URL, "http://") }

// quiet waits until no request has reached the recorder for 200 ms (at
// most 5 s): a call ended by its context may have a request still on its
// way, which would be counted with the next call's.
func (rec *recorder) quiet() {
	last, since := -1, time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		rec.mu.Lock()
		n := len(rec.log)
		rec.mu.Unlock()
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= 200*time.Millisecond {
			return
		}
	}
}

func (rec *recorder) reset() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	l := rec.log
	rec.log = nil
	return l
}

// incomplete lists the multipart uploads of key (MinIO lists them by
// exact key only).
func incomplete(t *testing.T, srv *s3test.Server, key string) int {
	t.Helper()
	res, err := srv.Core().ListMultipartUploads(ctx, s3test.Bucket, key, "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Uploads)
}

// STOR streams as a multipart upload: parts go out while the data comes
// in, at most PartsInFlight at once, nothing is visible under the name
// until Commit, and Abort leaves the old object and no upload behind.
func TestUploadStreamsParts(t *testing.T) {
	srv := s3test.Require(t)
	rec := newRecorder(t, srv)
	rec.delay = 30 * time.Millisecond
	cfg := config(t, srv, rec.endpoint(), "")
	d := open(t, newProvider(t, cfg), "")
	key := cfg.Prefix + "big.bin"
	old := []byte("the old content")
	put(t, d, "/big.bin", old)

	payload := data(6*s3.PartSize+12345, 1)
	for _, commit := range []bool{false, true} {
		rec.peakParts.Store(0)
		u, err := d.Create(ctx, "/big.bin", storage.Truncate, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Begin(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for chunk := range slices.Chunk(payload, 100_000) {
			if _, err := u.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		// All but the last part are on their way or done; the name still
		// reads the old content.
		if got := get(t, d, "/big.bin", 0); !bytes.Equal(got, old) {
			t.Fatalf("before Commit the object reads %d bytes, want the old %d", len(got), len(old))
		}
		if n := incomplete(t, srv, key); n != 1 {
			t.Errorf("%d incomplete uploads of %s during the transfer, want 1", n, key)
		}
		if !commit {
			if err := u.Abort(); err != nil {
				t.Fatal(err)
			}
			if got := get(t, d, "/big.bin", 0); !bytes.Equal(got, old) {
				t.Errorf("after Abort the object reads %d bytes, want the old content", len(got))
			}
			if n := incomplete(t, srv, key); n != 0 {
				t.Errorf("%d incomplete uploads left after Abort", n)
			}
			continue
		}
		if err := u.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if got := get(t, d, "/big.bin", 0); sum(got) != sum(payload) {
			t.Errorf("after Commit: %d bytes, sha256 %s, want %d, %s", len(got), sum(got)[:12], len(payload), sum(payload)[:12])
		}
		if peak := rec.peakParts.Load(); peak < 2 || peak > s3.PartsInFlight {
			t.Errorf("at most %d parts were sent at once, want 2..%d", peak, s3.PartsInFlight)
		}
	}
	if fi, err := d.Stat(ctx, "/big.bin"); err != nil || fi.Size() != int64(len(payload)) {
		t.Errorf("Stat = %v, %v", fi, err)
	}
}

// A small upload is one PutObject at Commit (and 0 bytes work).
func TestSmallUploads(t *testing.T) {
	srv := s3test.Require(t)
	rec := newRecorder(t, srv)
	d := open(t, newProvider(t, config(t, srv, rec.endpoint(), "")), "")
	for _, n := range []int{0, 1, s3.PartSize - 1, s3.PartSize, s3.PartSize + 1} {
		payload := data(n, 7)
		rec.reset()
		put(t, d, "/f", payload)
		if got := get(t, d, "/f", 0); sum(got) != sum(payload) {
			t.Errorf("%d bytes: read back %d bytes", n, len(got))
		}
		mpu := false
		for _, r := range rec.reset() {
			if strings.Contains(r.query, "uploads") {
				mpu = true
			}
		}
		if want := n >= s3.PartSize; mpu != want {
			t.Errorf("%d bytes: multipart upload %v, want %v", n, mpu, want)
		}
	}
}

// REST+STOR and APPE resume on the server: a kept part of 5 MiB or more is
// copied (UploadPartCopy, no download); a smaller one is downloaded with a
// ranged GET and sent with the first part.
func TestResumeIsServerSide(t *testing.T) {
	srv := s3test.Require(t)
	rec := newRecorder(t, srv)
	d := open(t, newProvider(t, config(t, srv, rec.endpoint(), "")), "")
	old := data(12<<20, 3)
	tests := []struct {
		name   string
		mode   storage.CreateMode
		offset int64
		more   int
		copied bool
	}{
		{"resume past 5 MiB", storage.Resume, 6 << 20, 3 << 20, true},
		{"resume at exactly 5 MiB", storage.Resume, s3.MinPartSize, 10, true},
		{"resume under 5 MiB", storage.Resume, 1 << 20, 9 << 20, false},
		{"resume at 1 byte", storage.Resume, 1, 5, false},
		{"append", storage.Append, 0, 2 << 20, true},
		{"resume at the end, nothing more", storage.Resume, int64(len(old)), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put(t, d, "/f", old)
			more := data(tt.more, 9)
			rec.reset()
			u, err := d.Create(ctx, "/f", tt.mode, tt.offset)
			if err != nil {
				t.Fatal(err)
			}
			var moved atomic.Int64
			if err := u.Begin(ctx, func(n int64) { moved.Add(n) }); err != nil {
				t.Fatal(err)
			}
			keep := tt.offset
			if tt.mode == storage.Append {
				keep = int64(len(old))
			}
			if moved.Load() != keep {
				t.Errorf("Begin reported %d bytes, want %d", moved.Load(), keep)
			}
			if _, err := u.ReadFrom(bytes.NewReader(more)); err != nil {
				t.Fatal(err)
			}
			if err := u.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			var copies, downloads int
			for _, r := range rec.reset() {
				switch {
				case r.copySource != "" && r.copyRange != "":
					copies++
				case r.method == http.MethodGet && strings.HasSuffix(r.path, "/f"):
					downloads++
					if want := fmt.Sprintf("bytes=0-%d", keep-1); r.rng != want {
						t.Errorf("the kept part's GET asked for %q, want %q", r.rng, want)
					}
				}
			}
			if tt.copied && (copies == 0 || downloads != 0) {
				t.Errorf("%d copy parts and %d downloads, want the kept part copied on the server", copies, downloads)
			}
			if !tt.copied && (copies != 0 || downloads != 1) {
				t.Errorf("%d copy parts and %d downloads, want one ranged download", copies, downloads)
			}
			want := append(append([]byte{}, old[:keep]...), more...)
			if got := get(t, d, "/f", 0); sum(got) != sum(want) {
				t.Errorf("content: %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

// A kept part that changed between Create and Begin is not mixed in.
func TestResumeOfAReplacedObject(t *testing.T) {
	srv := s3test.Require(t)
	d := open(t, newProvider(t, config(t, srv, "", "")), "")
	for _, size := range []int{1 << 20, 6 << 20} {
		put(t, d, "/f", data(size, 1))
		u, err := d.Create(ctx, "/f", storage.Append, 0)
		if err != nil {
			t.Fatal(err)
		}
		replaced := data(size, 2)
		put(t, d, "/f", replaced)
		if err := u.Begin(ctx, nil); !errors.Is(err, s3.ErrChanged) {
			t.Errorf("%d bytes: Begin after the object was replaced = %v, want ErrChanged", size, err)
		}
		u.Abort()
		if got := get(t, d, "/f", 0); sum(got) != sum(replaced) {
			t.Errorf("%d bytes: the replacing object was changed", size)
		}
	}
}

// RETR with REST is a ranged GET.
func TestOpenAtOffsetIsRanged(t *testing.T) {
	srv := s3test.Require(t)
	rec := newRecorder(t, srv)
	d := open(t, newProvider(t, config(t, srv, rec.endpoint(), "")), "")
	payload := data(3<<20, 5)
	put(t, d, "/f", payload)
	rec.reset()
	if got := get(t, d, "/f", 1<<20); !bytes.Equal(got, payload[1<<20:]) {
		t.Errorf("read %d bytes from 1 MiB, want %d", len(got), len(payload)-1<<20)
	}
	log := rec.reset()
	if len(log) != 1 || log[0].method != http.MethodGet || log[0].rng != "bytes=1048576-" {
		t.Errorf("Open at 1 MiB sent %+v, want one GET with Range bytes=1048576-", log)
	}
	// The reader is tied to its context.
	cctx, cancel := context.WithCancel(ctx)
	rc, err := d.Open(cctx, "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cancel()
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("reading after the context ended succeeded")
	}
}

// MFMT's time is kept in metadata and shows in Stat and in listings, by
// whichever way list-mtime says; with off, listings show the upload time.
func TestChtimesShowsInListings(t *testing.T) {
	srv := s3test.Require(t)
	when := time.Date(2001, 2, 3, 4, 5, 6, 789_000_000, time.UTC)
	for _, mode := range []string{s3.ListMtimeMetadata, s3.ListMtimeHead, s3.ListMtimeOff} {
		t.Run(mode, func(t *testing.T) {
			d := open(t, newProvider(t, config(t, srv, "", "list-mtime="+mode)), "")
			put(t, d, "/f.txt", []byte("x"))
			put(t, d, "/g.txt", []byte("y"))
			if err := d.Mkdir(ctx, "/dir"); err != nil {
				t.Fatal(err)
			}
			if err := d.Chtimes(ctx, "/f.txt", when); err != nil {
				t.Fatal(err)
			}
			if err := d.Chtimes(ctx, "/dir", when); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"/f.txt", "/dir"} {
				if fi, err := d.Stat(ctx, name); err != nil || !fi.ModTime().Equal(when) {
					t.Errorf("Stat(%s) after Chtimes: %v, %v", name, fi, err)
				}
			}
			if got := get(t, d, "/f.txt", 0); string(got) != "x" {
				t.Errorf("Chtimes changed the content: %q", got)
			}
			infos, err := d.ReadDir(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			for _, fi := range infos {
				switch fi.Name() {
				case "f.txt":
					if shows := fi.ModTime().Equal(when); shows != (mode != s3.ListMtimeOff) {
						t.Errorf("listed f.txt at %v (list-mtime=%s)", fi.ModTime(), mode)
					}
				case "g.txt":
					if time.Since(fi.ModTime()) > time.Hour {
						t.Errorf("listed g.txt at %v, want its upload time", fi.ModTime())
					}
				}
			}
			// A new upload is a new time.
			put(t, d, "/f.txt", []byte("z"))
			if fi, err := d.Stat(ctx, "/f.txt"); err != nil || fi.ModTime().Equal(when) {
				t.Errorf("Stat after a new upload: %v, %v; want the upload's time", fi, err)
			}
		})
	}
}

// A folder of a few hundred keys renames by a bounded concurrent copy;
// the old keys are gone and every new one reads its content.
func TestRenameFolder(t *testing.T) {
	srv := s3test.Require(t)
	cfg := config(t, srv, "", "")
	d := open(t, newProvider(t, cfg), "")
	for _, dir := range []string{"/a", "/a/sub", "/a/sub/deeper", "/a/empty"} {
		if err := d.Mkdir(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	const n = 300
	for i := range n {
		dir := []string{"/a", "/a/sub", "/a/sub/deeper"}[i%3]
		put(t, d, fmt.Sprintf("%s/f%03d", dir, i), []byte(fmt.Sprint(i)))
	}
	start := time.Now()
	if err := d.Rename(ctx, "/a", "/b"); err != nil {
		t.Fatal(err)
	}
	t.Logf("renamed a folder of %d objects and 4 markers in %v", n, time.Since(start).Round(time.Millisecond))
	if _, err := d.Stat(ctx, "/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(/a) after the rename: %v", err)
	}
	for i := range n {
		dir := []string{"/b", "/b/sub", "/b/sub/deeper"}[i%3]
		if got := get(t, d, fmt.Sprintf("%s/f%03d", dir, i), 0); string(got) != fmt.Sprint(i) {
			t.Fatalf("%s/f%03d reads %q", dir, i, got)
		}
	}
	if fi, err := d.Stat(ctx, "/b/empty"); err != nil || !fi.IsDir() {
		t.Errorf("the empty folder inside: %v, %v", fi, err)
	}
	left := 0
	for oi := range srv.Core().ListObjectsIter(ctx, s3test.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix + "a/", Recursive: true}) {
		if oi.Err == nil {
			left++
		}
	}
	if left != 0 {
		t.Errorf("%d keys left under the old name", left)
	}
	for _, tc := range []struct {
		from, to string
		want     error
	}{
		{"/b", "/b/sub/x", storage.ErrInvalidName}, // into itself
		{"/b/sub/deeper", "/b/empty", fs.ErrExist},
		{"/b/sub", "/nowhere/sub", fs.ErrNotExist},
		{"/b/f000", "/b/sub", storage.ErrIsDir},
	} {
		if err := d.Rename(ctx, tc.from, tc.to); !errors.Is(err, tc.want) {
			t.Errorf("Rename(%s, %s) = %v, want %v", tc.from, tc.to, err, tc.want)
		}
	}
}

// A folder rename whose copies fail leaves the source whole and removes
// the copies it made.
func TestRenameFolderFailureKeepsSource(t *testing.T) {
	srv := s3test.Require(t)
	rec := newRecorder(t, srv)
	cfg := config(t, srv, rec.endpoint(), "")
	d := open(t, newProvider(t, cfg), "")
	if err := d.Mkdir(ctx, "/a"); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		put(t, d, fmt.Sprintf("/a/f%02d", i), []byte("x"))
	}
	var copies atomic.Int32
	rec.fail = func(r *http.Request) (int, string, bool) {
		if r.Header.Get("X-Amz-Copy-Source") != "" && copies.Add(1) > 20 {
			return http.StatusForbidden, "AccessDenied", true
		}
		return 0, "", false
	}
	err := d.Rename(ctx, "/a", "/b")
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Rename with failing copies = %v, want fs.ErrPermission", err)
	}
	rec.fail = nil
	if infos, err := d.ReadDir(ctx, "/a"); err != nil || len(infos) != 40 {
		t.Errorf("the source after a failed rename: %d entries, %v", len(infos), err)
	}
	if _, err := d.Stat(ctx, "/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the copies of a failed rename were left: Stat(/b) = %v", err)
	}
}

// At start the Provider aborts the incomplete uploads under its prefix
// that are older than abort-uploads-after, and none elsewhere.
func TestAbortStaleUploads(t *testing.T) {
	srv := s3test.Require(t)
	cfg := config(t, srv, "", "abort-uploads-after=0")
	core := srv.Core()
	_, err := core.NewMultipartUpload(ctx, s3test.Bucket, cfg.Prefix+"killed/upload.bin", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := "elsewhere/" + strings.TrimSuffix(cfg.Prefix, "/") + ".bin"
	theirs, err := core.NewMultipartUpload(ctx, s3test.Bucket, other, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer core.AbortMultipartUpload(ctx, s3test.Bucket, other, theirs)
	p := newProvider(t, cfg)
	if n, err := p.AbortStaleUploads(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("AbortStaleUploads(1h) = %d, %v; want nothing that young aborted", n, err)
	}
	n, err := p.AbortStaleUploads(ctx, cfg.AbortUploadsAfter)
	if err != nil || n != 1 {
		t.Errorf("AbortStaleUploads(0) = %d, %v; want 1", n, err)
	}
	if k := incomplete(t, srv, cfg.Prefix+"killed/upload.bin"); k != 0 {
		t.Errorf("%d uploads left under the prefix", k)
	}
	if k := incomplete(t, srv, other); k != 1 {
		t.Errorf("the upload outside the prefix: %d, want it kept", k)
	}
}

// SlowDown and 5xx answers are retried with backoff; when they persist
// the error is ErrTransient (451). Denied and missing are answered at once.
func TestRetriesAndErrorKinds(t *testing.T) {
	srv := s3test.Require(t)
	rec := newRecorder(t, srv)
	cfg := config(t, srv, rec.endpoint(), "")
	d := open(t, newProvider(t, cfg), "")
	put(t, d, "/f", []byte("x"))

	var failures atomic.Int32
	rec.fail = func(*http.Request) (int, string, bool) {
		if failures.Add(-1) >= 0 {
			return http.StatusServiceUnavailable, "SlowDown", true
		}
		return 0, "", false
	}
	failures.Store(2)
	rec.reset()
	if _, err := d.Stat(ctx, "/f"); err != nil {
		t.Errorf("Stat after two SlowDowns: %v", err)
	}
	if n := len(rec.reset()); n != 3 {
		t.Errorf("%d requests for a Stat that met two SlowDowns, want 3", n)
	}

	failures.Store(1000)
	start := time.Now()
	_, err := d.Stat(ctx, "/f")
	if !errors.Is(err, s3.ErrTransient) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat while the server says SlowDown = %v, want ErrTransient", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("giving up took %v", took)
	}
	t.Logf("gave up after %d attempts in %v", 1000-failures.Load(), time.Since(start).Round(time.Millisecond))

	// The backoff ends with the context.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	start = time.Now()
	_, err = d.Stat(cctx, "/f")
	cancel()
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("Stat under a 100 ms context: %v after %v", err, time.Since(start))
	}
	rec.fail = nil

	// Wrong credentials: permission denied, not retried.
	bad := cfg
	bad.SecretKey = "wrong-secret-key"
	rec.quiet() // the cancelled Stat's last request may still be on its way
	rec.reset()
	if _, err := open(t, newProvider(t, bad), "").Stat(ctx, "/f"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Stat with a wrong secret key = %v, want fs.ErrPermission", err)
	}
	if n := len(rec.reset()); n != 1 {
		t.Errorf("%d requests for a denied Stat, want 1", n)
	}
	// A missing bucket: not found (and CheckBucket says so).
	gone := cfg
	gone.Bucket = "no-such-bucket"
	pg := newProvider(t, gone)
	if _, err := open(t, pg, "").Stat(ctx, "/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat in a missing bucket = %v, want fs.ErrNotExist", err)
	}
	if err := pg.CheckBucket(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckBucket of a missing bucket = %v", err)
	}
	if err := newProvider(t, cfg).CheckBucket(ctx); err != nil {
		t.Errorf("CheckBucket: %v", err)
	}
}

// Keys are made only from cleaned names under the home's prefix: no name
// reaches another home.
func TestNamesStayUnderTheHome(t *testing.T) {
	srv := s3test.Require(t)
	cfg := config(t, srv, "", "")
	p := newProvider(t, cfg)
	alice, bob := open(t, p, "alice"), open(t, p, "/bob")
	put(t, bob, "/secret", []byte("bob's"))
	for _, name := range []string{"/../bob/secret", "/./../../bob/secret", "/..", "/bob/../../bob/secret"} {
		if _, err := alice.Open(ctx, name, 0); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, storage.ErrIsDir) {
			t.Errorf("alice Open(%q) = %v, want not found inside her own home", name, err)
		}
	}
	put(t, alice, "/../../x", []byte("a"))
	if _, err := srv.Core().StatObject(ctx, s3test.Bucket, cfg.Prefix+"alice/x", minio.StatObjectOptions{}); err != nil {
		t.Errorf("alice's /../../x is not at %salice/x: %v", cfg.Prefix, err)
	}
	long := "/" + strings.Repeat("n", 1100)
	if _, err := alice.Create(ctx, long, storage.Truncate, 0); !errors.Is(err, storage.ErrInvalidName) {
		t.Errorf("Create of a name past S3's key length = %v, want ErrInvalidName", err)
	}
	if _, err := alice.Stat(ctx, "/\xffbad"); !errors.Is(err, storage.ErrInvalidName) {
		t.Errorf("Stat of a name that is not UTF-8 = %v, want ErrInvalidName", err)
	}
}

// Removing the last file of a folder that has no marker (made by another
// S3 client) keeps the folder, as a file system does.
func TestFolderOutlivesItsLastFile(t *testing.T) {
	srv := s3test.Require(t)
	cfg := config(t, srv, "", "")
	d := open(t, newProvider(t, cfg), "")
	if _, err := srv.Core().PutObject(ctx, s3test.Bucket, cfg.Prefix+"implicit/f", strings.NewReader("x"), 1, "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, "/implicit/f"); err != nil {
		t.Fatal(err)
	}
	if fi, err := d.Stat(ctx, "/implicit"); err != nil || !fi.IsDir() {
		t.Errorf("the folder after its last file went: %v, %v", fi, err)
	}
	if err := d.RemoveDir(ctx, "/implicit"); err != nil {
		t.Errorf("RemoveDir: %v", err)
	}
	if _, err := d.Stat(ctx, "/implicit"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat after RemoveDir: %v", err)
	}
}

// OpenDir pages through a folder larger than one listing page.
func TestListingPages(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 1,100 objects")
	}
	srv := s3test.Require(t)
	cfg := config(t, srv, "", "")
	d := open(t, newProvider(t, cfg), "")
	core := srv.Core()
	const n = 1100
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			core.PutObject(ctx, s3test.Bucket, fmt.Sprintf("%sf%04d", cfg.Prefix, i), strings.NewReader("x"), 1, "", "", minio.PutObjectOptions{})
		})
	}
	wg.Wait()
	dir, err := d.(storage.DirOpener).OpenDir(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	seen := map[string]bool{}
	for {
		batch, err := dir.Next(250)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range batch {
			seen[fi.Name()] = true
		}
	}
	if len(seen) != n {
		t.Errorf("listed %d names, want %d", len(seen), n)
	}
}

// BenchmarkReadDir lists a folder of 1,000 files (a tenth of them with an
// MFMT time) in each list-mtime mode: what a listing's times cost.
func BenchmarkReadDir(b *testing.B) {
	srv := s3test.Require(b)
	core := srv.Core()
	base := srv.Prefix(b)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range 1000 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			opts := minio.PutObjectOptions{}
			if i%10 == 0 {
				opts.UserMetadata = map[string]string{"Rotary-Mtime": "2001-02-03T04:05:06Z"}
			}
			core.PutObject(ctx, s3test.Bucket, fmt.Sprintf("%sdir/f%04d", base, i), strings.NewReader("x"), 1, "", "", opts)
		})
	}
	wg.Wait()
	for _, mode := range []string{s3.ListMtimeOff, s3.ListMtimeMetadata, s3.ListMtimeHead} {
		b.Run(mode, func(b *testing.B) {
			cfg, err := s3.ParseURL(fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&path-style=true&tls=false&list-mtime=%s", s3test.Bucket, base, srv.Endpoint, mode))
			if err != nil {
				b.Fatal(err)
			}
			cfg.AccessKey, cfg.SecretKey = s3test.AccessKey, s3test.SecretKey
			p, err := s3.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			d, _ := p.Open(ctx, "")
			defer d.Close()
			for b.Loop() {
				infos, err := d.ReadDir(ctx, "/dir")
				if err != nil || len(infos) != 1000 {
					b.Fatalf("ReadDir: %d entries, %v", len(infos), err)
				}
			}
		})
	}
}
