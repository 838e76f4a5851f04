package syncbuf

import (
	"strings"
	"testing"
	"time"
)

func TestWaitFor(t *testing.T) {
	var b Buffer
	go func() {
		time.Sleep(20 * time.Millisecond)
		b.Write([]byte("one\n"))
		b.Write([]byte("two\n"))
	}()
	if !b.WaitForText(5*time.Second, "two") {
		t.Fatalf("WaitForText gave up on a line written 20 ms later: %q", b.String())
	}
	if !b.WaitFor(time.Second, func(s string) bool { return strings.Count(s, "\n") == 2 }) {
		t.Fatal("WaitFor: condition already true was not seen")
	}
	start := time.Now()
	if b.WaitForText(50*time.Millisecond, "three") {
		t.Fatal("WaitForText found text that was never written")
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("WaitForText gave up after %v, before its 50 ms", waited)
	}
}
