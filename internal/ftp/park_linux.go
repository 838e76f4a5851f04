//go:build linux

package ftp

import (
	"container/heap"
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

	mu        sync.Mutex
	next      uint32              // the last token given out
	parked    map[uint32]*session // by the token in their epoll event
	deadlines deadlineHeap        // the parked sessions with a deadline
	timer     *time.Timer         // fires at deadlines[0]'s
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
			p.wake(uint32(ev.Fd), nil)
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
	s.park.token, s.park.until = tok, until
	if !until.IsZero() {
		heap.Push(&p.deadlines, s)
		if p.deadlines[0] == s {
			p.armTimerLocked()
		}
	}
	return true
}

// wake resumes the session parked under tok (or s, when tok is 0) in a new
// goroutine, unless it is not parked (any longer).
func (p *parker) wake(tok uint32, s *session) {
	p.mu.Lock()
	if s == nil {
		s = p.parked[tok]
	}
	ok := s != nil && p.unparkLocked(s)
	p.mu.Unlock()
	if ok {
		go s.resume(false)
	}
}

// unparkLocked takes s out of the set, if it is in it.
func (p *parker) unparkLocked(s *session) bool {
	if s.park.token == 0 || p.parked[s.park.token] != s {
		return false
	}
	delete(p.parked, s.park.token)
	s.park.token = 0
	if s.park.index >= 0 {
		heap.Remove(&p.deadlines, int(s.park.index))
	}
	// Leave the epoll set while the descriptor is surely still this
	// connection's; a closed connection has left it already.
	s.r.raw.Control(func(fd uintptr) {
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	return true
}

// armTimerLocked sets the timer for the earliest deadline.
func (p *parker) armTimerLocked() {
	if len(p.deadlines) == 0 {
		return
	}
	d := time.Until(p.deadlines[0].park.until)
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.expire)
	} else {
		p.timer.Reset(d)
	}
}

// expire resumes, timed out, the sessions whose deadlines have passed.
func (p *parker) expire() {
	var due []*session
	p.mu.Lock()
	now := time.Now()
	for len(p.deadlines) > 0 && !now.Before(p.deadlines[0].park.until) {
		s := p.deadlines[0]
		if !p.unparkLocked(s) {
			heap.Pop(&p.deadlines) // not parked: never expected, never looped on
			continue
		}
		due = append(due, s)
	}
	p.armTimerLocked()
	p.mu.Unlock()
	for _, s := range due {
		go s.resume(true)
	}
}

func (p *parker) wakeAll() {
	p.mu.Lock()
	all := make([]*session, 0, len(p.parked))
	for _, s := range p.parked {
		all = append(all, s)
	}
	p.mu.Unlock()
	for _, s := range all {
		p.wake(0, s)
	}
}

// deadlineHeap orders the parked sessions that have a deadline, earliest
// first (container/heap); parkState.index is each one's place.
type deadlineHeap []*session

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].park.until.Before(h[j].park.until) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].park.index, h[j].park.index = int32(i), int32(j)
}
func (h *deadlineHeap) Push(x any) {
	s := x.(*session)
	s.park.index = int32(len(*h))
	*h = append(*h, s)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	s.park.index = -1
	return s
}

// parkSession parks s; see parker.park.
func parkSession(s *session, until time.Time) bool {
	p := sessionParker()
	return p != nil && p.park(s, until)
}

// unpark resumes s if it is parked: the server closed its connection.
func unpark(s *session) {
	if p := theParker.Load(); p != nil {
		p.wake(0, s)
	}
}

// parkingAvailable reports whether the epoll set is there (it starts on
// first use).
func parkingAvailable() bool { return sessionParker() != nil }
