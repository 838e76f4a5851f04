package ftp_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// Regression tests for defects found in review.

// slowRead reads d in small pieces with pauses shorter than the data
// timeout, so the transfer keeps moving but much slower than the link.
func slowRead(t *testing.T, d net.Conn, piece int, pause time.Duration) int {
	t.Helper()
	buf := make([]byte, piece)
	total := 0
	for {
		n, err := d.Read(buf)
		total += n
		if err != nil {
			return total
		}
		time.Sleep(pause)
	}
}

// A slow but steady transfer is not a stalled one, on the zero-copy path
// and on the user-space (TYPE A) path.
func TestSlowTransferIsNotStalled(t *testing.T) {
	ts := startServer(t, 4, func(s *ftp.Server) { s.DataTimeout = 400 * time.Millisecond })
	// 1.2 MB: over blockingSendMin, so TYPE I takes the blocking sendfile.
	data := []byte(strings.Repeat("line of text\n", 95000))
	writeFile(t, filepath.Join(ts.root, "slow.txt"), data)
	r := ts.raw(t)
	r.Login("u", "p")
	for _, mode := range []string{"I", "A"} {
		r.Must(200, "TYPE %s", mode)
		d := r.EPSV()
		r.Must(150, "RETR slow.txt")
		// About 48 kB every 50 ms: about 1 MB/s, for more than twice the
		// data timeout, with no pause near the timeout.
		got := slowRead(t, d, 48<<10, 50*time.Millisecond)
		if code, msg := r.Read(); code != 226 {
			t.Fatalf("TYPE %s slow download: %d %q after %d bytes", mode, code, msg, got)
		}
	}
}

// Commands sent during a transfer queue behind it, in order, and do not
// stop the server from hearing ABOR.
func TestQueuedCommandsDoNotBlockABOR(t *testing.T) {
	ts := startServer(t, 4, nil)
	r := ts.raw(t)
	r.Login("u", "p")
	startBigTransfer(t, ts, r)
	// NOOP must wait for the transfer; ABOR right behind it acts at once.
	fmt.Fprintf(r.Net(), "NOOP\r\nABOR\r\n")
	for _, want := range []int{426, 226, 200} {
		if code, msg := r.Read(); code != want {
			t.Fatalf("got %d %q, want %d (transfer aborted, ABOR answered, then the queued NOOP)", code, msg, want)
		}
	}
	r.Must(257, "PWD")
}

// ABOR is heard behind any number of queued commands: the loop never
// stops reading while a transfer runs (it used to stop after 32).
func TestABORHeardBehindManyQueuedCommands(t *testing.T) {
	ts := startServer(t, 4, nil)
	r := ts.raw(t)
	r.Login("u", "p")
	startBigTransfer(t, ts, r)
	const n = 200
	fmt.Fprintf(r.Net(), "%sABOR\r\n", strings.Repeat("NOOP\r\n", n))
	r.Expect(426)
	r.Expect(226)
	for i := 0; i < n; i++ {
		r.Expect(200)
	}
	r.Must(257, "PWD")
}

// A client that pipelines past the queue's bound loses the session with a
// 421, rather than making the server hold its commands without limit.
func TestTooManyQueuedCommandsEndTheSession(t *testing.T) {
	ts := startServer(t, 4, nil)
	r := ts.raw(t)
	r.Login("u", "p")
	startBigTransfer(t, ts, r)
	fmt.Fprint(r.Net(), strings.Repeat("NOOP\r\n", 300))
	r.Expect(426) // the transfer is aborted first
	if code, msg := r.Read(); code != 421 || !strings.Contains(msg, "queued") {
		t.Fatalf("got %d %q, want 421 about the queue", code, msg)
	}
	waitFor(t, "the session to end", func() bool { return ts.srv.SessionCount() == 0 })
}

func TestPipelinedCommandsKeepTheirOrder(t *testing.T) {
	ts := startServer(t, 4, nil)
	writeFile(t, filepath.Join(ts.root, "x.txt"), []byte("x"))
	r := ts.raw(t)
	r.Login("u", "p")
	d := r.EPSV()
	fmt.Fprintf(r.Net(), "RETR x.txt\r\nPWD\r\nSYST\r\nNOOP\r\n")
	io.ReadAll(d)
	for _, want := range []int{150, 226, 257, 215, 200} {
		if code, msg := r.Read(); code != want {
			t.Fatalf("got %d %q, want %d", code, msg, want)
		}
	}
}

// Close ends a session whose transfer is stalled behind a queued command.
func TestCloseEndsStalledTransfer(t *testing.T) {
	ts := startServer(t, 4, nil)
	r := ts.raw(t)
	r.Login("u", "p")
	startBigTransfer(t, ts, r)
	// STAT is answered at once, after the loop has read (and queued) the
	// NOOP before it: no sleep needed to know the NOOP waits.
	fmt.Fprintf(r.Net(), "NOOP\r\n")
	r.Must(213, "STAT")
	ts.srv.Close()
	waitFor(t, "sessions to end", func() bool { return ts.srv.SessionCount() == 0 })
}

// A banned address cannot keep guessing on connections it opened before
// the ban.
func TestBanCheckedAtPASS(t *testing.T) {
	var banned atomic.Bool
	ts := startServer(t, 2, func(s *ftp.Server) {
		s.ConnFilter = func(ftp.ConnInfo) error {
			if banned.Load() {
				return errors.New("Banned")
			}
			return nil
		}
	})
	r := ts.raw(t) // opened before the ban
	r.Must(331, "USER u")
	banned.Store(true)
	r.Must(421, "PASS p")
}

// After REIN, a session older than the login timeout can still log in.
func TestREINRestartsLoginTimeout(t *testing.T) {
	ts := startServer(t, 2, func(s *ftp.Server) { s.LoginTimeout = 300 * time.Millisecond })
	r := ts.raw(t)
	r.Login("u", "p")
	time.Sleep(500 * time.Millisecond)
	r.Must(220, "REIN")
	r.Must(331, "USER u")
	r.Must(230, "PASS p")
}

// PassiveAddress may change in Update while sessions send PASV (-race).
func TestUpdatePassiveAddressRace(t *testing.T) {
	ts := startServer(t, 4, nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%2)})
			ts.srv.Update(func(s *ftp.Server) { s.PassiveAddress = func(_, _ netip.Addr) netip.Addr { return a } })
		}
	}()
	r := ts.raw(t)
	r.Login("u", "p")
	for i := 0; i < 20; i++ {
		r.Must(227, "PASV")
	}
	close(stop)
	<-done
}

func TestRMDNotEmpty(t *testing.T) {
	ts := startServer(t, 2, nil)
	writeFile(t, filepath.Join(ts.root, "d", "f"), []byte("x"))
	r := ts.raw(t)
	r.Login("u", "p")
	if msg := r.Must(550, "RMD d"); msg != "Directory not empty" {
		t.Fatalf("RMD of a non-empty folder: %q", msg)
	}
}
