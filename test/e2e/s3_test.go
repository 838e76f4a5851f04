package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"
	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage/s3/s3test"
)

// s3URL is a storage setting for prefix on srv, with the credentials put
// in the environment that the rotary processes inherit. extra is more of
// the URL's query ("abort-uploads-after=1s").
func s3URL(t testing.TB, srv *s3test.Server, prefix, extra string) string {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	u := fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&path-style=true&tls=false", s3test.Bucket, prefix, srv.Endpoint)
	if extra != "" {
		u += "&" + extra
	}
	return u
}

// putKeys writes n small objects PREFIX+dir/fNNNNN straight into the
// bucket, 16 at a time: the listing and rename cases need more keys than
// a test should upload one FTP session at a time.
func putKeys(t testing.TB, srv *s3test.Server, prefix, dir string, n int) {
	t.Helper()
	began := time.Now()
	c := srv.Core()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				body := []byte(strconv.Itoa(i))
				key := fmt.Sprintf("%s%s/f%05d", prefix, dir, i)
				_, err := c.Client.PutObject(context.Background(), s3test.Bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
				if err != nil {
					failed.Store(fmt.Errorf("put %s: %w", key, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	t.Logf("put %d keys under %s/ in %v", n, dir, time.Since(began).Round(time.Millisecond))
}

// countKeys is how many objects the bucket holds under prefix.
func countKeys(t testing.TB, srv *s3test.Server, prefix string) int {
	t.Helper()
	n := 0
	for obj := range srv.Core().Client.ListObjects(context.Background(), s3test.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list %s: %v", prefix, obj.Err)
		}
		n++
	}
	return n
}

// objectSHA is the SHA-256 of the object key as the bucket holds it.
func objectSHA(t *testing.T, srv *s3test.Server, key string) string {
	t.Helper()
	obj, err := srv.Core().Client.GetObject(context.Background(), s3test.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return sha(b)
}

// TestS3RealClients is an S3-backed server driven by curl, lftp and
// Python's ftplib: round trips of 0 bytes, 1 byte and 50 MiB by SHA-256
// (and the object in the bucket equal to what was sent), REST+STOR resumed
// on both sides of S3's 5 MiB part minimum, APPE, MFMT then MDTM and MLSD,
// the rename of a folder of 1,000 keys, and MLSD of 10,000 keys.
func TestS3RealClients(t *testing.T) {
	srv := s3test.Require(t)
	prefix := srv.Prefix(t)
	storage := s3URL(t, srv, prefix, "")
	putKeys(t, srv, prefix, "thousand", 1000)
	putKeys(t, srv, prefix, "many", 10000)

	pp := freePorts(t, 10, "127.0.0.1")
	addr := pp.ctlOn("127.0.0.1")
	serve := start(t, "serve", []string{addr}, "serve", "--listen", addr, "--root", t.TempDir(), "--storage", storage,
		"--user", "u:p", "--passive-ports", pp.passive())

	work := t.TempDir()
	sizes := map[string]int{"empty": 0, "one": 1, "big": 50 << 20}
	for name, n := range sizes {
		if err := os.WriteFile(filepath.Join(work, name+".bin"), content(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url := "ftp://u:p@" + addr + "/"

	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Fatal("curl is not installed (scripts/install-test-deps.sh installs it)")
		}
		curl := func(args ...string) []byte {
			t.Helper()
			out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "120"}, args...)...).Output()
			if err != nil {
				t.Fatalf("curl %v: %v", args, err)
			}
			return out
		}
		for name, n := range sizes {
			src := filepath.Join(work, name+".bin")
			curl("--ftp-create-dirs", "-T", src, url+"curl/"+name+".bin")
			got := curl(url + "curl/" + name + ".bin")
			if len(got) != n || sha(got) != sha(content(n)) {
				t.Errorf("curl round trip of %s: %d bytes back, sha256 differs: %v", name, len(got), sha(got) != sha(content(n)))
			}
			if s := objectSHA(t, srv, prefix+"curl/"+name+".bin"); s != sha(content(n)) {
				t.Errorf("the bucket's curl/%s.bin differs from what curl sent", name)
			}
		}
		// APPE, and an upload resumed with -C - (curl asks SIZE, then
		// APPEs the rest): 6 MiB kept, over S3's 5 MiB part minimum.
		data := content(9 << 20)
		first := filepath.Join(work, "first")
		rest := filepath.Join(work, "rest")
		os.WriteFile(first, data[:6<<20], 0o644)
		os.WriteFile(rest, data[6<<20:], 0o644)
		curl("-T", first, url+"curl/appe.bin")
		curl("--append", "-T", rest, url+"curl/appe.bin")
		if got := curl(url + "curl/appe.bin"); sha(got) != sha(data) {
			t.Errorf("curl APPE: %d bytes back, want %d equal by sha256", len(got), len(data))
		}
		whole := filepath.Join(work, "whole")
		os.WriteFile(whole, data, 0o644)
		curl("-T", first, url+"curl/resume.bin")
		curl("-C", "-", "-T", whole, url+"curl/resume.bin")
		if got := curl(url + "curl/resume.bin"); sha(got) != sha(data) {
			t.Errorf("curl -C - upload: %d bytes back, want %d equal by sha256", len(got), len(data))
		}
	})

	t.Run("ftplib", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Fatal("python3 is not installed (scripts/install-test-deps.sh installs it)")
		}
		cmd := exec.Command("python3", "testdata/s3_ftplib.py", "127.0.0.1", strconv.Itoa(pp.ctl), work)
		out, err := cmd.CombinedOutput()
		t.Logf("ftplib:\n%s", out)
		if err != nil {
			t.Fatalf("ftplib cases failed: %v", err)
		}
		if n := countKeys(t, srv, prefix+"renamed/"); n != 1000 {
			t.Errorf("after RNFR thousand RNTO renamed the bucket holds %d keys under renamed/, want 1000", n)
		}
		if n := countKeys(t, srv, prefix+"thousand/"); n != 0 {
			t.Errorf("after the rename %d keys are left under thousand/", n)
		}
	})

	t.Run("lftp", func(t *testing.T) {
		if _, err := exec.LookPath("lftp"); err != nil {
			t.Fatal("lftp is not installed (scripts/install-test-deps.sh installs it)")
		}
		dir := t.TempDir()
		// A resumed upload: put -c of a file whose first 2 MiB (under S3's
		// part minimum) are already there sends REST 2097152 and STOR.
		data := content(7<<20 + 5)
		os.WriteFile(filepath.Join(dir, "part.bin"), data[:2<<20], 0o644)
		os.WriteFile(filepath.Join(dir, "resume.bin"), data, 0o644)
		lftp := func(cmds string) string {
			t.Helper()
			cmd := exec.Command("lftp", "-u", "u,p", "-p", strconv.Itoa(pp.ctl), "-e",
				"set ftp:passive-mode on; set net:max-retries 1; set net:timeout 20; set ftp:ssl-allow no; "+cmds+"; bye", "127.0.0.1")
			cmd.Env = append(os.Environ(), "HOME="+dir)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("lftp %q: %v\n%s", cmds, err, out)
			}
			return string(out)
		}
		for name := range sizes {
			lftp(fmt.Sprintf("mkdir -p lftp; put %s -o lftp/%s.bin; get lftp/%s.bin -o %s",
				filepath.Join(work, name+".bin"), name, name, filepath.Join(dir, "got-"+name+".bin")))
			if got, _ := os.ReadFile(filepath.Join(dir, "got-"+name+".bin")); len(got) != sizes[name] || sha(got) != sha(content(sizes[name])) {
				t.Errorf("lftp round trip of %s: %d bytes back, want %d equal by sha256", name, len(got), sizes[name])
			}
		}
		lftp("put part.bin -o lftp/resume.bin")
		lftp("put -c resume.bin -o lftp/resume.bin; get lftp/resume.bin -o got-resume.bin")
		// The server's transfer line: only the missing bytes were sent.
		if want := fmt.Sprintf("cmd=STOR path=/lftp/resume.bin bytes=%d ", len(data)-2<<20); !strings.Contains(serve.out.String(), want) {
			t.Errorf("lftp put -c did not resume after the 2 MiB kept (no %q in the server's log)", want)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "got-resume.bin")); sha(got) != sha(data) {
			t.Errorf("lftp put -c: %d bytes back, want %d equal by sha256", len(got), len(data))
		}
		out := lftp("cls -1 many")
		if n := strings.Count(out, "\n"); n != 10000 {
			t.Errorf("lftp cls of many/ printed %d lines, want 10000", n)
		}
	})
}

// blockingReader gives n bytes of content, then blocks until release is
// closed and fails: an upload that is still running when its server is
// killed.
type blockingReader struct {
	r       io.Reader
	read    atomic.Int64
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	if err == io.EOF {
		<-b.release
		return n, fmt.Errorf("the test stopped the upload")
	}
	return n, err
}

// uploadsOf lists the bucket's incomplete multipart uploads of key.
func uploadsOf(t *testing.T, srv *s3test.Server, key string) []minio.ObjectMultipartInfo {
	t.Helper()
	res, err := srv.Core().ListMultipartUploads(context.Background(), s3test.Bucket, key, "", "", "", 1000)
	if err != nil {
		t.Fatalf("list multipart uploads of %s: %v", key, err)
	}
	var ups []minio.ObjectMultipartInfo
	for _, u := range res.Uploads {
		if u.Key == key {
			ups = append(ups, u)
		}
	}
	return ups
}

// TestS3KilledDuringUpload: `kill -9` of an S3-backed server in the middle
// of a 200 MiB STOR that replaces a file. The old object is intact (nothing
// is written under the key before CompleteMultipartUpload), and the
// multipart upload the killed server left behind is aborted when the
// server starts again.
func TestS3KilledDuringUpload(t *testing.T) {
	srv := s3test.Require(t)
	prefix := srv.Prefix(t)
	storage := s3URL(t, srv, prefix, "abort-uploads-after=1s")
	pp := freePorts(t, 4, "127.0.0.1")
	addr := pp.ctlOn("127.0.0.1")
	args := []string{"serve", "--listen", addr, "--root", t.TempDir(), "--storage", storage, "--user", "u:p", "--passive-ports", pp.passive()}
	serve := start(t, "serve", []string{addr}, args...)

	old := content(1<<20 + 3)
	c, err := dialFTP(t, addr, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("file.bin", bytes.NewReader(old)); err != nil {
		t.Fatalf("STOR of the old file: %v", err)
	}

	// 200 MiB announced, 100 MiB sent, then the sender waits: the server
	// is busy with the upload's parts when it is killed.
	body := &blockingReader{r: io.LimitReader(bytes.NewReader(content(100<<20)), 100<<20), release: make(chan struct{})}
	stored := make(chan error, 1)
	go func() { stored <- c.Stor("file.bin", body) }()
	key := prefix + "file.bin"
	deadline := time.Now().Add(60 * time.Second)
	for body.read.Load() < 100<<20 || len(uploadsOf(t, srv, key)) == 0 {
		if time.Now().After(deadline) {
			close(body.release)
			t.Fatalf("after 60 s: %d bytes sent, %d multipart uploads of %s", body.read.Load(), len(uploadsOf(t, srv, key)), key)
		}
		time.Sleep(20 * time.Millisecond)
	}
	serve.kill() // SIGKILL
	close(body.release)
	select {
	case err := <-stored:
		if err == nil {
			t.Fatal("the STOR the server was killed in succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the client's STOR did not end within 30 s of the kill")
	}
	c.Quit()

	if got := objectSHA(t, srv, key); got != sha(old) {
		t.Fatal("after kill -9 during its replacement the object differs from the old file")
	}
	left := uploadsOf(t, srv, key)
	if len(left) != 1 {
		t.Fatalf("after kill -9: %d incomplete multipart uploads of %s, want the killed one", len(left), key)
	}
	parts, err := srv.Core().ListObjectParts(context.Background(), s3test.Bucket, key, left[0].UploadID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the killed upload left %d parts", len(parts.ObjectParts))

	// abort-uploads-after=1s: the upload is older than that at the
	// restart, which aborts it.
	time.Sleep(time.Until(left[0].Initiated.Add(1500 * time.Millisecond)))
	serve = start(t, "serve-again", []string{addr}, args...)
	if !serve.out.WaitForText(30*time.Second, "aborted incomplete uploads") {
		t.Fatalf("the restarted server did not abort the killed upload:\n%s", serve.out.String())
	}
	if n := len(uploadsOf(t, srv, key)); n != 0 {
		t.Fatalf("after the restart %d multipart uploads of %s are left", n, key)
	}
	c, err = dialFTP(t, addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("file.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || sha(got) != sha(old) {
		t.Fatalf("RETR after the restart: %d bytes, %v; want the old file", len(got), err)
	}
}

// startTwoS3Nodes starts nodes A (127.0.0.11) and B (127.0.0.12) of
// two-servers-rotary.ios on storage, each with half of a free passive
// range, and writes that file for them: the nodes, the gateway's config
// file and the gateway's control address (on 127.0.0.2).
func startTwoS3Nodes(tb testing.TB, storage string) (nodes []*proc, cfg, gateway string) {
	tb.Helper()
	pp := freePorts(tb, 21, "127.0.0.2", "127.0.0.11", "127.0.0.12")
	mid := pp.lo + 10
	for i, s := range []struct{ addr, ports string }{
		{pp.ctlOn("127.0.0.11"), fmt.Sprintf("%d-%d", pp.lo, mid)},
		{pp.ctlOn("127.0.0.12"), fmt.Sprintf("%d-%d", mid+1, pp.hi)},
	} {
		nodes = append(nodes, start(tb, fmt.Sprintf("node-%c", 'A'+i), []string{s.addr}, "serve", "--listen", s.addr,
			"--root", tb.TempDir(), "--storage", storage, "--user", "u:p", "--public-ip", "127.0.0.2", "--passive-ports", s.ports))
	}
	cfg = iosConfig(tb, "two-servers-rotary.ios", "eq 2121", "eq "+strconv.Itoa(pp.ctl), ":2121", ":"+strconv.Itoa(pp.ctl),
		"range 5500 5510", fmt.Sprintf("range %d %d", pp.lo, mid), "range 5511 5520", fmt.Sprintf("range %d %d", mid+1, pp.hi))
	return nodes, cfg, pp.ctlOn("127.0.0.2")
}

// TestS3TwoNodes: two `rotary serve` nodes with one configuration on one
// bucket, behind `rotary gateway` (two-servers-rotary.ios: control
// connections round-robin, a passive sub-range per node). A file uploaded
// through one node is listed and downloaded, equal by SHA-256, through the
// other at once; then 16 sessions each upload a file and a fresh session
// (on whichever node) lists and fetches it.
func TestS3TwoNodes(t *testing.T) {
	srv := s3test.Require(t)
	nodes, cfg, gw := startTwoS3Nodes(t, s3URL(t, srv, srv.Prefix(t), ""))
	start(t, "gateway", []string{gw}, "gateway", "--config", cfg, "--admin", "")

	// nodeOf is the node whose log has a transfer line for cmd and path.
	nodeOf := func(cmd, path string) int {
		want := "cmd=" + cmd + " path=/" + path + " "
		for i, n := range nodes {
			if n.out.WaitFor(2*time.Second, func(out string) bool { return strings.Contains(out, want) }) {
				return i
			}
		}
		return -1
	}
	login := func() *ftpc.ServerConn {
		t.Helper()
		c, err := dialFTP(t, gw, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("u", "p"); err != nil {
			t.Fatal(err)
		}
		return c
	}

	data := content(9<<20 + 1) // two parts of a multipart upload
	c := login()
	if err := c.Stor("from-a.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR through the gateway: %v", err)
	}
	c.Quit()
	up := nodeOf("STOR", "from-a.bin")
	if up < 0 {
		t.Fatal("no node logged the STOR")
	}
	// Control connections go round-robin: within a few sessions one lands
	// on the other node, and lists and downloads the file at once.
	down := -1
	for try := 0; try < 4 && down != 1-up; try++ {
		c := login()
		entries, err := c.List("")
		if err != nil {
			t.Fatalf("LIST through the gateway: %v", err)
		}
		listed := false
		for _, e := range entries {
			listed = listed || e.Name == "from-a.bin" && e.Size == uint64(len(data))
		}
		if !listed {
			t.Fatalf("LIST through the gateway (try %d) lacks from-a.bin of %d bytes: %+v", try, len(data), entries)
		}
		r, err := c.Retr("from-a.bin")
		if err != nil {
			t.Fatalf("RETR through the gateway: %v", err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		c.Quit()
		if err != nil || sha(got) != sha(data) {
			t.Fatalf("RETR through the gateway: %d bytes, %v, want %d equal by sha256", len(got), err, len(data))
		}
		if nodes[1-up].out.WaitFor(2*time.Second, func(out string) bool { return strings.Contains(out, "cmd=RETR path=/from-a.bin ") }) {
			down = 1 - up
		}
	}
	if down != 1-up {
		t.Fatalf("no session reached the other node (%s uploaded); round robin should have given it one", nodes[up].name)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("par-%02d.bin", i)
			want := content(256<<10 + i)
			c, err := dialFTP(t, gw, "")
			if err == nil {
				err = c.Login("u", "p")
			}
			if err == nil {
				err = c.Stor(name, bytes.NewReader(want))
				c.Quit()
			}
			var got []byte
			if err == nil {
				c, err = dialFTP(t, gw, "")
			}
			if err == nil {
				defer c.Quit()
				err = c.Login("u", "p")
			}
			if err == nil {
				var r io.ReadCloser
				if r, err = c.Retr(name); err == nil {
					got, err = io.ReadAll(r)
					r.Close()
				}
			}
			if err == nil && sha(got) != sha(want) {
				err = fmt.Errorf("%s: %d bytes back, want %d", name, len(got), len(want))
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, n := range nodes {
		if c := strings.Count(n.out.String(), "msg=transfer"); c < 8 {
			t.Errorf("%s logged %d transfers; round robin should give each node about half", n.name, c)
		}
	}
}
