//go:build unix

package ftp_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// A command whose last byte comes as TCP urgent data (Python's ftplib sends
// ABOR with MSG_OOB) still ends and is answered, whether the control
// connection inherited SO_OOBINLINE from a ListenControl listener or had it
// set on its own (a listener from net.Listen).
func TestUrgentByteStaysInCommandStream(t *testing.T) {
	for _, c := range []struct {
		name   string
		listen func() (net.Listener, error)
	}{
		{"ListenControl", func() (net.Listener, error) { return ftp.ListenControl("127.0.0.1:0") }},
		{"net.Listen", func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := c.listen()
			if err != nil {
				t.Fatal(err)
			}
			ts := startServerOn(t, l, 2, nil)
			r := ts.raw(t)
			if _, err := r.Net().Write([]byte("NOOP\r")); err != nil {
				t.Fatal(err)
			}
			raw, err := r.Net().(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var serr error
			if err := raw.Write(func(fd uintptr) bool {
				serr = syscall.Sendto(int(fd), []byte("\n"), syscall.MSG_OOB, nil)
				return serr != syscall.EAGAIN
			}); err != nil {
				t.Fatal(err)
			}
			if serr != nil {
				t.Fatalf("send urgent byte: %v", serr)
			}
			r.Net().SetReadDeadline(time.Now().Add(5 * time.Second))
			r.Expect(200)
		})
	}
}
