//go:build unix

package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Skipf("no unix datagram socket here: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func read(t *testing.T, l *net.UnixConn) string {
	t.Helper()
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := l.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestSend(t *testing.T) {
	t.Setenv(Socket, "")
	if sent, err := Ready("x"); sent || err != nil {
		t.Fatalf("without NOTIFY_SOCKET: sent %v, %v", sent, err)
	}
	path := filepath.Join(t.TempDir(), "notify.sock")
	l := listen(t, path)
	t.Setenv(Socket, path)
	for _, tc := range []struct {
		send func() (bool, error)
		want string
	}{
		{func() (bool, error) { return Ready("serving on 127.0.0.1:2121") }, "READY=1\nSTATUS=serving on 127.0.0.1:2121"},
		{Reloading, "RELOADING=1\nMONOTONIC_USEC="},
		{func() (bool, error) { return Stopping("draining") }, "STOPPING=1\nSTATUS=draining"},
	} {
		if sent, err := tc.send(); !sent || err != nil {
			t.Fatalf("send: %v, %v", sent, err)
		}
		if got := read(t, l); !strings.HasPrefix(got, tc.want) {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	t.Setenv(Socket, filepath.Join(t.TempDir(), "nobody-listens"))
	if _, err := Ready("x"); err == nil || !strings.Contains(err.Error(), "sd_notify") {
		t.Errorf("no listener: %v, want an error naming sd_notify", err)
	}
}

func TestAbstractSocket(t *testing.T) {
	name := "@rotary-sdnotify-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	l := listen(t, "\x00"+name[1:])
	t.Setenv(Socket, name)
	if sent, err := Ready("ok"); !sent || err != nil {
		t.Fatalf("abstract socket: %v, %v", sent, err)
	}
	if got := read(t, l); !strings.HasPrefix(got, "READY=1") {
		t.Errorf("got %q", got)
	}
}
