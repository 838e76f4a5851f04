// Package sdnotify tells systemd what a Type=notify service is doing
// (sd_notify(3)): READY=1 once its listeners are bound, RELOADING=1 and
// READY=1 around a reload, STOPPING=1 when it drains. It is a datagram on
// the unix socket systemd names in $NOTIFY_SOCKET; without that variable
// (not started by systemd, or on Windows) every call does nothing.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Socket is the environment variable systemd sets for a notify service.
const Socket = "NOTIFY_SOCKET"

// Send sends state (newline-separated KEY=VALUE assignments) to the
// socket in $NOTIFY_SOCKET. It reports whether it was sent: false with a
// nil error when there is no socket to send to.
func Send(state string) (bool, error) {
	addr := os.Getenv(Socket)
	if addr == "" {
		return false, nil
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sd_notify to %s: %w", os.Getenv(Socket), err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify to %s: %w", os.Getenv(Socket), err)
	}
	return true, nil
}

// Ready says the service is up; status is shown by systemctl status.
func Ready(status string) (bool, error) { return Send("READY=1\nSTATUS=" + status) }

// Reloading says a reload began (systemd's Type=notify-reload wants the
// monotonic clock with it); send Ready when it is done.
func Reloading() (bool, error) {
	return Send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
}

// Stopping says the service drains and will exit.
func Stopping(status string) (bool, error) { return Send("STOPPING=1\nSTATUS=" + status) }
