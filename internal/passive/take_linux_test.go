package passive

import (
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// takeQueued calls TakeQueued until it takes a connection (the client's
// connect may reach the queue a moment after it returns), at most 3 s.
func takeQueued(t *testing.T, r *Reservation) (int, netip.AddrPort) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if fd, remote, ok := r.TakeQueued(); ok {
			t.Cleanup(func() { syscall.Close(fd) })
			return fd, remote
		}
	}
	t.Fatalf("TakeQueued on %v: nothing taken in 3 s", r)
	return -1, netip.AddrPort{}
}

// A connection from the reservation's client that waits in the queue is
// taken as a bare socket: its address is the client's, bytes written on it
// arrive, the reservation is no longer pending and Accept says it was
// taken; Release ends it as it ends an accepted one.
func TestTakeQueued(t *testing.T) {
	p, _ := newTestPool(t, freeRange(t, 1))
	client := loClient(3)
	r := mustReserve(t, p, lo1, client)
	if _, _, ok := r.TakeQueued(); ok {
		t.Fatal("TakeQueued took a connection before the client connected")
	}
	c := mustDial(t, client, r)
	fd, remote := takeQueued(t, r)
	if want := c.LocalAddr().(*net.TCPAddr).AddrPort(); remote != want {
		t.Errorf("remote %v, want the client's %v", remote, want)
	}
	if _, err := syscall.Write(fd, []byte("taken\n")); err != nil {
		t.Fatalf("write on the taken socket: %v", err)
	}
	if line, err := readLine(c); err != nil || line != "taken" {
		t.Fatalf("client read %q, %v, want \"taken\"", line, err)
	}
	if fl, err := fcntlFlags(fd); err != nil || fl&syscall.O_NONBLOCK == 0 {
		t.Errorf("taken socket flags %#x (%v), want O_NONBLOCK", fl, err)
	}
	if s := p.Stats(); s.Pending != 0 || s.Delivered != 1 {
		t.Errorf("after the take: %+v, want nothing pending and one delivered", s)
	}
	if _, err := r.Accept(acceptCtx(t)); err == nil || !strings.Contains(err.Error(), "already accepted") {
		t.Errorf("Accept after TakeQueued: %v, want 'already accepted'", err)
	}
	if _, _, ok := r.TakeQueued(); ok {
		t.Error("a second TakeQueued took another connection")
	}
	r.Release()
	waitStats(t, p, 0, 0)
}

func fcntlFlags(fd int) (int, error) {
	fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(fl), nil
}

// What TakeQueued leaves to Accept: an empty queue, a port shared with
// another client's pending transfer, a pool with a ClientAddr hook. In
// each case nothing is taken and Accept then gets the connection.
func TestTakeQueuedLeavesToAccept(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, p *Pool)
		share bool // another client's reservation on the same port
	}{
		{name: "shared port", share: true},
		{name: "ClientAddr hook", setup: func(t *testing.T, p *Pool) {
			p.ClientAddr = func(c net.Conn) (net.Conn, netip.Addr, error) {
				return c, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(), nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTestPool(t, freeRange(t, 1))
			if tc.setup != nil {
				tc.setup(t, p)
			}
			client := loClient(4)
			r := mustReserve(t, p, lo1, client)
			if tc.share {
				other := mustReserve(t, p, lo1, loClient(5))
				defer other.Release()
			}
			c := mustDial(t, client, r)
			time.Sleep(20 * time.Millisecond) // in the queue by now
			if fd, _, ok := r.TakeQueued(); ok {
				syscall.Close(fd)
				t.Fatal("TakeQueued took the connection")
			}
			sendLine(t, c, "accepted")
			if line, err := readLine(mustAccept(t, r)); err != nil || line != "accepted" {
				t.Fatalf("Accept read %q, %v", line, err)
			}
			r.Release()
		})
	}
}

// A connection from another address ahead of the client's in the queue
// is refused and logged, as Accept refuses it, and the client's own is
// taken.
func TestTakeQueuedRefusesStrays(t *testing.T) {
	p, log := newTestPool(t, freeRange(t, 1))
	client, thief := loClient(6), loClient(7)
	r := mustReserve(t, p, lo1, client)
	stray := mustDial(t, thief, r)
	time.Sleep(20 * time.Millisecond) // the stray first in the queue
	c := mustDial(t, client, r)
	fd, remote := takeQueued(t, r)
	if remote.Addr() != client {
		t.Fatalf("took a connection from %v, want the client %v", remote, client)
	}
	expectClosedByPeer(t, stray)
	if s := p.Stats(); s.Refused != 1 || s.Delivered != 1 {
		t.Errorf("stats %+v, want one refused and one delivered", s)
	}
	if !strings.Contains(log.String(), "refused data connection") || !strings.Contains(log.String(), thief.String()) {
		t.Errorf("log has no refusal of %v:\n%s", thief, log.String())
	}
	syscall.Write(fd, []byte("own\n"))
	if line, err := readLine(c); err != nil || line != "own" {
		t.Fatalf("client read %q, %v", line, err)
	}
	r.Release()
}

// A take that fails for want of a file descriptor (EMFILE) takes nothing
// and loses nothing: the reservation stays pending, the connection stays in
// the queue, and Accept delivers it, bytes intact, once descriptors are free.
func TestTakeQueuedFailureLeavesToAccept(t *testing.T) {
	p, _ := newTestPool(t, freeRange(t, 1))
	r := mustReserve(t, p, lo1, lo2)
	defer r.Release()
	c := mustDial(t, lo2, r)
	sendLine(t, c, "after EMFILE")
	time.Sleep(20 * time.Millisecond) // the handshake ends in the queue

	release := exhaustFDs(t)
	for range 5 {
		if fd, remote, ok := r.TakeQueued(); ok {
			syscall.Close(fd)
			t.Fatalf("TakeQueued took %v with no file descriptor left", remote)
		}
	}
	if s := p.Stats(); s.Pending != 1 || s.Delivered != 0 {
		release()
		t.Fatalf("after the failed takes: %+v, want one pending and nothing delivered", s)
	}
	release()
	if line, err := readLine(mustAccept(t, r)); err != nil || line != "after EMFILE" {
		t.Fatalf("Accept after the failed takes: read %q, %v", line, err)
	}
}
