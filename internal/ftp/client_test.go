package ftp_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"
)

// Tests in this file drive the server with a real client, jlaffaye/ftp.

func TestClientRoundTrip(t *testing.T) {
	ts := startServer(t, 8, nil)
	for _, epsv := range []bool{true, false} {
		c := ts.client(t, ftpc.DialWithDisabledEPSV(!epsv))
		data := randomBytes(3<<20 + 17)
		if err := c.Stor("big.bin", bytes.NewReader(data)); err != nil {
			t.Fatalf("epsv=%v stor: %v", epsv, err)
		}
		r, err := c.Retr("big.bin")
		if err != nil {
			t.Fatalf("retr: %v", err)
		}
		got := readAll(t, r)
		r.Close()
		if sum(got) != sum(data) {
			t.Fatalf("epsv=%v: retrieved %d bytes differ from the %d stored", epsv, len(got), len(data))
		}
		onDisk, _ := os.ReadFile(filepath.Join(ts.root, "big.bin"))
		if sum(onDisk) != sum(data) {
			t.Fatal("file on disk differs")
		}
		size, err := c.FileSize("big.bin")
		if err != nil || size != int64(len(data)) {
			t.Fatalf("SIZE = %d, %v; want %d", size, err, len(data))
		}
	}
}

func TestClientResume(t *testing.T) {
	ts := startServer(t, 8, nil)
	c := ts.client(t)
	data := randomBytes(1 << 20)
	writeFile(t, filepath.Join(ts.root, "f.bin"), data)

	// REST + RETR gives the tail.
	r, err := c.RetrFrom("f.bin", 1000)
	if err != nil {
		t.Fatal(err)
	}
	tail := readAll(t, r)
	r.Close()
	if !bytes.Equal(tail, data[1000:]) {
		t.Fatalf("RETR from 1000: got %d bytes, want %d", len(tail), len(data)-1000)
	}

	// REST + STOR keeps the head and writes the rest.
	if err := c.Stor("up.bin", bytes.NewReader(data[:5000])); err != nil {
		t.Fatal(err)
	}
	if err := c.StorFrom("up.bin", bytes.NewReader(data[3000:]), 3000); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(ts.root, "up.bin")); !bytes.Equal(got, data) {
		t.Fatalf("REST+STOR result has %d bytes, want the original %d", len(got), len(data))
	}

	// APPE adds to the end.
	if err := c.Append("up.bin", bytes.NewReader([]byte("tail"))); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(ts.root, "up.bin")); !bytes.Equal(got, append(slices.Clone(data), "tail"...)) {
		t.Fatal("APPE result wrong")
	}

	// REST + APPE resumes at the offset, like REST + STOR.
	rc := ts.raw(t)
	rc.Login("u", "p")
	d := rc.EPSV()
	rc.Must(350, "REST 4")
	rc.Must(150, "APPE up.bin")
	d.Write([]byte("RESUMED"))
	d.Close()
	rc.Expect(226)
	if got, _ := os.ReadFile(filepath.Join(ts.root, "up.bin")); string(got) != string(data[:4])+"RESUMED" {
		t.Fatalf("REST 4 + APPE gave %d bytes", len(got))
	}

	// REST beyond the end: 554, nothing changes.
	if err := c.StorFrom("up.bin", bytes.NewReader([]byte("x")), 1<<30); err == nil {
		t.Fatal("REST beyond end + STOR succeeded")
	} else if !isCode(err, 554) {
		t.Fatalf("REST beyond end: %v, want 554", err)
	}
}

func isCode(err error, code int) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code == code
}

func TestClientDirectories(t *testing.T) {
	ts := startServer(t, 8, nil)
	c := ts.client(t)
	if err := c.MakeDir(`a "quoted" dir`); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDir(`a "quoted" dir`); err != nil {
		t.Fatal(err)
	}
	// RFC 959 appendix II doubles embedded quotes; jlaffaye/ftp returns them as sent.
	if dir, err := c.CurrentDir(); err != nil || strings.ReplaceAll(dir, `""`, `"`) != `/a "quoted" dir` {
		t.Fatalf("PWD = %q, %v", dir, err)
	}
	if err := c.Stor("x.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeDirToParent(); err != nil {
		t.Fatal(err)
	}
	entries, err := c.List(`a "quoted" dir`)
	if err != nil || len(entries) != 1 || entries[0].Name != "x.txt" || entries[0].Size != 1 {
		t.Fatalf("MLSD/LIST = %+v, %v", entries, err)
	}
	names, err := c.NameList(`a "quoted" dir`)
	if err != nil || len(names) != 1 {
		t.Fatalf("NLST = %v, %v", names, err)
	}
	if err := c.Rename(`a "quoted" dir/x.txt`, "y.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDir(`a "quoted" dir`); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("y.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("y.txt"); !isCode(err, 550) {
		t.Fatalf("second DELE: %v, want 550", err)
	}
	when := time.Date(2020, 5, 17, 10, 11, 12, 0, time.UTC)
	writeFile(t, filepath.Join(ts.root, "t.txt"), []byte("t"))
	if err := c.SetTime("t.txt", when); err != nil {
		t.Fatalf("MFMT: %v", err)
	}
	if got, err := c.GetTime("t.txt"); err != nil || !got.Equal(when) {
		t.Fatalf("MDTM = %v, %v; want %v", got, err, when)
	}
}

func TestClientPermissions(t *testing.T) {
	ts := startServer(t, 8, nil)
	ts.backend.anon = true
	writeFile(t, filepath.Join(ts.root, "pub.txt"), []byte("public"))
	for _, user := range []string{"anonymous", "ro"} {
		c, err := ftpc.Dial(ts.addr, ftpc.DialWithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		pass := "p"
		if user == "anonymous" {
			pass = "someone@example.org"
		}
		if err := c.Login(user, pass); err != nil {
			t.Fatalf("%s login: %v", user, err)
		}
		r, err := c.Retr("pub.txt")
		if err != nil {
			t.Fatalf("%s RETR: %v", user, err)
		}
		if got := readAll(t, r); string(got) != "public" {
			t.Fatalf("%s RETR got %q", user, got)
		}
		r.Close()
		denied := map[string]error{
			"STOR": c.Stor("new.txt", strings.NewReader("x")),
			"APPE": c.Append("pub.txt", strings.NewReader("x")),
			"DELE": c.Delete("pub.txt"),
			"MKD":  c.MakeDir("d"),
			"RNFR": c.Rename("pub.txt", "other.txt"),
		}
		for op, err := range denied {
			if !isCode(err, 550) {
				t.Errorf("%s %s: %v, want 550", user, op, err)
			}
		}
		c.Quit()
	}
	if _, err := os.Stat(filepath.Join(ts.root, "new.txt")); err == nil {
		t.Fatal("a read-only user created a file")
	}
}

func TestClientBadLogin(t *testing.T) {
	ts := startServer(t, 4, nil)
	c, err := ftpc.Dial(ts.addr, ftpc.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "wrong"); !isCode(err, 530) {
		t.Fatalf("wrong password: %v, want 530", err)
	}
	if err := c.Login("u", "p"); err != nil {
		t.Fatalf("retry with the right password: %v", err)
	}
}

// MLSD streams a folder larger than one read batch: a real client gets
// every entry once, with its facts; a file and a missing folder are
// answered before any data.
func TestMLSDStreamsLargeFolder(t *testing.T) {
	ts := startServer(t, 8, nil)
	const n = 1000
	want := map[string]int64{}
	for i := range n {
		name := fmt.Sprintf("file-%04d.txt", i)
		writeFile(t, filepath.Join(ts.root, "many", name), []byte(strings.Repeat("x", i%17)))
		want[name] = int64(i % 17)
	}
	c := ts.client(t)
	entries, err := c.List("many")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, e := range entries {
		if _, dup := got[e.Name]; dup {
			t.Errorf("%s listed twice", e.Name)
		}
		got[e.Name] = int64(e.Size)
	}
	if len(got) != n {
		t.Fatalf("%d entries, want %d", len(got), n)
	}
	for name, size := range want {
		if got[name] != size {
			t.Errorf("%s: size %d, want %d", name, got[name], size)
		}
	}
	r := ts.raw(t)
	r.Login("u", "p")
	r.EPSV()
	r.Must(501, "MLSD many/file-0001.txt")
	r.EPSV()
	r.Must(550, "MLSD nowhere")
	r.Must(200, "NOOP")
}
