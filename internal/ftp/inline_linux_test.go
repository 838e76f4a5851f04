package ftp_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/storage"
)

// loopObserver records, for each transfer, whether it ended in the session's
// command loop (an inline transfer) or in a goroutine of its own.
type loopObserver struct {
	ftp.NopObserver
	mu     sync.Mutex
	inLoop map[string][]bool // path -> per transfer
	// onEnd, when set, runs in TransferEnded, before the transfer ends.
	onEnd func(inLoop bool)
}

func (o *loopObserver) TransferEnded(rec ftp.TransferRecord) {
	inLoop := strings.Contains(string(debug.Stack()), ".(*session).commandLoop")
	o.mu.Lock()
	o.inLoop[rec.Path] = append(o.inLoop[rec.Path], inLoop)
	onEnd := o.onEnd
	o.mu.Unlock()
	if onEnd != nil {
		onEnd(inLoop)
	}
}

// ended waits (at most 5 s) for n transfers of path to have ended, and
// returns what it has: TransferEnded comes after the final reply.
func (o *loopObserver) ended(path string, n int) []bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		o.mu.Lock()
		got := append([]bool(nil), o.inLoop[path]...)
		o.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
	}
}

// retrWhole downloads name in passive mode and checks that 150, want and
// 226 arrive.
func retrWhole(t *testing.T, r *rawConn, name string, want []byte) {
	t.Helper()
	data := r.PASV()
	r.Send("RETR %s", name)
	r.Expect(150)
	got, err := io.ReadAll(data)
	data.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("RETR %s: %d bytes (%v), want %d", name, len(got), err, len(want))
	}
	r.Expect(226)
}

// A small RETR whose data connection came before the command runs in the
// command loop, with no goroutine of its own, and every byte arrives.
// (Linux: elsewhere there is no non-blocking sendfile, and every RETR hands
// over.)
func TestSmallRETRRunsInline(t *testing.T) {
	obs := &loopObserver{inLoop: make(map[string][]bool)}
	ts := startServer(t, 2, func(s *ftp.Server) { s.Observer = obs })
	small := bytes.Repeat([]byte("inline "), 600)
	writeFile(t, filepath.Join(ts.root, "small.txt"), small)

	r := ts.raw(t)
	r.Login("u", "p")
	r.Must(200, "TYPE I")
	// The pool's accept may come after RETR on a loaded machine (the wait
	// for it is short): of ten, at least one must have run inline.
	const tries = 10
	for range tries {
		retrWhole(t, r, "small.txt", small)
	}
	ended := obs.ended("/small.txt", tries)
	inline := 0
	for _, in := range ended {
		if in {
			inline++
		}
	}
	if len(ended) != tries || inline == 0 {
		t.Errorf("small RETRs: %d ended, %d of them in the command loop; want %d, at least one inline", len(ended), inline, tries)
	}

}

// gateDriver's readers wait for open to be closed: a storage that answers
// only when the test lets it.
type gateDriver struct {
	storage.Driver
	open chan struct{}
}

type gateReader struct {
	io.ReadCloser
	open chan struct{}
}

func (r gateReader) Read(p []byte) (int, error) {
	<-r.open
	return r.ReadCloser.Read(p)
}

func (d gateDriver) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	rc, err := d.Driver.Open(ctx, name, offset)
	if err != nil {
		return nil, err
	}
	return gateReader{rc, d.open}, nil
}

// A small RETR that would wait (here its storage does not answer yet)
// hands over from the command loop to a goroutine of its own: STAT is
// answered while the transfer waits, and the file arrives whole after.
func TestInlineRETRHandsOverWhatWouldWait(t *testing.T) {
	obs := &loopObserver{inLoop: make(map[string][]bool)}
	ts := startServer(t, 2, func(s *ftp.Server) { s.Observer = obs })
	gate := make(chan struct{})
	ts.backend.wrap = func(d storage.Driver) storage.Driver { return gateDriver{d, gate} }
	small := bytes.Repeat([]byte("handed over "), 300)
	writeFile(t, filepath.Join(ts.root, "small.txt"), small)
	r := ts.raw(t)
	r.Login("u", "p")
	r.Must(200, "TYPE I")
	data := r.PASV()
	r.Send("RETR small.txt")
	r.Expect(150)
	if stat := r.Must(213, "STAT"); !strings.Contains(stat, "in progress") {
		t.Errorf("STAT during the waiting RETR: %q", stat)
	}
	close(gate)
	got, err := io.ReadAll(data)
	data.Close()
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("RETR small.txt: %d bytes (%v), want %d", len(got), err, len(small))
	}
	r.Expect(226)
	if ended := obs.ended("/small.txt", 1); len(ended) != 1 || ended[0] {
		t.Errorf("the waiting RETR ended in the command loop: %v, want once, in its own goroutine", ended)
	}
}

// A server that starts shutting down while an inline RETR runs lets it
// finish: the client gets its file, 226, one 421, and the end of the
// control connection.
func TestShutdownDuringInlineRETR(t *testing.T) {
	obs := &loopObserver{inLoop: make(map[string][]bool)}
	ts := startServer(t, 2, func(s *ftp.Server) { s.Observer = obs })
	small := bytes.Repeat([]byte("last file "), 200)
	writeFile(t, filepath.Join(ts.root, "small.txt"), small)
	idle := ts.raw(t)
	busy := ts.raw(t)
	busy.Login("u", "p")
	busy.Must(200, "TYPE I")
	shut := make(chan error, 1)
	obs.mu.Lock()
	obs.onEnd = func(inLoop bool) {
		if !inLoop {
			return // retried below until one runs inline
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			shut <- ts.srv.Shutdown(ctx)
		}()
		// The idle session's 421 says the shutdown has begun; the
		// transfer is still running (this is its TransferEnded).
		if code, msg, err := idle.Conn.Read("reply"); code != 421 {
			t.Errorf("idle session got %d %q (%v), want 421", code, msg, err)
		}
	}
	obs.mu.Unlock()
	for i := 0; ; i++ {
		retrWhole(t, busy, "small.txt", small)
		if ended := obs.ended("/small.txt", i+1); ended[len(ended)-1] {
			break
		}
		if i == 20 {
			t.Skip("no RETR ran inline in 20 tries (a loaded machine)")
		}
	}
	busy.Expect(421)
	busy.Net().SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := busy.Conn.ReadLine(); err == nil {
		t.Errorf("after 421: %q, want the end of the connection", line)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
