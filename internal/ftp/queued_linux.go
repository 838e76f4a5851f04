package ftp

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/passive"
	"golang.org/x/sys/unix"
)

// queuedSendMax is the largest file a RETR sends on a data connection
// taken straight from the listen queue (takeQueued): one that a fresh
// socket's buffer usually takes in one sendfile. A bigger file would mostly
// need the connection turned into a *net.TCPConn after all, which costs
// more than Go's accept.
const queuedSendMax = 64 << 10

// queuedConn is a passive data connection taken straight from the listen
// queue (passive.Reservation.TakeQueued): a non-blocking socket outside Go's
// poller. A small RETR sends its file on it in one sendfile and closes it,
// without what Go's accept does for every connection: poller registration
// and removal, getsockname and TCP_NODELAY, about a tenth of the server's
// CPU in small-retr (BENCHMARKS.md). Anything else turns it into a
// *net.TCPConn first (tcp), and the Read and Write methods do that too.
type queuedConn struct {
	mu            sync.Mutex // held by sendFileOnce, Close and tcp
	fd            int        // the socket; -1 once closed or handed to tc
	tc            *net.TCPConn
	local, remote *net.TCPAddr
}

// queuedTakes counts the data connections takeQueued took (for tests).
var queuedTakes atomic.Int64

// takeQueued returns res's data connection if it waits in the queue
// already and size (the file's) is small enough to gain from it; nil
// otherwise, and res is untouched.
func takeQueued(res *passive.Reservation, size int64) net.Conn {
	if size > queuedSendMax {
		return nil
	}
	fd, remote, ok := res.TakeQueued()
	if !ok {
		return nil
	}
	queuedTakes.Add(1)
	return &queuedConn{fd: fd, local: net.TCPAddrFromAddrPort(res.AddrPort()), remote: net.TCPAddrFromAddrPort(remote)}
}

// sendFileOnce is the package's sendFileOnce on the bare socket.
func (c *queuedConn) sendFileOnce(f *os.File, size int64) (int64, error) {
	if size <= 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return 0, nil // closed (an abort), or handed over: the usual path says so
	}
	return sendFileNow(c.fd, f, size, c.remote)
}

// tcp turns c into a *net.TCPConn (once; later calls return the same).
func (c *queuedConn) tcp() (*net.TCPConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tc != nil {
		return c.tc, nil
	}
	if c.fd < 0 {
		return nil, &net.OpError{Op: "use", Net: "tcp", Addr: c.remote, Err: net.ErrClosed}
	}
	f := os.NewFile(uintptr(c.fd), "data connection")
	nc, err := net.FileConn(f) // a duplicate, in Go's poller
	f.Close()
	c.fd = -1
	if err != nil {
		return nil, &net.OpError{Op: "use", Net: "tcp", Addr: c.remote, Err: err}
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, &net.OpError{Op: "use", Net: "tcp", Addr: c.remote, Err: net.UnknownNetworkError("not TCP")}
	}
	c.tc = tc
	return tc, nil
}

func (c *queuedConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.tc != nil:
		return c.tc.Close()
	case c.fd >= 0:
		err := unix.Close(c.fd)
		c.fd = -1
		if err != nil {
			return &net.OpError{Op: "close", Net: "tcp", Addr: c.remote, Err: os.NewSyscallError("close", err)}
		}
		return nil
	}
	return &net.OpError{Op: "close", Net: "tcp", Addr: c.remote, Err: net.ErrClosed}
}

func (c *queuedConn) Read(b []byte) (int, error) {
	tc, err := c.tcp()
	if err != nil {
		return 0, err
	}
	return tc.Read(b)
}

func (c *queuedConn) Write(b []byte) (int, error) {
	tc, err := c.tcp()
	if err != nil {
		return 0, err
	}
	return tc.Write(b)
}

func (c *queuedConn) LocalAddr() net.Addr  { return c.local }
func (c *queuedConn) RemoteAddr() net.Addr { return c.remote }

func (c *queuedConn) SetDeadline(t time.Time) error {
	return c.deadline(t, (*net.TCPConn).SetDeadline)
}

func (c *queuedConn) SetReadDeadline(t time.Time) error {
	return c.deadline(t, (*net.TCPConn).SetReadDeadline)
}

func (c *queuedConn) SetWriteDeadline(t time.Time) error {
	return c.deadline(t, (*net.TCPConn).SetWriteDeadline)
}

func (c *queuedConn) deadline(t time.Time, set func(*net.TCPConn, time.Time) error) error {
	tc, err := c.tcp()
	if err != nil {
		return err
	}
	return set(tc, t)
}

// sendSmall sends a small file in one non-blocking sendfile on a plain data
// connection (sendFileOnce), before the 150 reply. plain is false, with
// nothing sent, when data is not one (TLS).
func sendSmall(data net.Conn, f *os.File, size int64) (n int64, err error, plain bool) {
	switch c := data.(type) {
	case *net.TCPConn:
		n, err = sendFileOnce(c, f, size)
		return n, err, true
	case *queuedConn:
		n, err = c.sendFileOnce(f, size)
		return n, err, true
	}
	return 0, nil, false
}

// usualConn returns data as the rest of a transfer uses it: a connection
// taken from the queue as a *net.TCPConn.
func usualConn(data net.Conn) (net.Conn, error) {
	if c, ok := data.(*queuedConn); ok {
		return c.tcp()
	}
	return data, nil
}
