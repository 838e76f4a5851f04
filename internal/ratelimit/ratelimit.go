// Package ratelimit throttles a transfer with a token bucket. Only throttled
// transfers pass through it: an unthrottled one keeps the kernel's zero-copy
// path.
package ratelimit

import (
	"io"
	"time"
)

// Bucket is a token bucket of Rate bytes per second. Its burst is a tenth of
// a second's worth (at least 4 KiB), small enough that the rate holds over
// short windows. A Bucket is used by one transfer, from one goroutine.
type Bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	sleep  func(time.Duration)
	now    func() time.Time
}

// New returns a bucket of rate bytes per second (rate > 0).
func New(rate int64) *Bucket {
	burst := float64(rate) / 10
	if burst < 4096 {
		burst = 4096
	}
	return &Bucket{rate: float64(rate), burst: burst, sleep: time.Sleep, now: time.Now}
}

// Burst is the largest single read worth making.
func (b *Bucket) Burst() int { return int(b.burst) }

// Take accounts for n bytes, sleeping as long as the bucket needs to refill.
func (b *Bucket) Take(n int) {
	now := b.now()
	if b.last.IsZero() {
		b.last = now
		b.tokens = b.burst
	}
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.last = now
	b.tokens -= float64(n)
	if b.tokens < 0 {
		wait := time.Duration(-b.tokens / b.rate * float64(time.Second))
		b.sleep(wait)
		b.last = b.last.Add(wait)
		b.tokens = 0
	}
}

// Reader throttles reads from R.
type Reader struct {
	R io.Reader
	B *Bucket
}

func (r *Reader) Read(p []byte) (int, error) {
	if max := r.B.Burst(); len(p) > max {
		p = p[:max]
	}
	n, err := r.R.Read(p)
	if n > 0 {
		r.B.Take(n)
	}
	return n, err
}
