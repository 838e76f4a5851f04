package ftp_test

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/storage"
)

// recorder is an Observer that keeps every event.
type recorder struct {
	mu         sync.Mutex
	events     []string
	replies    []int
	progress   int64
	ended      []ftp.TransferRecord
	handshakes []error
	started    []ftp.TransferInfo
	opened     []ftp.SessionInfo
	closed     []ftp.SessionInfo
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) SessionOpened(s ftp.SessionInfo) {
	r.mu.Lock()
	r.opened = append(r.opened, s)
	r.mu.Unlock()
	r.add("opened")
}
func (r *recorder) SessionClosed(s ftp.SessionInfo) {
	r.mu.Lock()
	r.closed = append(r.closed, s)
	r.mu.Unlock()
	r.add("closed " + s.User)
}
func (r *recorder) LoginSucceeded(s ftp.SessionInfo) { r.add("login " + s.User) }
func (r *recorder) LoginFailed(s ftp.SessionInfo, user string, refused bool) {
	r.add("login failed " + user)
}
func (r *recorder) Replied(code int) {
	r.mu.Lock()
	r.replies = append(r.replies, code)
	r.mu.Unlock()
}
func (r *recorder) TLSHandshake(s ftp.SessionInfo, control bool, err error) {
	r.mu.Lock()
	r.handshakes = append(r.handshakes, err)
	r.mu.Unlock()
	if control {
		r.add("tls control")
	} else {
		r.add("tls data")
	}
}
func (r *recorder) TransferStarted(t ftp.TransferInfo) {
	r.mu.Lock()
	r.started = append(r.started, t)
	r.mu.Unlock()
	r.add("start " + t.Verb + " " + t.Path)
}
func (r *recorder) TransferProgress(t ftp.TransferInfo, delta int64) {
	r.mu.Lock()
	r.progress += delta
	r.mu.Unlock()
}
func (r *recorder) TransferEnded(rec ftp.TransferRecord) {
	r.mu.Lock()
	r.ended = append(r.ended, rec)
	r.mu.Unlock()
	r.add("end " + rec.Verb + " " + rec.Result)
}

func (r *recorder) has(e string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.events, e)
}

func TestObserverSeesSessionLoginsRepliesAndTransfers(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, 4, func(s *ftp.Server) { s.Observer = rec })
	data := randomBytes(3<<20 + 17)
	writeFile(t, filepath.Join(ts.root, "f.bin"), data)

	r := ts.raw(t)
	r.Must(331, "USER u")
	r.Must(530, "PASS wrong")
	r.Login("u", "p")
	d := r.EPSV()
	r.Must(150, "RETR f.bin")
	if got := readAll(t, d); len(got) != len(data) {
		t.Fatalf("RETR gave %d bytes, want %d", len(got), len(data))
	}
	r.Expect(226)
	r.Must(221, "QUIT")
	waitFor(t, "the session to close", func() bool { return rec.has("closed u") })

	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []string{"opened", "login failed u", "login u", "start RETR /f.bin", "end RETR ok", "closed u"}
	if !slices.Equal(rec.events, want) {
		t.Errorf("events %q, want %q", rec.events, want)
	}
	for _, code := range []int{220, 331, 530, 230, 229, 150, 226, 221} {
		if !slices.Contains(rec.replies, code) {
			t.Errorf("reply %d not observed (got %v)", code, rec.replies)
		}
	}
	if len(rec.started) != 1 || rec.started[0].Size != int64(len(data)) || rec.started[0].User != "u" || rec.started[0].Bytes != 0 {
		t.Errorf("TransferStarted %+v, want the file's size, the user and no bytes yet", rec.started)
	}
	if rec.progress != int64(len(data)) {
		t.Errorf("progress reported %d bytes, want %d", rec.progress, len(data))
	}
	if len(rec.ended) != 1 || rec.ended[0].Bytes != int64(len(data)) || !rec.ended[0].Complete || rec.ended[0].User != "u" {
		t.Errorf("TransferEnded %+v", rec.ended)
	}
	if len(rec.opened) != 1 || rec.opened[0].ID == 0 || rec.opened[0].ID != rec.closed[0].ID || rec.opened[0].State != ftp.StateLogin {
		t.Errorf("opened %+v closed %+v: want one session, same ID, opened before login", rec.opened, rec.closed)
	}
}

// Sessions lists who is connected, what they do and how far a transfer is.
func TestSessionsSnapshot(t *testing.T) {
	ts := startServer(t, 4, nil)
	anon := ts.raw(t) // connected, not logged in
	_ = anon
	r := ts.raw(t)
	r.Login("u", "p")
	// TYPE A is copied in user space, which reports every write; a
	// blocking sendfile reports per 64 MiB, and this client stops early.
	writeFile(t, filepath.Join(ts.root, "big.txt"), []byte(strings.Repeat("a line of text\n", 1<<20)))
	r.Must(200, "TYPE A")
	d := r.EPSV()
	r.Must(150, "RETR big.txt")
	if _, err := io.ReadFull(d, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}

	var list []ftp.SessionInfo
	waitFor(t, "the transfer's first bytes in the snapshot", func() bool {
		list = ts.srv.Sessions()
		return len(list) == 2 && list[1].Transfer != nil && list[1].Transfer.Bytes > 0
	})
	if list[0].State != ftp.StateLogin || list[0].User != "" {
		t.Errorf("first session %+v, want state login and no user", list[0])
	}
	busy := list[1]
	if busy.User != "u" || busy.State != ftp.StateTransfer || busy.Transfer.Verb != "RETR" ||
		busy.Transfer.Path != "/big.txt" || busy.Transfer.Size != -1 || busy.Transfer.Upload {
		t.Errorf("busy session %+v transfer %+v", busy, busy.Transfer)
	}
	if busy.Client.Addr().String() != "127.0.0.1" || busy.ID <= list[0].ID {
		t.Errorf("busy session client %v ID %d (first %d)", busy.Client, busy.ID, list[0].ID)
	}
	if idle := time.Since(busy.LastCommand); idle < 0 || idle > time.Minute {
		t.Errorf("last command %v ago", idle)
	}
	// ABOR while the data connection is still open: closing it first would
	// let the transfer fail on its own before ABOR arrives.
	r.Must(426, "ABOR")
	r.Expect(226)
	d.Close()
	waitFor(t, "the session to be idle", func() bool {
		l := ts.srv.Sessions()
		return len(l) == 2 && l[1].State == ftp.StateIdle && l[1].Transfer == nil
	})
}

func TestObserverSeesTLSHandshakes(t *testing.T) {
	rec := &recorder{}
	tsrv := startTLSServer(t, ftp.TLSOptions{}, func(s *ftp.Server) { s.Observer = rec })
	c := tsrv.tlsClient(t, false, tsrv.clientConfig(false))
	if _, err := c.List("/"); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	waitFor(t, "the session to close", func() bool { return rec.has("closed u") })
	if !rec.has("tls control") || !rec.has("tls data") {
		t.Errorf("events %q: want a control and a data handshake", rec.events)
	}
	for _, err := range rec.handshakes {
		if err != nil {
			t.Errorf("handshake error %v", err)
		}
	}
	// A client that gives up mid-handshake is reported as a failure.
	r := tsrv.raw(t)
	r.Must(234, "AUTH TLS")
	r.Net().Write([]byte("this is not a TLS client hello\r\n"))
	waitFor(t, "the failed handshake", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.ContainsFunc(rec.handshakes, func(e error) bool { return e != nil })
	})
}

// panicReader panics when the transfer reads it; Close is recorded.
type panicReader struct{ closed chan struct{} }

func (p *panicReader) Read([]byte) (int, error) { panic("test panic in a transfer") }
func (p *panicReader) Close() error             { close(p.closed); return nil }

type panicOpen struct {
	storage.Driver
	r *panicReader
}

func (p panicOpen) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	f, err := p.Driver.Open(ctx, name, offset)
	if err != nil {
		return nil, err
	}
	f.Close()
	return p.r, nil
}

// A panic inside a transfer still closes the file at once (it used to stay
// open until the session ended), answers 451, and the session goes on.
func TestPanicInTransferRunsFinish(t *testing.T) {
	pr := &panicReader{closed: make(chan struct{})}
	ts := startServer(t, 4, nil)
	ts.backend.wrap = func(d storage.Driver) storage.Driver { return panicOpen{d, pr} }
	writeFile(t, filepath.Join(ts.root, "f.txt"), []byte("hello"))
	r := ts.raw(t)
	r.Login("u", "p")
	d := r.EPSV()
	defer d.Close()
	r.Must(150, "RETR f.txt")
	r.Expect(451)
	select {
	case <-pr.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the file was not closed after the transfer panicked")
	}
	r.Must(200, "NOOP")
	if !strings.Contains(ts.logs.String(), "panic in transfer") {
		t.Error("the panic was not logged")
	}
}
