//go:build linux

package ftp

import (
	"net"
	"strings"
	"syscall"
	"testing"
)

// Accepted sockets inherit what ListenControl sets on the listening socket;
// inherits tells such a listener from a plain one.
func TestListenControlInheritance(t *testing.T) {
	l, err := ListenControl("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	srv := &Server{}
	for _, c := range []struct {
		name string
		l    net.Listener
		want bool
	}{
		{"ListenControl", l, true},
		{"implicit TLS over ListenControl", srv.ImplicitTLSListener(l), true},
		{"net.Listen", plain, false},
		{"implicit TLS over net.Listen", srv.ImplicitTLSListener(plain), false},
	} {
		if got := inherits(c.l); got != c.want {
			t.Errorf("inherits(%s) = %v, want %v", c.name, got, c.want)
		}
	}

	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_OOBINLINE", syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1},
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 9},
		{"TCP_NODELAY", syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1},
	} {
		var got int
		var gerr error
		raw.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), o.level, o.opt) })
		if gerr != nil {
			t.Fatalf("getsockopt %s: %v", o.name, gerr)
		}
		if (got != 0) != (o.want != 0) || (o.want > 1 && got != o.want) {
			t.Errorf("accepted socket: %s = %d, want %d", o.name, got, o.want)
		}
	}
}

// An address already taken is an error that names it, not a listener.
func TestListenControlAddressInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	l, err := ListenControl(held.Addr().String())
	if err == nil {
		l.Close()
		t.Fatalf("ListenControl(%s) succeeded on an address in use", held.Addr())
	}
	if !strings.Contains(err.Error(), held.Addr().String()) {
		t.Errorf("error %q does not name %s", err, held.Addr())
	}
}
