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

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	// Take every descriptor left under a low limit, so the accept has none.
	low := lim
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("lower RLIMIT_NOFILE: %v", err)
	}
	var filler []*os.File
	release := func() {
		for _, f := range filler {
			f.Close()
		}
		filler = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	defer release()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		filler = append(filler, f)
	}
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
