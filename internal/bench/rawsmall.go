package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftpclient"
)

// rawSmall measures the machine's ceiling for small-retr: per operation,
// the least an FTP server must do for a small download, against a trivial
// responder in this process. The client writes one request line on its
// persistent control connection, the responder answers one line naming the
// data port, the client connects, the responder accepts, writes SmallSize
// bytes from memory and closes, and the client reads to EOF and checks the
// count. Clients connections do this back to back for Duration, in the
// loop small-retr runs in, and latency runs from the request to EOF
// (small-retr's from PASV to 226).
//
// An FTP server does more: PASV and RETR are two round trips and the 226 a
// third reply, the file is opened through a file system, the passive port
// comes from a pool. The ceiling leaves all of it out, so small-retr ÷
// raw-small, with the same clients in the same run, is the share of the
// machine's limit a server reaches.
func (r *runner) rawSmall(ctx context.Context, res *Result) error {
	return r.smallCeiling(ctx, res, false)
}

// rawFTPSmall measures the ceiling of FTP's own exchange for a small
// download: the client is small-retr's (ftpclient's Open: PASV, 227,
// connect, RETR, 150, read to EOF, 226), the responder a trivial one that
// answers PASV with its pre-bound data port and RETR by accepting, writing
// SmallSize bytes from memory, closing, and sending 150 and 226 in one
// write (what Rotary does when the file fits the socket buffer). Against
// raw-small it adds the second request and reply FTP needs; against
// small-retr it leaves out what a server does beyond the protocol: a
// passive port pool, a file system, sessions, logging. No login.
func (r *runner) rawFTPSmall(ctx context.Context, res *Result) error {
	return r.smallCeiling(ctx, res, true)
}

// smallCeiling runs raw-small or (ftp) raw-ftp-small: Clients connections
// to a smallResponder in this process, in the loop small-retr runs in.
func (r *runner) smallCeiling(ctx context.Context, res *Result, ftp bool) error {
	resp, err := listenSmallResponder(r.cfg.SmallSize, ftp)
	if err != nil {
		return err
	}
	defer resp.Close()
	prog := r.progress(res.Name())
	defer prog.stop()
	// No keepalive, as ftpclient's own connections: every wait has a
	// deadline, and a load client should not spend setsockopt(2) calls on
	// each data connection.
	nd := net.Dialer{KeepAlive: -1, Timeout: ftpclient.ReplyTimeout}
	open := func(ctx context.Context) (*ftpclient.Conn, error) {
		conn, err := nd.DialContext(ctx, "tcp", resp.Addr().String())
		if err != nil {
			return nil, fmt.Errorf("%s control connection: %w", res.Workload, err)
		}
		return ftpclient.NewConn(conn), nil
	}
	op := func(c *ftpclient.Conn, buf []byte) error {
		return r.rawSmallOnce(ctx, &nd, c, buf, prog)
	}
	if ftp {
		op = func(c *ftpclient.Conn, buf []byte) error {
			return retrOnce(ctx, c, buf, "small", r.cfg.SmallSize, prog)
		}
	}
	lat, failures, elapsed, firstErr := r.loop(ctx, r.cfg.Clients, open, op)
	res.Clients = r.cfg.Clients
	return fillOps(res, lat, failures, elapsed, firstErr)
}

// rawSmallOnce is one raw-small operation: the request, the data port in
// its reply, the data connection read to EOF and its count checked.
func (r *runner) rawSmallOnce(ctx context.Context, nd *net.Dialer, c *ftpclient.Conn, buf []byte, prog *progress) error {
	code, msg, err := c.Cmd("RETR small")
	if err != nil {
		return err
	}
	if code != 150 {
		return &ftpclient.ReplyError{Cmd: "RETR small", Code: code, Msg: msg}
	}
	port, err := ftpclient.ParseEPSV(msg)
	if err != nil {
		return err
	}
	tcp, err := nd.DialContext(ctx, "tcp", netip.AddrPortFrom(c.Host(), uint16(port)).String())
	if err != nil {
		return fmt.Errorf("data connection: %w", err)
	}
	tcp.SetDeadline(time.Now().Add(ftpclient.ReplyTimeout))
	n, err := ftpclient.NewData(tcp).Drain(nil, buf, nil)
	tcp.Close()
	if err != nil {
		return fmt.Errorf("raw-small data: %w", err)
	}
	if n != r.cfg.SmallSize {
		return fmt.Errorf("raw-small: got %d bytes, want %d", n, r.cfg.SmallSize)
	}
	prog.op()
	return nil
}

// smallResponder is raw-small's server on 127.0.0.1. Each control
// connection gets a data listener of its own, bound when the connection
// comes and kept for its whole life: a server with a pre-bound passive port,
// so no bind(2) or listen(2) per transfer. Each request line gets the reply
// "150 (|||port|)", one accepted data connection, the payload, and close.
// With ftp (raw-ftp-small) it speaks the least of FTP instead: PASV gets
// "227 (h1,h2,h3,h4,p1,p2)", RETR the accepted connection, the payload,
// close, then "150" and "226" in one write.
type smallResponder struct {
	l       net.Listener
	payload []byte
	ftp     bool

	mu     sync.Mutex
	open   map[io.Closer]struct{} // control connections and data listeners
	closed bool
	wg     sync.WaitGroup
}

func listenSmallResponder(size int64, ftp bool) (*smallResponder, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("raw-small responder: %w", err)
	}
	s := &smallResponder{l: l, payload: make([]byte, size), ftp: ftp, open: make(map[io.Closer]struct{})}
	for i := 0; i < len(s.payload); {
		i += copy(s.payload[i:], pattern())
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the control connections' address.
func (s *smallResponder) Addr() net.Addr { return s.l.Addr() }

// Close stops accepting, closes every control connection and data
// listener, and waits for the sessions to end.
func (s *smallResponder) Close() {
	s.l.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *smallResponder) serve() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, say: the client's dial will
			// wait, and its timeout reports it.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go s.session(c)
	}
}

// track registers closers for Close; false means Close has run.
func (s *smallResponder) track(cs ...io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	for _, c := range cs {
		s.open[c] = struct{}{}
	}
	return true
}

func (s *smallResponder) untrack(cs ...io.Closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		delete(s.open, c)
	}
}

// session serves one control connection until QUIT, its end, or Close.
func (s *smallResponder) session(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	dl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return
	}
	defer dl.Close()
	if !s.track(c, dl) {
		return
	}
	defer s.untrack(c, dl)
	port := dl.Addr().(*net.TCPAddr).Port
	reply := fmt.Appendf(nil, "150 (|||%d|)\r\n", port)
	if s.ftp {
		reply = fmt.Appendf(nil, "227 Entering Passive Mode (127,0,0,1,%d,%d).\r\n", port>>8, port&0xff)
	}
	final := []byte("150 Opening data connection.\r\n226 Transfer complete.\r\n")
	br := bufio.NewReaderSize(c, 512)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil || bytes.HasPrefix(line, []byte("QUIT")) {
			return
		}
		isRETR := s.ftp && bytes.HasPrefix(line, []byte("RETR"))
		if !isRETR {
			if _, err := c.Write(reply); err != nil {
				return
			}
			if s.ftp {
				continue // PASV: the data connection comes with RETR
			}
		}
		// A client that fails to connect is waited for no longer than
		// any reply.
		dl.SetDeadline(time.Now().Add(ftpclient.ReplyTimeout))
		d, err := dl.Accept()
		if err != nil {
			return
		}
		_, err = d.Write(s.payload)
		d.Close()
		if err != nil {
			return
		}
		if isRETR {
			if _, err := c.Write(final); err != nil {
				return
			}
		}
	}
}
