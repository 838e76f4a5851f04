//go:build !(linux && (amd64 || arm64))

package forward

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// Without splice and without TCP_INFO's last-receive time, the copy records
// its own activity: one atomic store per read, no allocation.
// It counts the flow's bytes the same way (TCP_INFO's byte counts serve
// Linux).
type activityReader struct {
	r     *net.TCPConn
	last  *atomic.Int64
	bytes *atomic.Uint64
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.last.Store(time.Now().UnixNano())
		a.bytes.Add(uint64(n))
	}
	return n, err
}

func copyConn(dst, src *net.TCPConn, f *flow, fromClient bool) (int64, error) {
	bytes := &f.fromInside
	if fromClient {
		bytes = &f.fromClient
	}
	return io.Copy(dst, activityReader{r: src, last: &f.lastActive, bytes: bytes})
}

// received is the bytes the flow's copies read from each side.
func (f *flow) received() (fromClient, fromInside uint64) {
	return f.fromClient.Load(), f.fromInside.Load()
}

func (f *flow) idle() time.Duration {
	return time.Since(time.Unix(0, f.lastActive.Load()))
}
