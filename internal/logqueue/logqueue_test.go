package logqueue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func textHandler(w io.Writer) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})
}

// TestSameOutputAsDirect: every record comes out as the real handler
// writes it, in order, through WithAttrs and WithGroup.
func TestSameOutputAsDirect(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	many := []any{"a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6, "g", 7} // beyond the inline attrs
	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"plain", func(l *slog.Logger) { l.Info("hello", "user", "anna", "bytes", 4096) }},
		{"levels", func(l *slog.Logger) {
			l.Debug("not shown")
			l.Warn("careful", "err", fmt.Errorf("disk full"))
			l.Error("failed", "code", 550)
		}},
		{"many attrs", func(l *slog.Logger) { l.Info("many", many...) }},
		{"with attrs", func(l *slog.Logger) {
			s := l.With("client", "127.0.0.5")
			s.Info("login", "user", "bob")
			s.With("session", 7).Info("transfer", "cmd", "RETR")
		}},
		{"with group", func(l *slog.Logger) {
			l.WithGroup("tls").Info("handshake", "version", "1.3", slog.Group("peer", "ip", "::1"))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var direct, queued bytes.Buffer
			h, q := New(&queued, textHandler)
			c.log(slog.New(fixedTime{textHandler(&direct), at}))
			c.log(slog.New(fixedTime{h, at}))
			q.Sync()
			if direct.String() != queued.String() {
				t.Errorf("queued output differs\ndirect:\n%s\nqueued:\n%s", direct.String(), queued.String())
			}
			if direct.Len() == 0 && c.name != "levels" {
				t.Error("nothing written")
			}
		})
	}
}

// fixedTime sets every record's time, so two handlers' outputs compare.
type fixedTime struct {
	slog.Handler
	at time.Time
}

func (f fixedTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = f.at
	return f.Handler.Handle(ctx, r)
}
func (f fixedTime) WithAttrs(a []slog.Attr) slog.Handler {
	return fixedTime{f.Handler.WithAttrs(a), f.at}
}
func (f fixedTime) WithGroup(n string) slog.Handler { return fixedTime{f.Handler.WithGroup(n), f.at} }

// counter is a LogValuer whose value changes after the log call.
type counter struct{ n *int }

func (c counter) LogValue() slog.Value { return slog.IntValue(*c.n) }

// TestLogValuerResolvedAtCall: a value that computes itself is taken when
// the line is logged, not when the writer gets to it.
func TestLogValuerResolvedAtCall(t *testing.T) {
	var out bytes.Buffer
	h, q := New(&out, textHandler)
	l := slog.New(h)
	n := 1
	l.Info("first", "n", counter{&n}, slog.Group("g", "m", counter{&n}))
	w := l.With("w", counter{&n})
	n = 2
	w.Info("second")
	n = 3
	q.Sync()
	got := out.String()
	// With takes its values when it is called (n was 1), as slog's own
	// handlers do.
	if !strings.Contains(got, "msg=first n=1 g.m=1") || !strings.Contains(got, "msg=second w=1") {
		t.Errorf("values not taken at the call:\n%s", got)
	}
}

// blockingWriter holds its first Write until released and counts writes.
type blockingWriter struct {
	mu      sync.Mutex
	writes  int
	buf     bytes.Buffer
	started chan struct{}
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	first := w.writes == 1
	w.mu.Unlock()
	if first {
		close(w.started)
		<-w.release
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// TestBatchesWhileBusy: lines logged while the writer is busy go out in
// one write, and nothing is lost or reordered.
func TestBatchesWhileBusy(t *testing.T) {
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	h, q := New(w, textHandler)
	l := slog.New(h)
	l.Info("line", "i", 0)
	<-w.started // the writer is now stuck in its first write
	for i := 1; i <= 100; i++ {
		l.Info("line", "i", i)
	}
	close(w.release)
	q.Sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes != 2 {
		t.Errorf("%d writes for 101 lines logged while the writer was busy, want 2", w.writes)
	}
	lines := strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n")
	if len(lines) != 101 {
		t.Fatalf("%d lines, want 101", len(lines))
	}
	for i, line := range lines {
		if !strings.HasSuffix(line, fmt.Sprintf(" i=%d", i)) {
			t.Fatalf("line %d out of order: %q", i, line)
		}
	}
}

// TestConcurrentLoggers: many goroutines, more lines than the queue holds;
// every line arrives whole.
func TestConcurrentLoggers(t *testing.T) {
	var out bytes.Buffer
	h, q := New(&out, textHandler)
	l := slog.New(h)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			s := l.With("g", g)
			for i := range each {
				s.Info("line", "i", i)
			}
		})
	}
	wg.Wait()
	q.Sync()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var g, i int
		k := strings.Index(line, "msg=line g=")
		if k < 0 {
			t.Fatalf("mangled line %q", line)
		}
		if _, err := fmt.Sscanf(line[k:], "msg=line g=%d i=%d", &g, &i); err != nil {
			t.Fatalf("mangled line %q: %v", line, err)
		}
		seen[fmt.Sprint(g, i)] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct lines, want %d", len(seen), goroutines*each)
	}
}

func TestEnabledFollowsTheRealHandler(t *testing.T) {
	var level slog.LevelVar
	level.Set(slog.LevelWarn)
	h, _ := New(io.Discard, func(w io.Writer) slog.Handler {
		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: &level})
	})
	if h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("info enabled at level warn")
	}
	level.Set(slog.LevelDebug)
	if !h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("info disabled at level debug")
	}
}

// countingWriter counts writes.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

// TestBatchesLinesLoggedCloseTogether: lines that come one at a time, each
// after the writer has found the queue empty, still go out in one write
// when they come within the batch delay (here made long, so that a slow
// machine cannot split the batch).
func TestBatchesLinesLoggedCloseTogether(t *testing.T) {
	defer func(d time.Duration) { batchDelay = d }(batchDelay)
	batchDelay = 500 * time.Millisecond
	var w countingWriter
	h, q := New(&w, textHandler)
	l := slog.New(h)
	start := time.Now()
	for i := 0; i < 10; i++ {
		l.Info("line", "i", i)
		time.Sleep(time.Millisecond) // the writer drains the queue meanwhile
	}
	logged := time.Since(start)
	q.Sync()
	if logged >= batchDelay {
		t.Skip("the machine took longer than the batch delay to log 10 lines")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes != 1 {
		t.Errorf("%d writes for 10 lines logged 1 ms apart, want 1", w.writes)
	}
	if n := strings.Count(w.buf.String(), "\n"); n != 10 {
		t.Errorf("%d lines written, want 10", n)
	}
}
