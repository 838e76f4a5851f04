package passive

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An accept that fails for want of file descriptors (EMFILE) is logged and
// retried with a backoff, without a spin or a lost reservation: once
// descriptors are free again, the waiting connection is delivered.
func TestAcceptFailureBacksOff(t *testing.T) {
	p, logs := newTestPool(t, freeRange(t, 1))
	r := mustReserve(t, p, lo1, lo2)
	defer r.Release()
	c := mustDial(t, lo2, r)
	sendLine(t, c, "after EMFILE")

	release := exhaustFDs(t)
	if r.WaitReady(200 * time.Millisecond) {
		t.Fatal("delivered with no file descriptor left")
	}
	release()
	// Backing off from 5 ms, doubling: a handful of tries in 200 ms, not a spin.
	if n := strings.Count(logs.String(), "passive: accept failed"); n == 0 || n > 20 {
		t.Errorf("%d failed accepts logged in 200 ms, want a few (backoff):\n%s", n, logs.String())
	}
	if line, err := readLine(mustAccept(t, r)); err != nil || line != "after EMFILE" {
		t.Fatalf("after the descriptors were freed: read %q, %v", line, err)
	}
}

// Clearing a lingering listener's queue at Reserve can fail (no file
// descriptor for the accept): the reservation is still made and the failure
// is logged.
func TestSweepFailureLogged(t *testing.T) {
	p, logs := newTestPool(t, freeRange(t, 1, lo1))
	p.Linger = time.Hour
	r1 := mustReserve(t, p, lo1, lo2)
	c1 := mustDial(t, lo2, r1)
	mustAccept(t, r1).Close()
	c1.Close()
	r1.Release()
	stray := mustDial(t, lo2, r1)
	defer stray.Close()
	time.Sleep(20 * time.Millisecond) // the handshake ends in the queue

	exhaustFDs(t)
	r2, err := p.Reserve(lo1, lo2)
	if err != nil {
		t.Fatalf("Reserve with the sweep failing: %v", err)
	}
	defer r2.Release()
	if !strings.Contains(logs.String(), "clearing a lingering port's queue failed") {
		t.Errorf("the failed sweep is not logged:\n%s", logs.String())
	}
}

// exhaustFDs takes every file descriptor left under a low RLIMIT_NOFILE, so
// that the next accept fails with EMFILE, and returns what gives them back;
// the test's cleanup gives them back too. The package's tests do not run in
// parallel, so nothing else is starved.
func exhaustFDs(t *testing.T) (release func()) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	low := lim
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("lower RLIMIT_NOFILE: %v", err)
	}
	var filler []*os.File
	release = func() {
		for _, f := range filler {
			f.Close()
		}
		filler = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	t.Cleanup(release)
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		filler = append(filler, f)
	}
	return release
}
