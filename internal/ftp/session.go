package ftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/proxyheader"
)

// session is one control connection, from greeting to close.
type session struct {
	srv  *Server
	conn net.Conn // the accepted connection; closing it ends the session
	info ConnInfo
	log  sessionLog
	r    *ctlReader // reads ctl

	wmu sync.Mutex // serialises replies from the command loop and the transfer goroutine
	// ctl carries commands and replies: conn, or TLS over it after AUTH TLS
	// (tls.go). It changes only in the command loop, under wmu.
	ctl net.Conn

	// partial holds a line that has not ended yet: longer than the bufio
	// buffer, or cut off by a read deadline (the wake-up when a transfer
	// ends). partialLong (below) marks one already over MaxLine.
	partial []byte
	// queue holds commands that arrived during a transfer, to run in order
	// when it ends (RFC 959 4.1.3: only ABOR and STAT act at once). The
	// command loop keeps reading meanwhile, so ABOR is always heard.
	queue       []queued
	queuedBytes int       // of the queued commands' text, bounded by maxQueuedBytes
	loginBy     time.Time // login must complete by then (reset by REIN)

	// coord is the slice of the passive range and the public address a
	// coordinating gateway gave this session (Rotary's PROXY TLV); nil
	// without one.
	coord *proxyheader.Coordination

	errors int

	// Login state.
	user     string // from USER, waiting for PASS
	acct     *Account
	failures int

	// Transfer parameters (and asciiMode, epsvAll and mlstFacts below).
	cwd        string
	restOffset int64
	renameFrom string
	pasv       *passive.Reservation
	early      *earlyTLS    // pasv's connection under PROT P (tls.go)
	port       *net.TCPAddr // PORT/EPRT target
	hashAlgo   string

	// FTPS state (tls.go): nil until AUTH TLS or an implicit TLS accept.
	tls *sessionTLS

	// status is what Sessions reads from other goroutines.
	status sessionStatus

	// xfer is the running transfer, if any; guarded by xferMu.
	xferMu sync.Mutex
	xfer   *transfer
	quit   atomic.Bool
	// byeSaid: the shutdown's 421 has been written (sayShuttingDown).
	byeSaid atomic.Bool

	// The one-byte fields sit together, after quit, so that the session
	// fits a smaller allocation size class (576 bytes instead of 640; issue
	// 21: idle sessions).
	partialLong bool // partial is already over MaxLine
	admitted    bool // counted by the server's connection limits; guarded by srv.mu
	// optionsSet: conn inherited SO_OOBINLINE and keepalive from its
	// listener (ListenControl), so open does not set them again.
	optionsSet bool
	asciiMode  bool    // TYPE A
	epsvAll    bool    // EPSV ALL: PASV, PORT and EPRT are refused
	mlstFacts  factSet // OPTS MLST
	pbsz       bool    // PBSZ done
	protP      bool    // PROT P: data connections are TLS
	parking    bool    // tells endOrPark to park (park.go)

	// Parking (park.go). parkAt is when the current read's deadline is the
	// one that parks the session.
	parkAt time.Time
	park   parkState

	// ctx is the context of the session's storage calls: the session's
	// end and Server.Close cancel it (and with it every transfer's).
	ctx    context.Context
	cancel context.CancelFunc
}

func newSession(srv *Server, c net.Conn, info ConnInfo) *session {
	now := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		ctx:       ctx,
		cancel:    cancel,
		srv:       srv,
		conn:      c,
		ctl:       c,
		info:      info,
		log:       sessionLog{srv.settings().logger, info.Client.Addr()},
		cwd:       "/",
		hashAlgo:  "SHA-256",
		mlstFacts: defaultFacts,
		park:      parkState{index: -1},
	}
	s.status.opened = now
	s.status.lastCmd.Store(now.UnixNano())
	return s
}

// serve is the whole life of a session: greet, then read and dispatch
// commands until QUIT, an error or a timeout. An idle session may park on
// the way (park.go): its goroutine ends and resume goes on later.
//
// A session's goroutine waits in the control connection's read, so its
// stack is part of what a session costs. serve and commandLoop are kept to
// small frames (the work is in //go:noinline helpers): with under about
// 1.2 KiB in use while waiting, a GC can shrink the stack of a session to
// 4 KiB, however deep its login went (issue 6).
func (s *session) serve() {
	defer s.endOrPark()
	if !s.open() {
		return
	}
	s.commandLoop()
}

// finish runs when the session ends, however it ends; panicked is what
// its goroutine recovered, if it panicked.
//
//go:noinline
func (s *session) finish(panicked any) {
	if panicked != nil {
		s.log.Error("panic serving session", "panic", panicked, "stack", string(debug.Stack()))
		s.reply(421, "Internal error, closing control connection")
	}
	s.abortTransfer()
	s.cancel()
	s.releaseData()
	user := s.userName()
	var closed SessionInfo
	if s.status.observed.Load() {
		closed = s.snapshot()
	}
	s.logout()
	s.conn.Close()
	if s.r != nil {
		s.r.close()
	}
	s.log.Info("session closed", "user", user, "duration", time.Since(s.status.opened).Round(time.Millisecond))
	if o := s.observer(); o != nil && s.status.observed.Load() {
		o.SessionClosed(closed)
	}
}

// open reads a trusted PROXY header, runs the implicit TLS handshake,
// admits the connection and greets it. It reports false when the session
// ends there.
//
//go:noinline
func (s *session) open() bool {
	if !s.optionsSet {
		setOOBInline(s.conn)
	}
	if s.srv.settings().proxyFrom.Contains(s.info.Client.Addr()) && !s.readProxyHeader() {
		return false
	}
	if ic, ok := s.conn.(*implicitConn); ok && !s.implicitHandshake(ic) {
		return false
	}
	if refuse := s.srv.admit(s); refuse != "" {
		s.log.Info("connection refused", "reason", refuse)
		s.reply(421, refuse)
		return false
	}
	s.r = newCtlReader(s.ctl)
	s.log.Info("session opened", "local", s.info.Local.String())
	// From here on Sessions lists s: its ConnInfo is final (the store
	// publishes it to the goroutines that read it).
	s.status.observed.Store(true)
	st := s.srv.settings()
	if st.observer != nil {
		st.observer.SessionOpened(s.snapshot())
	}
	if !s.reply(220, st.greeting) {
		return false
	}
	s.loginBy = time.Now().Add(st.login)
	return true
}

// readProxyHeader takes the real client's address from a trusted
// gateway's PROXY header.
//
//go:noinline
func (s *session) readProxyHeader() bool {
	peer := s.info.Client
	st := s.srv.settings()
	h, err := proxyheader.ReadHeader(tcpConn(s.conn), st.proxyHeaderTimeout)
	client, dest := h.Client, h.Dest
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, io.EOF) {
			level = slog.LevelDebug // a health check: connect and close
		}
		s.log.Log(context.Background(), level, "PROXY header from trusted peer failed", "peer", peer.String(), "err", err)
		return false
	}
	if v, ok := h.TLV(proxyheader.TypeRotaryCoordinate); ok {
		c, err := proxyheader.ParseCoordination(v)
		if err != nil {
			s.log.Warn("PROXY header from trusted peer rejected: connection closed", "peer", peer.String(), "err", err)
			return false
		}
		s.coord = &c
	}
	s.info.Client, s.info.Dest = client, dest
	s.log = sessionLog{st.logger, client.Addr()}
	s.log.Debug("PROXY header", "peer", peer.String(), "dest", dest.String())
	return true
}

// implicitHandshake runs implicit FTPS's handshake, which comes first, so
// that even a refusal (421) is readable, and it is bounded (a refused
// client could otherwise hold the goroutine). Data is protected without
// PBSZ/PROT, as with vsftpd and ProFTPD.
//
//go:noinline
func (s *session) implicitHandshake(ic *implicitConn) bool {
	err := ic.st.handshake()
	s.observeHandshake(true, err)
	if err != nil {
		s.log.Info("TLS handshake on implicit control connection failed", "err", err)
		return false
	}
	s.useTLS(ic.st)
	s.pbsz, s.protP = true, true
	return true
}

// commandLoop reads and runs commands until the session ends. Its frame is
// what an idle session holds on its stack, so everything but the read is
// in helpers.
func (s *session) commandLoop() {
	for !s.quit.Load() {
		// Commands that waited for a transfer run now, in order.
		if len(s.queue) > 0 {
			s.runQueued()
		}
		if s.quit.Load() {
			return
		}
		deadline, ok := s.armReadDeadline()
		if !ok {
			return
		}
		if len(s.queue) > 0 && !s.transferRunning() {
			// The transfer ended between runQueued and the deadline
			// (which would have overwritten its wake-up): run the queue.
			continue
		}
		line, tooLong, err := s.readLine()
		if err != nil {
			if s.readFailed(err, deadline) {
				continue
			}
			return
		}
		if tooLong {
			s.lineTooLong()
			continue
		}
		s.handleLine(line)
	}
}

// runQueued runs the commands that waited for a transfer, in order, until
// the queue is empty or another transfer starts.
//
//go:noinline
func (s *session) runQueued() {
	for len(s.queue) > 0 && !s.transferRunning() && !s.quit.Load() {
		q := s.dequeue()
		s.dispatch(q.verb, q.arg)
	}
}

// armReadDeadline sets the control connection's read deadline (idle
// timeout, or the login deadline before login) and returns it. It reports
// false, after a 421, when the server is shutting down.
//
//go:noinline
func (s *session) armReadDeadline() (time.Time, bool) {
	if s.srv.closing.Load() && !s.transferRunning() {
		s.sayShuttingDown()
		return time.Time{}, false
	}
	st := s.srv.settings()
	deadline := time.Time{}
	if st.idle > 0 {
		deadline = time.Now().Add(st.idle)
	}
	if s.acct == nil && st.login > 0 && (deadline.IsZero() || s.loginBy.Before(deadline)) {
		deadline = s.loginBy
	}
	s.conn.SetReadDeadline(s.readDeadline(deadline, st))
	return deadline, true
}

// readFailed handles an error from the control connection's read. It
// reports true when the loop goes on: the deadline was a wake-up from a
// transfer's end, or data is still flowing. Otherwise it answers a timeout
// with 421 and the session ends.
//
//go:noinline
func (s *session) readFailed(err error, deadline time.Time) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("control connection read failed", "err", err)
		}
		return false
	}
	if s.parkNow(deadline) {
		return false // endOrPark parks the session
	}
	if s.transferRunning() || len(s.queue) > 0 || deadline.IsZero() || time.Now().Before(deadline) {
		// Data flows, or the transfer's end woke the loop.
		return true
	}
	if s.acct == nil && s.srv.settings().login > 0 && !time.Now().Before(s.loginBy) {
		s.log.Info("login timeout")
		s.reply(421, "Login timeout, closing control connection")
	} else {
		s.log.Info("idle timeout")
		s.reply(421, "Timeout, closing control connection")
	}
	return false
}

//go:noinline
func (s *session) lineTooLong() {
	s.protocolError(500, fmt.Sprintf("Command line too long (over %d bytes)", MaxLine))
}

// readLine reads one command line, strips Telnet IAC sequences and the line
// end. A line over MaxLine is consumed up to its end and reported tooLong.
// A read error (a deadline) keeps what arrived of the line for the next call.
func (s *session) readLine() (line []byte, tooLong bool, err error) {
	if len(s.partial) == 0 && !s.partialLong {
		chunk, err := s.r.readSlice()
		if err == nil {
			return stripTelnet(chunk), false, nil
		}
		s.addPartial(chunk)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, err
		}
	}
	for {
		chunk, err := s.r.readSlice()
		s.addPartial(chunk)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, err
		}
	}
	line, long := s.partial, s.partialLong
	s.partial, s.partialLong = s.partial[:0], false
	if long {
		return nil, true, nil
	}
	return stripTelnet(line), false, nil
}

func (s *session) addPartial(chunk []byte) {
	if s.partialLong {
		return
	}
	if len(s.partial)+len(chunk) > MaxLine+2 {
		s.partialLong = true
		s.partial = s.partial[:0]
		return
	}
	s.partial = append(s.partial, chunk...)
}

// stripTelnet removes Telnet commands (RFC 854: IAC followed by a command,
// with an option byte for WILL/WONT/DO/DONT; IAC IAC is a literal 0xFF) and
// the trailing CRLF or LF, in place.
func stripTelnet(b []byte) []byte {
	const (
		iac  = 255
		will = 251
		dont = 254
	)
	out := b[:0]
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != iac {
			out = append(out, c)
			continue
		}
		if i+1 >= len(b) {
			break
		}
		i++
		switch cmd := b[i]; {
		case cmd == iac:
			out = append(out, iac)
		case cmd >= will && cmd <= dont:
			i++ // skip the option byte
		}
	}
	for len(out) > 0 && (out[len(out)-1] == '\n' || out[len(out)-1] == '\r') {
		out = out[:len(out)-1]
	}
	return out
}

// handleLine validates and dispatches one command line.
func (s *session) handleLine(line []byte) {
	s.status.lastCmd.Store(time.Now().UnixNano())
	for i := 0; i < len(line); i++ {
		if line[i] == 0 {
			s.protocolError(501, "NUL byte in command")
			return
		}
	}
	// RFC 2640: path names are UTF-8. Invalid sequences never reach the
	// file system.
	if !utf8.Valid(line) {
		s.protocolError(501, "Invalid UTF-8 in command")
		return
	}
	verb, arg := parseCommand(string(line))
	if verb == "" {
		s.protocolError(500, "Empty command")
		return
	}
	s.dispatch(verb, arg)
}

// protocolError answers a bad command and hangs up after too many in a row.
func (s *session) protocolError(code int, text string) {
	s.errors++
	if s.errors >= s.srv.settings().maxErrors {
		s.log.Info("too many errors, closing", "last", text)
		s.reply(421, "Too many errors, closing control connection")
		s.quit.Store(true)
		return
	}
	s.reply(code, text)
}

// reply writes one reply. It reports false if the control connection is
// broken, which also ends the command loop.
func (s *session) reply(code int, text string) bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	buf := replyBufPool.Get().(*[]byte)
	b := appendReply((*buf)[:0], code, text)
	ok := s.writeRepliesLocked(b, code, 0)
	putReplyBuf(buf, b)
	return ok
}

// replies is reply for two replies in one write (a transfer's 150 and its
// end).
func (s *session) replies(code1 int, text1 string, code2 int, text2 string) bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	buf := replyBufPool.Get().(*[]byte)
	b := appendReply(appendReply((*buf)[:0], code1, text1), code2, text2)
	ok := s.writeRepliesLocked(b, code1, code2)
	putReplyBuf(buf, b)
	return ok
}

// replyBufPool holds the buffers replies are formatted in. A buffer on the
// stack escapes through the control connection's Write (an interface), so
// without the pool every reply allocated one: three 256-byte buffers of
// garbage per login (issue 21: idle sessions, whose PSS includes the
// garbage of their logins until the next GC).
var replyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// putReplyBuf gives a reply buffer back, b being what it grew to; one that
// grew past a few KiB for a long multi-line reply (HELP, STAT) is dropped.
func putReplyBuf(buf *[]byte, b []byte) {
	if cap(b) > 4<<10 {
		return
	}
	*buf = b[:0]
	replyBufPool.Put(buf)
}

// writeRepliesLocked writes b, the replies code1 and (unless 0) code2,
// under s.wmu.
func (s *session) writeRepliesLocked(b []byte, code1, code2 int) bool {
	st := s.srv.settings()
	s.conn.SetWriteDeadline(time.Now().Add(st.replyTimeout))
	if _, err := s.ctl.Write(b); err != nil {
		s.quit.Store(true)
		s.conn.Close()
		return false
	}
	if st.observer != nil {
		st.observer.Replied(code1)
		if code2 != 0 {
			st.observer.Replied(code2)
		}
	}
	return true
}

func (s *session) userName() string {
	if s.acct != nil {
		return s.acct.Name
	}
	return s.user
}

func (s *session) logout() {
	if s.acct != nil && s.acct.Close != nil {
		s.acct.Close()
	}
	s.acct = nil
	s.user = ""
	s.setUser("")
}

// closeIfIdle is called by Shutdown: an idle session is told 421 and closed;
// a session in a transfer is closed when the transfer ends.
func (s *session) closeIfIdle() {
	if s.transferRunning() {
		return
	}
	if s.sayShuttingDown() {
		s.conn.Close()
	}
	unpark(s)
}

// sayShuttingDown writes the shutdown's 421 once: Shutdown (closeIfIdle),
// the end of a transfer and the command loop may each find the session
// done with its last command at the same moment. Only the caller that
// wrote it (true) closes the connection, so no 421 is cut off by another's
// close; the others leave the end to it.
func (s *session) sayShuttingDown() bool {
	if !s.byeSaid.CompareAndSwap(false, true) {
		return false
	}
	s.reply(421, "Server shutting down")
	return true
}

// releaseData forgets the data connection set up by PASV/EPSV/PORT/EPRT.
func (s *session) releaseData() {
	if s.early != nil {
		s.early.stop()
		s.early = nil
	}
	if s.pasv != nil {
		s.pasv.Release()
		s.pasv = nil
	}
	s.port = nil
}
