package bench

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress counts bytes and operations of the running workload and, when
// there is a terminal to show it on, redraws one line a few times a second.
// A nil *progress counts nothing.
type progress struct {
	label string
	start time.Time
	bytes atomic.Int64
	ops   atomic.Int64
	done  chan struct{}
	wg    sync.WaitGroup
}

// progress starts the progress line for label; it is silent without
// Config.Progress.
func (r *runner) progress(label string) *progress {
	p := &progress{label: label, start: time.Now(), done: make(chan struct{})}
	if w := r.cfg.Progress; w != nil {
		p.wg.Add(1)
		go p.draw(w)
	}
	return p
}

func (p *progress) Add(n int64) {
	if p != nil {
		p.bytes.Add(n)
	}
}

func (p *progress) op() {
	if p != nil {
		p.ops.Add(1)
	}
}

func (p *progress) stop() {
	if p == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
}

func (p *progress) draw(w io.Writer) {
	defer p.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
		}
		secs := time.Since(p.start).Seconds()
		line := fmt.Sprintf("%s  %.1fs", p.label, secs)
		if b := p.bytes.Load(); b > 0 {
			line += fmt.Sprintf("  %.0f MB  %.0f MB/s", float64(b)/1e6, float64(b)/1e6/secs)
		}
		if n := p.ops.Load(); n > 0 {
			line += fmt.Sprintf("  %d ops  %.0f/s", n, float64(n)/secs)
		}
		fmt.Fprint(w, "\r\033[K"+line)
	}
}
