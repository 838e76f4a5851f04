// Package syncbuf is a bytes.Buffer that goroutines can share: a process's
// output or a logger's lines written in one goroutine and read in another.
// Tests use it to collect and inspect what servers log.
package syncbuf

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// Buffer is a goroutine-safe bytes.Buffer; its zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor waits up to d for the text written so far to satisfy cond, and
// reports whether it did. Servers log in batches (internal/logqueue), a
// moment after the event, so a test looks for a line this way.
func (s *Buffer) WaitFor(d time.Duration, cond func(text string) bool) bool {
	deadline := time.Now().Add(d)
	for !cond(s.String()) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// WaitForText waits up to d for text to appear; see WaitFor.
func (s *Buffer) WaitForText(d time.Duration, text string) bool {
	return s.WaitFor(d, func(all string) bool { return strings.Contains(all, text) })
}
