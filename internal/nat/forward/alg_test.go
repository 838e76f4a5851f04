package forward

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeFTP is a backend that answers PASV and EPSV with a data port on its
// own address (a server without --public-ip), writing the 227 reply one
// byte per write, and sends "hello" on the data connection.
func fakeFTP(t *testing.T, addr netip.Addr) uint16 {
	port, lns := listenSame(t, addr)
	serveBackend(t, lns[0], func(c *net.TCPConn) {
		c.SetNoDelay(true)
		io.WriteString(c, "220-Welcome\r\n227 not a reply inside a 220\r\n220 ready\r\n")
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.TrimSpace(strings.ToUpper(line))
			if cmd == "AUTH TLS" {
				io.WriteString(c, "234 go ahead\r\n")
				continue
			}
			if cmd != "PASV" && cmd != "EPSV" {
				io.WriteString(c, "500 ?\r\n")
				continue
			}
			dl, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
			if err != nil {
				return
			}
			p := dl.Addr().(*net.TCPAddr).Port
			reply := fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)\r\n", p)
			if cmd == "PASV" {
				a := addr.As4()
				reply = fmt.Sprintf("227 Entering Passive Mode (%d,%d,%d,%d,%d,%d).\r\n", a[0], a[1], a[2], a[3], p>>8, p&255)
			}
			for i := 0; i < len(reply); i++ {
				c.Write([]byte{reply[i]})
			}
			go func() {
				defer dl.Close()
				dl.SetDeadline(time.Now().Add(10 * time.Second))
				d, err := dl.Accept()
				if err != nil {
					return
				}
				io.WriteString(d, "hello")
				d.Close()
			}()
		}
	})
	return port
}

func TestFTPALG(t *testing.T) {
	port := fakeFTP(t, backendA)
	ctlPort, lns := listenSame(t, outsideIP)
	lns[0].Close()
	s := startServer(t, &Rules{DialTimeout: 5 * time.Second, Routes: []Route{{
		Listen: netip.AddrPortFrom(outsideIP, ctlPort), Static: netip.AddrPortFrom(backendA, port), FTPALG: true}}})

	client := netip.MustParseAddr("127.0.0.3")
	other := netip.MustParseAddr("127.0.0.4")
	dialFrom := func(src netip.Addr, ap netip.AddrPort) (*net.TCPConn, error) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		c, err := d.Dial("tcp", ap.String())
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
	ctl, err := dialFrom(client, netip.AddrPortFrom(outsideIP, ctlPort))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	ctl.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(ctl)
	for _, want := range []string{"220-Welcome\r\n", "227 not a reply inside a 220\r\n", "220 ready\r\n"} {
		if got, _ := br.ReadString('\n'); got != want {
			t.Fatalf("greeting line %q, want %q (byte-exact)", got, want)
		}
	}
	fetch := func(src netip.Addr, ap netip.AddrPort) (string, error) {
		d, err := dialFrom(src, ap)
		if err != nil {
			return "", err
		}
		defer d.Close()
		d.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(d)
		return string(b), err
	}

	t.Run("PASV split byte by byte is rewritten", func(t *testing.T) {
		io.WriteString(ctl, "PASV\r\n")
		line, _ := br.ReadString('\n')
		var a [4]int
		var p1, p2 int
		if _, err := fmt.Sscanf(line, "227 Entering Passive Mode (%d,%d,%d,%d,%d,%d).\r\n", &a[0], &a[1], &a[2], &a[3], &p1, &p2); err != nil {
			t.Fatalf("reply %q: %v", line, err)
		}
		if got := fmt.Sprintf("%d.%d.%d.%d", a[0], a[1], a[2], a[3]); got != outsideIP.String() {
			t.Fatalf("reply %q announces %s, want the outside address %s", line, got, outsideIP)
		}
		data := netip.AddrPortFrom(outsideIP, uint16(p1<<8|p2))
		// Another client address gets nothing from the one-shot port.
		if got, err := fetch(other, data); err == nil && got != "" {
			t.Fatalf("%s got %q from the one-shot port of %s", other, got, client)
		}
		if got, err := fetch(client, data); got != "hello" {
			t.Fatalf("data connection through the one-shot translation: %q, %v", got, err)
		}
		// One shot: taken, the port is closed again.
		if !waitFor(5*time.Second, func() bool { return refuses(data) }) {
			t.Fatalf("%s still open after its one connection", data)
		}
	})

	t.Run("EPSV gets a one-shot translation", func(t *testing.T) {
		io.WriteString(ctl, "EPSV\r\n")
		line, _ := br.ReadString('\n')
		var p int
		if _, err := fmt.Sscanf(line, "229 Entering Extended Passive Mode (|||%d|)\r\n", &p); err != nil {
			t.Fatalf("reply %q: %v", line, err)
		}
		if got, err := fetch(client, netip.AddrPortFrom(outsideIP, uint16(p))); got != "hello" {
			t.Fatalf("EPSV data connection: %q, %v", got, err)
		}
	})

	t.Run("AUTH: the ALG steps aside", func(t *testing.T) {
		io.WriteString(ctl, "AUTH TLS\r\n")
		if line, _ := br.ReadString('\n'); line != "234 go ahead\r\n" {
			t.Fatalf("AUTH reply %q", line)
		}
		io.WriteString(ctl, "PASV\r\n")
		line, _ := br.ReadString('\n')
		if !strings.Contains(line, "(127,0,0,11,") {
			t.Fatalf("after AUTH the reply was rewritten: %q", line)
		}
	})
	if st := s.Statistics(); st.Hits < 3 {
		t.Errorf("statistics %+v: want the control and data flows as hits", st)
	}
}

// TestCompileFTPALG: which routes the ALG watches.
func TestCompileFTPALG(t *testing.T) {
	const static21 = "ip nat inside source static tcp 127.0.0.11 21 127.0.0.2 21\n"
	const static2121 = "ip nat inside source static tcp 127.0.0.11 2121 127.0.0.2 2121\n"
	const acl = "access-list 120 permit tcp any host 127.0.0.2 eq 2121\n"
	const acl2 = "access-list 121 permit tcp any host 127.0.0.9 eq 2121\n"
	tests := []struct {
		name, src string
		want      bool
	}{
		{"port 21 by default", static21, true},
		{"off", static21 + "no ip nat service alg tcp ftp\n", false},
		{"another port without a service line", static2121, false},
		{"another port with a service line", static2121 + acl + "ip nat service list 120 ftp tcp port 2121\n", true},
		{"a service line whose list does not permit the address", static2121 + acl2 + "ip nat service list 121 ftp tcp port 2121\n", false},
		{"a pool route on 21", poolP + "access-list 100 permit tcp any host 127.0.0.2 eq 21\nip nat inside destination list 100 pool p\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Compile(parse(t, tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Routes) != 1 || r.Routes[0].FTPALG != tt.want {
				t.Fatalf("routes %+v: want FTPALG %v", r.Routes, tt.want)
			}
		})
	}
}
