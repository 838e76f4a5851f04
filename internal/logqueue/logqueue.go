// Package logqueue is an slog.Handler that hands records to one writer
// goroutine, which formats them with the real handler and writes them in
// batches.
//
// Two reasons for it in a server with thousands of sessions:
//
//   - A session's goroutine logs with a shallow stack. slog's text and JSON
//     handlers are about 3 KiB deep, enough to grow a 4 KiB goroutine stack
//     to 8 KiB on the first log line, and an idle session then keeps the
//     8 KiB until a garbage collection happens to shrink it.
//   - Lines logged close together go out in one write(2), not one each:
//     the writer waits batchDelay after the first line of a batch. Under
//     load (a transfer log line per small file, three lines per login)
//     that is most of the cost of logging.
//
// Nothing is dropped: when the queue is full, Handle waits, as a handler
// writing directly would. Sync waits until every record handed in before it
// is written; call it before the process exits.
package logqueue

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"time"
)

// queueLen is how many records may wait for the writer.
const queueLen = 1024

// bufferSize is the write batch: the writer flushes when it is full or
// when a batch ends.
const bufferSize = 64 << 10

// batchDelay is how long a batch gathers after its first line: how late a
// line may reach the file. Under a login storm (three lines a login) it
// saves most of the logging's write(2) calls and goroutine wake-ups.
// (A variable for tests.)
var batchDelay = time.Millisecond

// Queue is the writer goroutine and its buffer. One Queue serves a handler
// and every handler derived from it (WithAttrs, WithGroup).
type Queue struct {
	ch    chan entry
	buf   *bufio.Writer
	delay time.Duration // batchDelay when the queue was made
}

type entry struct {
	h    slog.Handler
	r    slog.Record
	sync chan struct{} // set for a Sync marker
}

// New starts a queue writing to w and returns it with the function that
// makes the real handler from the queue's buffered writer, for example
// slog.NewTextHandler. The queue's goroutine lives as long as the process.
func New(w io.Writer, makeHandler func(io.Writer) slog.Handler) (*Handler, *Queue) {
	q := &Queue{ch: make(chan entry, queueLen), buf: bufio.NewWriterSize(w, bufferSize), delay: batchDelay}
	inner := makeHandler(q.buf)
	go q.write()
	return &Handler{inner: inner, q: q}, q
}

func (q *Queue) write() {
	ctx := context.Background()
	for e := range q.ch {
		if q.take(ctx, e) {
			continue
		}
		// The first line after a quiet spell: let the lines that follow
		// it gather for a moment, then write them all at once. Senders
		// do not wake a writer that sleeps here (the channel buffers),
		// so under load there is one write(2) and one wake-up per
		// batchDelay instead of one each per line.
		time.Sleep(q.delay)
		for n := len(q.ch); n > 0; n = len(q.ch) {
			for ; n > 0; n-- {
				q.take(ctx, <-q.ch)
			}
		}
		q.buf.Flush()
	}
}

// take formats one entry into the buffer, or, for a Sync marker, flushes
// and answers it (reporting true).
func (q *Queue) take(ctx context.Context, e entry) bool {
	if e.sync != nil {
		q.buf.Flush()
		close(e.sync)
		return true
	}
	// The handler's error is ignored, as slog.Logger ignores it.
	e.h.Handle(ctx, e.r)
	return false
}

// Sync returns when every record handed in before it has been written.
func (q *Queue) Sync() {
	done := make(chan struct{})
	q.ch <- entry{sync: done}
	<-done
}

// Handler is the slog.Handler side of a Queue.
type Handler struct {
	inner slog.Handler
	q     *Queue
}

// Enabled asks the real handler, so that disabled levels cost nothing.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle queues the record. It is kept small: its frame and slog.Logger's
// are all a logging goroutine's stack holds (see the package comment).
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	if r.NumAttrs() > inlineAttrs || anyNeedsResolve(&r) {
		detach(&r)
	}
	h.q.ch <- entry{h: h.inner, r: r}
	return nil
}

// inlineAttrs is how many attributes a slog.Record holds in itself; more
// are in a slice that a retained record must not share.
const inlineAttrs = 5

// anyNeedsResolve reports whether a value of r computes itself
// (slog.LogValuer). Those are resolved in the caller's goroutine, because
// they may read state that changes once the caller goes on.
//
//go:noinline
func anyNeedsResolve(r *slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = needsResolve(a.Value)
		return !found
	})
	return found
}

// detach replaces r with a copy that shares nothing with the caller's
// record, with its values resolved.
//
//go:noinline
func detach(r *slog.Record) {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(resolveAttr(a))
		return true
	})
	*r = out
}

func needsResolve(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindLogValuer:
		return true
	case slog.KindGroup:
		for _, a := range v.Group() {
			if needsResolve(a.Value) {
				return true
			}
		}
	}
	return false
}

func resolveAttr(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		group := a.Value.Group()
		attrs := make([]slog.Attr, len(group))
		for i, g := range group {
			attrs[i] = resolveAttr(g)
		}
		a.Value = slog.GroupValue(attrs...)
	}
	return a
}

// WithAttrs derives a handler on the same queue.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	copied := false
	for i, a := range attrs {
		if !needsResolve(a.Value) {
			continue
		}
		if !copied {
			attrs, copied = append([]slog.Attr(nil), attrs...), true
		}
		attrs[i] = resolveAttr(a)
	}
	return &Handler{inner: h.inner.WithAttrs(attrs), q: h.q}
}

// WithGroup derives a handler on the same queue.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), q: h.q}
}

var _ slog.Handler = (*Handler)(nil)
