//go:build unix

package forward

import (
	"bufio"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// A command whose last byte is TCP urgent data (Python's ftplib sends ABOR
// so) reaches the inside host whole: the soak test found ABOR hanging
// through the gateway, which had left the urgent byte out of the stream.
func TestUrgentByteReachesTheBackend(t *testing.T) {
	port, lns := listenSame(t, outsideIP, backendA)
	lns[0].Close()
	serveBackend(t, lns[1], echo)
	out := netip.AddrPortFrom(outsideIP, port)
	startServer(t, &Rules{DialTimeout: 5 * time.Second, Routes: []Route{{Listen: out, Static: netip.AddrPortFrom(backendA, port)}}})
	c := dial(t, out)
	defer c.Close()
	if _, err := c.Write([]byte("ABOR\r")); err != nil {
		t.Fatal(err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), []byte("\n"), syscall.MSG_OOB, nil)
		return serr != syscall.EAGAIN
	})
	if serr != nil {
		t.Fatalf("send the urgent byte: %v", serr)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ABOR\r\n" {
		t.Fatalf("the backend echoed %q, %v; want the whole command", line, err)
	}
}
