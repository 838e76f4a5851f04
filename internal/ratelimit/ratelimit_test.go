package ratelimit

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// fakeClock makes the bucket's time deterministic: sleeping advances it.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time        { return c.t }
func (c *fakeClock) sleep(d time.Duration) { c.t = c.t.Add(d) }

func TestBucketRate(t *testing.T) {
	tests := []struct {
		rate  int64
		total int
	}{
		{1 << 20, 10 << 20},
		{100 << 10, 1 << 20},
		{5000, 100000},
	}
	for _, tt := range tests {
		clk := &fakeClock{t: time.Unix(0, 0)}
		b := New(tt.rate)
		b.now, b.sleep = clk.now, clk.sleep
		r := &Reader{R: bytes.NewReader(make([]byte, tt.total)), B: b}
		n, err := io.Copy(io.Discard, r)
		if err != nil || n != int64(tt.total) {
			t.Fatalf("copied %d, %v", n, err)
		}
		elapsed := clk.t.Sub(time.Unix(0, 0)).Seconds()
		got := float64(tt.total) / elapsed
		// The first burst is free; beyond it the rate is exact.
		if got < float64(tt.rate)*0.95 || got > float64(tt.rate)*1.15 {
			t.Errorf("rate %d: measured %.0f B/s over %.2fs", tt.rate, got, elapsed)
		}
	}
}

func TestReaderCapsReadSize(t *testing.T) {
	b := New(8192) // burst 4096 (the minimum)
	clk := &fakeClock{t: time.Unix(0, 0)}
	b.now, b.sleep = clk.now, clk.sleep
	r := &Reader{R: bytes.NewReader(make([]byte, 100000)), B: b}
	buf := make([]byte, 65536)
	n, _ := r.Read(buf)
	if n != 4096 {
		t.Fatalf("read %d bytes at once, want the burst 4096", n)
	}
}
