//go:build linux

package ftp

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// parker holds the sessions that gave up their goroutines while idle
// (park.go): one epoll set that watches their control connections, itself
// waited on through the runtime's poller, so that no thread blocks for it.
// A session leaves the set when its connection becomes readable or hangs
// up, when its idle or login deadline passes, or when the server closes
// it; then a new goroutine takes it up where it stopped.
type parker struct {
	ep   *os.File        // the epoll instance (non-blocking, pollable)
	raw  syscall.RawConn // ep's, for waiting on it
	epfd int             // ep's descriptor (os.File.Fd would make it blocking)

	mu     sync.Mutex
	next   uint32              // the last token given out
	parked map[uint32]*session // by the token in their epoll event
}

var (
	parkerOnce sync.Once
	theParker  atomic.Pointer[parker]
)

// sessionParker returns the process's parker, started on first use; nil
// if epoll is not available (the sessions then keep their goroutines).
func sessionParker() *parker {
	parkerOnce.Do(func() {
		p, err := newParker()
		if err != nil {
			fmt.Fprintf(os.Stderr, "ftp: idle sessions keep their goroutines: %v\n", err)
			return
		}
		theParker.Store(p)
		go p.run()
	})
	return theParker.Load()
}

func newParker() (*parker, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("epoll set non-blocking: %w", err)
	}
	ep := os.NewFile(uintptr(fd), "ftp-idle-sessions")
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("epoll file: %w", err)
	}
	return &parker{ep: ep, raw: raw, epfd: fd, parked: make(map[uint32]*session)}, nil
}

// run wakes the sessions whose connections became readable, for the life
// of the process.
func (p *parker) run() {
	events := make([]syscall.EpollEvent, 128)
	for {
		var n int
		var werr error
		err := p.raw.Read(func(fd uintptr) bool {
			for {
				n, werr = syscall.EpollWait(int(fd), events, 0)
				if werr != syscall.EINTR {
					break
				}
			}
			return n > 0 || (werr != nil && werr != syscall.EAGAIN)
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			// Not expected; wake everyone rather than strand them.
			fmt.Fprintf(os.Stderr, "ftp: waiting for idle sessions failed: %v\n", err)
			p.wakeAll()
			return
		}
		for _, ev := range events[:n] {
			p.wake(uint32(ev.Fd), nil, false)
		}
	}
}

// park takes s (whose goroutine is about to end) into the set until its
// connection is readable or until (when not zero); a timeout resumes it
// timed out. It reports false, with s not parked, if the connection has
// already closed.
func (p *parker) park(s *session, until time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		p.next++
		if _, used := p.parked[p.next]; !used && p.next != 0 {
			break
		}
	}
	tok := p.next
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(tok)}
	var cerr error
	err := s.r.raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		return false
	}
	p.parked[tok] = s
	s.park.token = tok
	s.park.until = until
	if !until.IsZero() {
		if s.park.timer == nil {
			s.park.timer = time.AfterFunc(time.Until(until), func() { p.wake(0, s, true) })
		} else {
			s.park.timer.Reset(time.Until(until))
		}
	}
	return true
}

// wake resumes the session parked under tok (or s, when tok is 0) in a new
// goroutine, unless it is not parked (any longer). A timer's wake-up that
// lost a race against a command is ignored when the session's deadline
// has moved.
func (p *parker) wake(tok uint32, s *session, timedOut bool) {
	p.mu.Lock()
	if s == nil {
		s = p.parked[tok]
	}
	if s == nil || s.park.token == 0 || p.parked[s.park.token] != s ||
		(timedOut && time.Now().Before(s.park.until)) {
		p.mu.Unlock()
		return
	}
	delete(p.parked, s.park.token)
	s.park.token = 0
	if s.park.timer != nil && !timedOut {
		s.park.timer.Stop()
	}
	// Leave the set while the descriptor is surely still this
	// connection's; a closed connection has left it already.
	s.r.raw.Control(func(fd uintptr) {
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	p.mu.Unlock()
	go s.resume(timedOut)
}

func (p *parker) wakeAll() {
	p.mu.Lock()
	all := make([]*session, 0, len(p.parked))
	for _, s := range p.parked {
		all = append(all, s)
	}
	p.mu.Unlock()
	for _, s := range all {
		p.wake(0, s, false)
	}
}

// parkSession parks s; see parker.park.
func parkSession(s *session, until time.Time) bool {
	p := sessionParker()
	return p != nil && p.park(s, until)
}

// unpark resumes s if it is parked: the server closed its connection.
func unpark(s *session) {
	if p := theParker.Load(); p != nil {
		p.wake(0, s, false)
	}
}

// parkingAvailable reports whether the epoll set is there (it starts on
// first use).
func parkingAvailable() bool { return sessionParker() != nil }
