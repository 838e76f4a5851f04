//go:build linux && (amd64 || arm64)

package forward

import (
	"io"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// copyConn is the data path: (*net.TCPConn).ReadFrom of another
// *net.TCPConn, which Linux serves with splice(2). Nothing counts the bytes;
// idle() asks the kernel instead.
//
// fromClient copies the client's side, which starts in user space:
// splice(2) cannot read past TCP urgent data (tcp_read_sock stops at the
// urgent mark and a non-blocking splice answers EAGAIN there for ever),
// and FTP clients send ABOR as urgent data (Python's ftplib sends
// "ABOR\r\n" with MSG_OOB). A plain read returns the urgent byte in line
// (the outside listeners set SO_OOBINLINE). A control connection's
// commands stay far below urgentWindow; an upload passes it within
// milliseconds and goes on spliced.
func copyConn(dst, src *net.TCPConn, _ *flow, fromClient bool) (int64, error) {
	if !fromClient {
		return dst.ReadFrom(src)
	}
	// Both sides hidden behind plain types: io.CopyN would otherwise hand
	// the copy to splice.
	n, err := io.CopyN(plainWriter{dst}, plainReader{src}, urgentWindow)
	if err == io.EOF {
		return n, nil
	}
	if err != nil {
		return n, err
	}
	m, err := dst.ReadFrom(src)
	return n + m, err
}

// urgentWindow is how much of a client's side is copied in user space
// before splice takes over: 1 MiB is some 50,000 FTP commands.
const urgentWindow = 1 << 20

type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

type plainWriter struct{ w io.Writer }

func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }

// idle is how long neither socket has received data, from TCP_INFO's
// tcpi_last_data_recv (milliseconds since the last data segment arrived).
func (f *flow) idle() time.Duration {
	a, okA := sinceLastReceive(f.client)
	b, okB := sinceLastReceive(f.backend)
	if !okA || !okB {
		return 0 // a socket is closing; the flow ends without the timer
	}
	return min(a, b)
}

// received is the bytes the gateway's sockets received from each side,
// from TCP_INFO's tcpi_bytes_received (which the splice never sees), or
// the final counts of a flow that has ended.
func (f *flow) received() (fromClient, fromInside uint64) {
	if f.ended.Load() {
		return f.fromClient.Load(), f.fromInside.Load()
	}
	// A FIN takes a sequence number, which tcpi_bytes_received counts.
	fromClient, fromInside = bytesReceived(f.client), bytesReceived(f.backend)
	if f.finFromClient.Load() && fromClient > 0 {
		fromClient--
	}
	if f.finFromInside.Load() && fromInside > 0 {
		fromInside--
	}
	return fromClient, fromInside
}

func bytesReceived(c *net.TCPConn) uint64 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var n uint64
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n = info.Bytes_received
		}
	})
	return n
}

func sinceLastReceive(c *net.TCPConn) (time.Duration, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info syscall.TCPInfo
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(info))
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	})
	if err != nil || errno != 0 {
		return 0, false
	}
	return time.Duration(info.Last_data_recv) * time.Millisecond, true
}
