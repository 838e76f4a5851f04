package ftp

import (
	"os"
	"time"
)

// An idle session parks: after Server.ParkIdleAfter without a command, on
// a plain control connection with nothing half read and nothing running,
// its goroutine ends and the connection waits in an epoll set
// (park_linux.go). Readable data, a hang-up, the idle or login deadline or
// the server closing it start a new goroutine that goes on with the
// command loop. An idle session then costs its heap (the session, its
// socket, its login), not a goroutine's stack (issue 21: idle sessions at
// <= 4 KiB).

// parkState is a session's place in the parker, guarded by the parker's
// lock while it is parked.
type parkState struct {
	token uint32    // its epoll event's, while parked; 0 otherwise
	index int32     // in the parker's deadline heap; -1 when not in it
	until time.Time // the deadline it parked with (zero: none)
}

// canPark reports whether the session could give up its goroutine now:
// nothing buffered or half read, no transfer, queue, data connection
// setup or TLS in the way.
func (s *session) canPark() bool {
	return s.srv.settings().parkAfter > 0 && s.r != nil && s.r.raw != nil &&
		len(s.r.buffered()) == 0 && len(s.partial) == 0 && !s.partialLong &&
		len(s.queue) == 0 && s.pasv == nil && s.early == nil && s.port == nil &&
		!s.quit.Load() && !s.transferRunning() && parkingAvailable()
}

// readDeadline is the control read's deadline for the session's deadline:
// ParkIdleAfter from now instead when that is earlier and the session may
// park then (parkAt).
func (s *session) readDeadline(deadline time.Time, st *settings) time.Time {
	s.parkAt = time.Time{}
	if st.parkAfter <= 0 || !s.canPark() {
		return deadline
	}
	at := time.Now().Add(st.parkAfter)
	if !deadline.IsZero() && !at.Before(deadline) {
		return deadline
	}
	s.parkAt = at
	return at
}

// parkNow reports, after the read's deadline passed, whether this was
// parkAt and the session parks (endOrPark does it once the command loop
// has returned).
func (s *session) parkNow(deadline time.Time) bool {
	now := time.Now()
	if s.parkAt.IsZero() || now.Before(s.parkAt) || (!deadline.IsZero() && !now.Before(deadline)) || !s.canPark() {
		return false
	}
	s.parking, s.park.until = true, deadline
	return true
}

// resume goes on with a parked session in a new goroutine: at its deadline
// (timedOut), or when its connection has something to read.
func (s *session) resume(timedOut bool) {
	defer s.endOrPark()
	if timedOut && !s.readFailed(os.ErrDeadlineExceeded, s.park.until) {
		return
	}
	s.commandLoop()
}

// endOrPark runs when a session's goroutine returns: the session parks if
// its command loop returned to park, and ends otherwise. Nothing touches
// s after it parked: another goroutine may already have resumed it.
//
//go:noinline
func (s *session) endOrPark() {
	v := recover()
	if v == nil && s.parking {
		s.parking = false
		if !parkSession(s, s.park.until) {
			go s.resume(false) // closed meanwhile: the read says so
		}
		return
	}
	s.finish(v)
	s.srv.endSession(s)
}
