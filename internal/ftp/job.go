package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A job is a command that reads a whole file without a data connection
// (HASH, SIZE in TYPE A). It runs as a transfer does: in its own goroutine,
// registered as the session's transfer, so the command loop goes on
// reading the control connection. ABOR and STAT are heard while it runs;
// every other command waits behind it, in order, as behind a transfer.

// jobBuffer is the read size of a job: large reads for a large file, where
// io.Copy's 32 KiB would cost eight times the system calls.
const jobBuffer = 256 << 10

// jobWork does a job's work under ctx, which ABOR, the session's end and
// the data timeout's no-progress rule cancel. It reports the bytes it reads
// to progress and returns the text of the 213 reply.
type jobWork func(ctx context.Context, progress func(n int64)) (string, error)

// startJob runs work as the session's transfer and answers it:
//   - 213 and work's text when it succeeds;
//   - 451 when ABOR ended it (then ABOR's own 226 follows, as after an
//     aborted transfer's 426). The job has no data connection, so 426
//     ("Connection closed; transfer aborted") would be wrong about what
//     happened; RFC 959's 451, "Requested action aborted", says it;
//   - 451 when its reads made no progress for the data timeout, as a
//     stalled disk or object store is a local error, not the client's;
//   - otherwise the storage error's own reply (errorReply).
func (s *session) startJob(verb, p string, work jobWork) {
	ctx, cancel := context.WithCancel(s.ctx)
	t := &transfer{verb: verb, path: p, size: -1, s: s, start: time.Now(), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	s.xferMu.Lock()
	s.xfer = t
	s.xferMu.Unlock()
	go s.runJob(t, work)
}

func (s *session) runJob(t *transfer, work jobWork) {
	defer s.endTransfer(t)
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in "+t.verb, "panic", v)
			s.reply(451, "Internal error in "+t.verb)
		}
	}()
	ctx, read, stop := stallContext(t.ctx, s.srv.settings().data)
	// Sessions shows how far the job has read; it is no transfer of data,
	// so the observer is not told.
	progress := func(n int64) { read(n); t.moved.Add(n) }
	text, err := work(ctx, progress)
	stop()
	// A driver may answer the cancelled context with its plain error
	// (context.Canceled): the context's cause says it was the timeout.
	stalled := errors.Is(context.Cause(ctx), errStalled) || errors.Is(err, os.ErrDeadlineExceeded)
	switch {
	case t.aborted.Load():
		s.reply(451, t.verb+" aborted by ABOR")
	case err != nil && stalled:
		s.log.Warn(t.verb+" stalled", "path", t.path, "err", err)
		s.reply(451, t.verb+" aborted: storage made no progress for the data timeout")
	case err != nil:
		s.replyErr(err)
	default:
		s.reply(213, text)
	}
}

// endTransfer ends a transfer or a job, in its goroutine: the session
// forgets it, waiters (ABOR, the queue) are told, and the command loop's
// read is woken so that commands queued behind it run now. A session of a
// server that is shutting down closes here, after its last reply.
func (s *session) endTransfer(t *transfer) {
	t.cancel()
	s.xferMu.Lock()
	s.xfer = nil
	s.xferMu.Unlock()
	close(t.done)
	if t.inline {
		// It ran in the command loop itself, which goes on from here (and
		// says 421 if the server is shutting down).
		return
	}
	s.conn.SetReadDeadline(time.Now())
	if s.srv.closing.Load() && s.sayShuttingDown() {
		s.conn.Close()
	}
}

// jobReader reads for a job: it stops with ctx's cause once ctx is done
// (ABOR: the local driver's reads do not watch ctx themselves) and reports
// each read's bytes to progress.
type jobReader struct {
	ctx      context.Context
	r        io.Reader
	progress func(int64)
}

func (j *jobReader) Read(p []byte) (int, error) {
	if j.ctx.Err() != nil {
		return 0, context.Cause(j.ctx)
	}
	n, err := j.r.Read(p)
	j.progress(int64(n))
	return n, err
}

// errStalled is the cause of a stallContext that saw no progress for the
// data timeout. It wraps os.ErrDeadlineExceeded, as a data connection's
// timeout does, so that it is answered as a stall.
var errStalled = fmt.Errorf("no progress for the data timeout: %w", os.ErrDeadlineExceeded)

// stallContext applies the data timeout's rule to work that moves bytes
// without a data connection (a job's reads, an upload's Begin copying the
// kept part of a file): ctx ends, with cause errStalled, once progress has
// not been told of a byte for timeout; slow but moving work goes on. stop
// releases the timer and ends ctx. A timeout <= 0 means no limit.
func stallContext(parent context.Context, timeout time.Duration) (ctx context.Context, progress func(int64), stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	if timeout <= 0 {
		return ctx, func(int64) {}, func() { cancel(nil) }
	}
	w := &stallWatch{timeout: timeout, cancel: cancel}
	w.last.Store(time.Now().UnixNano())
	w.mu.Lock()
	w.timer = time.AfterFunc(timeout, w.check)
	w.mu.Unlock()
	return ctx, w.progress, func() {
		w.mu.Lock()
		w.stopped = true
		w.timer.Stop()
		w.mu.Unlock()
		cancel(nil)
	}
}

type stallWatch struct {
	timeout time.Duration
	cancel  context.CancelCauseFunc
	last    atomic.Int64 // UnixNano of the last progress
	mu      sync.Mutex   // guards timer and stopped
	timer   *time.Timer
	stopped bool
}

func (w *stallWatch) progress(n int64) {
	if n > 0 {
		w.last.Store(time.Now().UnixNano())
	}
}

// check runs when the timer fires: a whole timeout without progress ends
// the work, otherwise the timer is set for the rest of the new timeout.
func (w *stallWatch) check() {
	idle := time.Since(time.Unix(0, w.last.Load()))
	if idle >= w.timeout {
		w.cancel(errStalled)
		return
	}
	w.mu.Lock()
	if !w.stopped {
		w.timer.Reset(w.timeout - idle)
	}
	w.mu.Unlock()
}
