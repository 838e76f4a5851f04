//go:build linux && (amd64 || arm64)

package forward

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// copyConn is the data path: (*net.TCPConn).ReadFrom of another
// *net.TCPConn, which Linux serves with splice(2). Nothing counts the bytes;
// idle() asks the kernel instead.
func copyConn(dst, src *net.TCPConn, _ *atomic.Int64) (int64, error) {
	return dst.ReadFrom(src)
}

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
