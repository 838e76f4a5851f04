package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/ratelimit"
	"github.com/rotary-ftp/rotary/internal/storage"
)

// TransferRecord describes a finished transfer, for transfer logs.
type TransferRecord struct {
	End       time.Time
	Duration  time.Duration
	Client    netip.Addr
	User      string
	Anonymous bool
	Path      string
	Bytes     int64
	Upload    bool // STOR, APPE, STOU; false for RETR
	ASCII     bool
	Complete  bool
	// Session is the session's ID (SessionInfo.ID), Verb the command, and
	// Result how it ended: "ok", "aborted", "stalled", "no data
	// connection", "panic" or "failed: ERROR".
	Session uint64
	Verb    string
	Result  string
}

// transfer is one data transfer running in its own goroutine while the
// command loop keeps reading the control connection for ABOR and STAT.
type transfer struct {
	verb   string
	path   string
	size   int64 // bytes to send, when known (RETR); -1 otherwise
	s      *session
	file   bool // a file transfer (logged to the transfer log), not a listing
	ascii  bool
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	aborted atomic.Bool
	mu      sync.Mutex
	data    net.Conn // set once the data connection is open
	// wake, while set, ends the system call of a blocking transfer that
	// owns the data connection's socket (zerocopy_linux.go).
	wake func()
	// detached is set, in the transfer's goroutine, once a blocking
	// transfer took the socket out of data: data is closed already.
	detached bool

	// moved counts the bytes so far, for Sessions and the observer;
	// unreported is the part not yet told to the observer. Only the
	// transfer's goroutine adds to them.
	moved      atomic.Int64
	unreported int64

	// opener is the 150 reply's text while it is not sent yet. A small
	// RETR (lazyOpener) sends it with the final reply, in one write, when
	// its file went out in one system call that did not wait: the client
	// saw nothing that it had to answer in between. Only the transfer's
	// goroutine uses them.
	opener     string
	lazyOpener bool

	// inline is set while the transfer runs in the command goroutine: a
	// small RETR whose data connection had arrived before the command
	// (startTransferSized). Its body must not wait on the client then: it
	// returns errWouldWait, and the rest runs in a goroutine of its own.
	inline bool
	// queued is the data connection taken from the listen queue before
	// the transfer began (takeQueued), for openTransferData.
	queued net.Conn
}

// inlineWait is how long a small RETR waits for its data connection to be
// accepted before it runs inline. The client connects before it sends
// RETR, but the pool's accept may run a moment after the command: without
// the wait, 60% of small RETRs took a goroutine of their own (BENCHMARKS.md).
// A client that connects later gets the goroutine after this wait.
const inlineWait = time.Millisecond

// errWouldWait is an inline body's way to say that what is left of the
// transfer may wait on the client, so it goes on in its own goroutine.
var errWouldWait = errors.New("the transfer would wait: it goes on in its own goroutine")

// sendOpener writes the 150 reply if it is not written yet. A lazy body
// calls it before anything that may wait on the client.
func (t *transfer) sendOpener() {
	if t.opener != "" {
		t.s.reply(150, t.opener)
		t.opener = ""
	}
}

// finalReply writes the transfer's last reply, with the 150 before it in
// the same write if that is still due.
func (t *transfer) finalReply(code int, text string) {
	if t.opener == "" {
		t.s.reply(code, text)
		return
	}
	t.s.replies(150, t.opener, code, text)
	t.opener = ""
}

// progressReportBytes is how many bytes a transfer moves between two
// TransferProgress calls (at most; the last call comes at the end).
const progressReportBytes = 4 << 20

// info describes t for Sessions and the observer.
func (t *transfer) info() TransferInfo {
	ti := TransferInfo{Session: t.s.status.id, Client: t.s.info.Client.Addr(), Verb: t.verb, Path: t.path,
		Upload: t.verb == "STOR" || t.verb == "APPE" || t.verb == "STOU", Started: t.start, Size: t.size, Bytes: t.moved.Load()}
	if u := t.s.status.user.Load(); u != nil {
		ti.User = *u
	}
	return ti
}

// progress records n more bytes moved. The copy loops call it per chunk
// (a splice, a sendfile of at most sendFileChunk, a 16 MiB CopyN, a
// userspace read or write), never per byte; the observer hears of them
// every progressReportBytes.
func (t *transfer) progress(n int64) {
	if n <= 0 {
		return
	}
	t.moved.Add(n)
	if t.unreported += n; t.unreported >= progressReportBytes {
		t.reportProgress()
	}
}

func (t *transfer) reportProgress() {
	if d := t.unreported; d > 0 && t.s != nil { // tests run transfers without a session
		t.unreported = 0
		if o := t.s.observer(); o != nil {
			o.TransferProgress(t.info(), d)
		}
	}
}

// abort stops the transfer: it wakes a pending accept/connect, shuts down
// and closes the data connection, which ends a blocked copy, and wakes a
// blocking transfer that detached the socket (t.wake).
func (t *transfer) abort() {
	t.aborted.Store(true)
	t.cancel()
	t.mu.Lock()
	if t.data != nil {
		if tc, ok := t.data.(*net.TCPConn); ok {
			// Wakes a sendfile blocked on a full socket buffer or a splice
			// blocked on an empty one (zerocopy_linux.go), which Close
			// alone would wait for.
			tc.CloseRead()
			tc.CloseWrite()
		}
		t.data.Close()
	}
	if t.wake != nil {
		t.wake()
	}
	t.mu.Unlock()
}

func (t *transfer) setData(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.aborted.Load() {
		return false
	}
	t.data = c
	return true
}

// transferBody moves the data; it returns the byte count and the error. Errors
// from storage keep their kind so errorReply can map them (a full disk is 452).
type transferBody func(t *transfer, data net.Conn) (int64, error)

// transferFinish runs after the body (with the body's error) and before the
// final reply; STOR commits or discards the upload here. Its error replaces
// a nil body error.
type transferFinish func(bodyErr error) error

func (s *session) currentTransfer() *transfer {
	s.xferMu.Lock()
	defer s.xferMu.Unlock()
	return s.xfer
}

func (s *session) transferRunning() bool { return s.currentTransfer() != nil }

// waitTransfer blocks until the running transfer, if any, has ended.
func (s *session) waitTransfer() {
	if t := s.currentTransfer(); t != nil {
		<-t.done
	}
}

// abortTransfer aborts the running transfer and waits for it to end.
func (s *session) abortTransfer() {
	if t := s.currentTransfer(); t != nil {
		t.abort()
		<-t.done
	}
}

// startTransfer takes the data connection set up by PASV/EPSV/PORT/EPRT and
// runs body in the transfer goroutine. The opener is the message of the 150
// reply. finish, when not nil, always runs once, even when no data
// connection could be opened.
func (s *session) startTransfer(verb, p, opener string, body transferBody, finish transferFinish) {
	s.startTransferSized(verb, p, -1, opener, false, false, body, finish)
}

// startTransferSized is startTransfer for a transfer of a known size. With
// lazyOpener the body writes the 150 reply itself (transfer.sendOpener),
// or leaves it to go out with the final reply. With bare as well, a data
// connection waiting in the listen queue is taken as a bare socket
// (takeQueued): for a body that sends a local file with sendSmall.
func (s *session) startTransferSized(verb, p string, size int64, opener string, lazyOpener, bare bool, body transferBody, finish transferFinish) {
	res, early, target := s.pasv, s.early, s.port
	s.pasv, s.early, s.port = nil, nil, nil
	s.restOffset = 0
	if res == nil && target == nil {
		if finish != nil {
			finish(errNoDataConn)
		}
		s.reply(425, "Use PORT, PASV, EPRT or EPSV first")
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	t := &transfer{verb: verb, path: p, size: size, s: s, start: time.Now(), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		file: verb != "LIST" && verb != "NLST" && verb != "MLSD", ascii: s.asciiMode, lazyOpener: lazyOpener}
	s.xferMu.Lock()
	s.xfer = t
	s.xferMu.Unlock()
	if lazyOpener && bare && res != nil && early == nil && !s.protP {
		// Waiting in the listen queue already: taken as a bare socket.
		t.queued = takeQueued(res, size)
	}
	if lazyOpener && res != nil && early == nil && !s.protP && (t.queued != nil || res.WaitReady(inlineWait)) {
		// A small RETR whose data connection is there already: one
		// non-blocking sendfile usually sends all of it, so it runs here,
		// without a goroutine, a context switch and a wake-up of the
		// command loop per file; what would wait goes on in a goroutine
		// (errWouldWait).
		t.inline = true
		s.runTransfer(t, res, early, target, nil, opener, body, finish)
		return
	}
	go s.runTransfer(t, res, early, target, nil, opener, body, finish)
}

var (
	errNoDataConn = errors.New("no data connection")
	errPanic      = errors.New("internal error in transfer")
)

// runTransfer runs t: it opens the data connection (data nil) or goes on
// with data (an inline transfer handed over), runs body, and gives the
// final reply.
func (s *session) runTransfer(t *transfer, res *passive.Reservation, early *earlyTLS, target *net.TCPAddr, data net.Conn, opener string, body transferBody, finish transferFinish) {
	var (
		n         int64
		err       error
		result    string
		handedOff bool // the rest runs in another call, which ends t
	)
	// finish runs exactly once, even when the body panics: it closes the
	// file or discards the upload, which must not wait for the session's end.
	if finish != nil {
		inner, done := finish, false
		finish = func(err error) error {
			if done {
				return nil
			}
			done = true
			return inner(err)
		}
	}
	defer func() {
		if handedOff {
			return
		}
		if v := recover(); v != nil {
			s.log.Error("panic in transfer", "panic", v, "stack", string(debug.Stack()))
			t.abort() // closes the data connection
			if finish != nil {
				finish(errPanic)
			}
			t.finalReply(451, "Internal error in transfer")
			result = "panic"
		}
		if res != nil {
			res.Release()
		}
		elapsed := time.Since(t.start)
		s.log.Info("transfer", "user", s.userName(), "cmd", t.verb, "path", t.path,
			"bytes", n, "duration", elapsed.Round(time.Microsecond), "result", result)
		st := s.srv.settings()
		if st.transferLog != nil && t.file || st.observer != nil {
			rec := TransferRecord{End: time.Now(), Duration: elapsed, Client: s.info.Client.Addr(), User: s.userName(),
				Anonymous: s.acct != nil && s.acct.Anonymous, Path: t.path, Bytes: n, Upload: t.info().Upload,
				ASCII: t.ascii, Complete: result == "ok", Session: s.status.id, Verb: t.verb, Result: result}
			if st.transferLog != nil && t.file {
				st.transferLog(rec)
			}
			if st.observer != nil {
				st.observer.TransferEnded(rec)
			}
		}
		s.endTransfer(t)
	}()

	if data == nil {
		if data, result = s.openTransferData(t, res, early, target, opener, finish); data == nil {
			return
		}
	}

	n, err = body(t, data)
	if err == errWouldWait && t.inline {
		handedOff = true
		t.inline = false
		go s.runTransfer(t, res, early, target, data, opener, body, finish)
		return
	}
	// The copy loops report their chunks; what they did not report (a
	// copy that ended with an error mid-chunk) is added now.
	t.progress(n - t.moved.Load())
	t.reportProgress()
	var closeErr error
	if !t.detached {
		closeErr = data.Close()
	}
	if err == nil && closeErr != nil && !t.aborted.Load() {
		err = closeErr
	}
	if finish != nil {
		if ferr := finish(err); err == nil {
			err = ferr
		}
	}
	switch {
	case t.aborted.Load():
		result = "aborted"
		t.finalReply(426, "Transfer aborted")
	case errors.Is(err, os.ErrDeadlineExceeded):
		result = "stalled"
		t.finalReply(426, "Data connection timed out: no progress; transfer aborted")
	case err == nil:
		result = "ok"
		t.finalReply(226, "Transfer complete")
	default:
		// A storage error (full disk: 452) keeps its own reply even when
		// it reaches us wrapped in a *net.OpError by TCPConn.WriteTo.
		code, text := errorReply(err)
		if code == 451 && isNetError(err) {
			code, text = 426, "Connection closed; transfer aborted"
		}
		result = "failed: " + err.Error()
		t.finalReply(code, text)
	}
}

// openTransferData opens t's data connection and sends the 150 reply
// unless t's body does (lazyOpener). When it cannot, it gives the reply,
// runs finish, and returns nil and the transfer's result for the log.
func (s *session) openTransferData(t *transfer, res *passive.Reservation, early *earlyTLS, target *net.TCPAddr, opener string, finish transferFinish) (net.Conn, string) {
	data, err := t.queued, error(nil)
	if t.queued != nil {
		t.queued = nil
	} else {
		data, err = s.openData(t.ctx, res, early, target)
	}
	if err != nil {
		if finish != nil {
			finish(err)
		}
		result := "no data connection"
		switch {
		case t.aborted.Load():
			result = "aborted"
			s.reply(426, "Transfer aborted")
		case errors.Is(err, passive.ErrTimeout):
			s.reply(425, "Can't open data connection: none arrived in time")
		default:
			s.reply(425, "Can't open data connection")
		}
		s.log.Debug("data connection failed", "err", err)
		return nil, result
	}
	if !t.setData(data) {
		data.Close()
		if finish != nil {
			finish(context.Canceled)
		}
		s.reply(426, "Transfer aborted")
		return nil, "aborted"
	}
	if o := s.observer(); o != nil {
		o.TransferStarted(t.info())
	}
	t.opener = opener
	if !t.lazyOpener {
		t.sendOpener()
	}
	return data, ""
}

func isNetError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

func (s *session) modeName() string {
	if s.asciiMode {
		return "ASCII"
	}
	return "BINARY"
}

// handleRETR: logged in, data connection set up -> file sent.
func (s *session) handleRETR(arg string) {
	if !s.allowed(PermRead) {
		s.discardData()
		return
	}
	p := s.resolve(arg)
	offset := s.restOffset
	// s.ctx, not the transfer's (which does not exist yet): ABOR ends the
	// copy by closing the data connection, and finish closes f.
	f, fi, err := s.openForRETR(p, offset)
	if err != nil {
		s.replyErr(err)
		s.discardData()
		return
	}
	size := fi.Size() - offset
	opener := fmt.Sprintf("Opening %s mode data connection for %s (%d bytes)", s.modeName(), p, size)
	ascii, rate := s.asciiMode, s.acct.DownloadRate
	known := size
	if ascii {
		known = -1 // CRs are added on the way
	}
	// A file under blockingSendMin may fit the socket buffer: it is tried
	// in one non-blocking sendfile before the 150 reply (lazyOpener).
	lazy := !ascii && rate <= 0 && size < blockingSendMin
	var (
		sent  int64 // by sendFileOnce; runTransfer reports it as progress
		tried bool  // sendFileOnce ran (an inline body that handed over)
	)
	of, isFile := f.(*os.File)
	s.startTransferSized("RETR", p, known, opener, lazy, lazy && isFile, func(t *transfer, data net.Conn) (int64, error) {
		if isFile && lazy && !tried {
			tried = true
			n, err, plain := sendSmall(data, of, size)
			if plain && (err != nil || n == size) {
				return n, err
			}
			sent = n // the rest follows from f's position
		}
		data, err := usualConn(data)
		if err != nil {
			return sent, err
		}
		if t.inline {
			return sent, errWouldWait
		}
		t.sendOpener()
		n, err := s.sendRETR(t, data, f, size, ascii, rate)
		return sent + n, err
	}, func(error) error {
		f.Close()
		return nil
	})
}

// openForRETR opens p at offset and describes it: in one call where the
// driver can (storage.StatOpener), else Stat first, so that a folder or
// an offset beyond the end is answered before anything is opened.
func (s *session) openForRETR(p string, offset int64) (io.ReadCloser, fs.FileInfo, error) {
	if so, ok := s.acct.FS.(storage.StatOpener); ok {
		return so.OpenStat(s.ctx, p, offset)
	}
	fi, err := s.acct.FS.Stat(s.ctx, p)
	switch {
	case err != nil:
		return nil, nil, err
	case fi.IsDir():
		return nil, nil, storage.ErrIsDir
	case offset > fi.Size():
		return nil, nil, storage.ErrBadOffset
	}
	f, err := s.acct.FS.Open(s.ctx, p, offset)
	if err != nil {
		return nil, nil, err
	}
	return f, fi, nil
}

// sendRETR sends f (size bytes from its position) on data: sendfile for a
// binary, unthrottled transfer on a plain connection, blocking for a big
// file; otherwise through user space.
func (s *session) sendRETR(t *transfer, data net.Conn, f io.Reader, size int64, ascii bool, rate int64) (int64, error) {
	if zeroCopy(data, ascii, rate) {
		if of, ok := f.(*os.File); ok && size >= blockingSendMin {
			// Full segments, as vsftpd and ProFTPD send files: Go turns
			// Nagle's algorithm off on every connection, which costs big
			// transfers about a sixth of their rate here; a file's last
			// segment goes out at close anyway.
			tc := data.(*net.TCPConn)
			tc.SetNoDelay(false)
			if n, err, handled := sendFileBlocking(t, tc, of, size, s.srv.settings().data); handled {
				return n, err
			}
		}
		return s.copyZeroCopy(data, data, f)
	}
	if td, ok := data.(*tlsDataConn); ok && !ascii && rate <= 0 {
		return s.sendTLS(t, td, f)
	}
	conn := s.deadlineConn(data)
	src := f
	if ascii {
		src = newASCIIEncoder(f)
	}
	return io.Copy(conn, throttle(src, rate))
}

// discardData drops the data connection setup after a command failed before
// its transfer began, so a stale port is not kept.
func (s *session) discardData() {
	s.releaseData()
	s.restOffset = 0
}

func (s *session) replyErr(err error) {
	code, text := errorReply(err)
	if code == 451 {
		s.log.Warn("storage error", "err", err)
	}
	s.reply(code, text)
}

// store runs STOR and APPE: the upload is written to a temporary file
// and committed (renamed into place) only when the whole transfer succeeded.
// Create's errors (no such folder, a directory, a bad REST offset) come
// before the 150 reply; the kept part of the old file is copied after it.
func (s *session) store(verb, p string, mode storage.CreateMode) {
	offset := s.restOffset
	if mode == storage.Append {
		offset = 0
	}
	if mode == storage.Truncate && offset > 0 {
		mode = storage.Resume
	}
	up, err := s.acct.FS.Create(s.ctx, p, mode, offset)
	if err != nil {
		s.replyErr(err)
		s.discardData()
		return
	}
	s.upload(verb, p, up, "")
}

// upload runs the transfer of an upload that Create started.
func (s *session) upload(verb, p string, up storage.Upload, opener string) {
	ascii, rate := s.asciiMode, s.acct.UploadRate
	if opener == "" {
		opener = fmt.Sprintf("Opening %s mode data connection for %s", s.modeName(), p)
	}
	s.startTransfer(verb, p, opener, func(t *transfer, data net.Conn) (int64, error) {
		if err := s.beginUpload(t, up); err != nil {
			return 0, err
		}
		if zeroCopy(data, ascii, rate) {
			if fu, ok := up.(storage.FileUpload); ok {
				if n, err, handled := receiveFileBlocking(t, data.(*net.TCPConn), fu.File(), s.srv.settings().data); handled {
					return n, err
				}
			}
			// up forwards ReadFrom to its *os.File: Linux splices the socket
			// into the file.
			return s.copyZeroCopy(data, up, data)
		}
		var src io.Reader = s.deadlineConn(data)
		if ascii {
			src = newASCIIDecoder(src)
		}
		return io.Copy(up, throttle(src, rate))
	}, func(bodyErr error) error {
		if bodyErr != nil || s.currentTransferAborted() {
			up.Abort()
			return nil
		}
		return up.Commit(s.ctx)
	})
}

// beginUpload runs the upload's Begin (APPE and REST+STOR copy the kept part
// of the old file there) in the transfer, after the 150 reply: ABOR cancels
// it, and so does a copy that moves nothing for the data timeout (426, as
// a stalled data connection).
func (s *session) beginUpload(t *transfer, up storage.Upload) error {
	ctx, progress, stop := stallContext(t.ctx, s.srv.settings().data)
	defer stop()
	err := up.Begin(ctx, progress)
	if err != nil && errors.Is(context.Cause(ctx), errStalled) {
		return fmt.Errorf("%w (%w)", errStalled, err)
	}
	return err
}

func (s *session) currentTransferAborted() bool {
	t := s.currentTransfer()
	return t != nil && t.aborted.Load()
}

func (s *session) handleSTOR(arg string) {
	if !s.allowed(PermWrite) {
		s.discardData()
		return
	}
	s.store("STOR", s.resolve(arg), storage.Truncate)
}

func (s *session) handleAPPE(arg string) {
	if !s.allowed(PermWrite) {
		s.discardData()
		return
	}
	// REST n + APPE resumes at n, as REST n + STOR does (clients resuming an
	// upload use either); without REST, APPE appends at the end.
	mode := storage.Append
	if s.restOffset > 0 {
		mode = storage.Resume
	}
	s.store("APPE", s.resolve(arg), mode)
}

// handleSTOU stores under a name that does not exist yet. RFC 1123 4.1.2.9:
// the 150 reply carries "FILE: name". Each candidate is created
// exclusively: a name that exists, or that another STOU is writing, fails
// at once with fs.ErrExist and the next is tried, and the upload's Commit
// never replaces a file that appeared meanwhile.
func (s *session) handleSTOU(arg string) {
	if !s.allowed(PermWrite) {
		s.discardData()
		return
	}
	base := "upload"
	if arg != "" {
		base = path.Base(s.resolve(arg))
	}
	dir := s.cwd
	s.restOffset = 0
	for i := range 1000 {
		name := base
		if i > 0 {
			name = base + "." + strconv.Itoa(i)
		}
		p := path.Join(dir, name)
		up, err := s.acct.FS.Create(s.ctx, p, storage.Exclusive, 0)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			s.replyErr(err)
			s.discardData()
			return
		}
		s.upload("STOU", p, up, "FILE: "+name)
		return
	}
	s.reply(450, "Could not find a unique file name")
	s.discardData()
}

// handleABOR: RFC 959 4.1.3. With a transfer running: 426 for the transfer,
// then 226 for ABOR. Without one: 225.
func (s *session) handleABOR(arg string) {
	t := s.currentTransfer()
	if t == nil {
		s.releaseData()
		s.reply(225, "No transfer to abort")
		return
	}
	t.abort()
	<-t.done
	s.reply(226, "ABOR command successful")
}

// blockingSendMin is the smallest RETR that takes sendFileBlocking. A
// smaller file fits the socket buffer, so the non-blocking sendfile never
// waits, and switching the socket's mode would only add system calls.
const blockingSendMin = 1 << 20

// zeroCopy reports whether a transfer can use the kernel's zero-copy path:
// binary, unthrottled, on a plain TCP data connection (not TLS).
func zeroCopy(data net.Conn, ascii bool, rate int64) bool {
	_, plain := data.(*net.TCPConn)
	return plain && !ascii && rate <= 0
}

func throttle(r io.Reader, rate int64) io.Reader {
	if rate <= 0 {
		return r
	}
	return &ratelimit.Reader{R: r, B: ratelimit.New(rate)}
}

// tlsSendChunk is what sendTLS reads from the file and gives TLS at a
// time: 16 records, sent in one write.
const tlsSendChunk = 256 << 10

// tlsSendBuffers holds sendTLS's two buffers (the file's bytes, the
// records), kept between transfers.
var tlsSendBuffers = sync.Pool{New: func() any {
	return &[2][]byte{make([]byte, tlsSendChunk), make([]byte, 0, recordsSize(tlsSendChunk))}
}}

// sendTLS sends f on a TLS data connection in chunks of tlsSendChunk,
// each one system call for its 16 records (writeBatched) instead of one
// per 16 KiB record, under the data timeout renewed for each chunk.
func (s *session) sendTLS(t *transfer, data *tlsDataConn, f io.Reader) (int64, error) {
	timeout := s.srv.settings().data
	bufs := tlsSendBuffers.Get().(*[2][]byte)
	defer tlsSendBuffers.Put(bufs)
	if timeout >= 0 {
		defer data.SetWriteDeadline(time.Time{})
	}
	var total int64
	for {
		n, rerr := io.ReadFull(f, bufs[0])
		if n > 0 {
			if timeout >= 0 {
				data.SetWriteDeadline(time.Now().Add(timeout))
			}
			var err error
			if bufs[1], err = data.writeBatched(bufs[0][:n], bufs[1]); err != nil {
				return total, err
			}
			total += int64(n)
			if t != nil {
				t.progress(int64(n))
			}
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return total, nil
		case rerr != nil:
			return total, rerr
		}
	}
}

// copyZeroCopy copies between a file and a plain TCP data connection with
// sendfile or splice, enforcing the data timeout without leaving that path:
// it copies in chunks with io.CopyN (sendfile and splice accept the
// io.LimitedReader CopyN adds) under a deadline renewed for each chunk. A
// chunk that hits its deadline after moving bytes is progress, not a stall:
// sendfile and splice move the file position by exactly what they report,
// so the copy goes on from there. Only a whole timeout without a byte ends
// the transfer.
func (s *session) copyZeroCopy(data net.Conn, dst io.Writer, src io.Reader) (int64, error) {
	timeout := s.srv.settings().data
	if timeout < 0 {
		return io.Copy(dst, src)
	}
	defer data.SetDeadline(time.Time{})
	const chunk = 16 << 20
	t := s.currentTransfer()
	var total int64
	for {
		data.SetDeadline(time.Now().Add(timeout))
		n, err := io.CopyN(dst, src, chunk)
		total += n
		if t != nil {
			t.progress(n)
		}
		switch {
		case err == io.EOF:
			return total, nil
		case errors.Is(err, os.ErrDeadlineExceeded) && n > 0:
			continue
		case err != nil:
			return total, err
		}
	}
}

// deadlineConn applies the data timeout to a data connection used from user
// space (TLS, TYPE A, throttled transfers, listings): every Read and Write
// renews the deadline, so only a peer that stops moving for the whole
// timeout ends the transfer. (A TLS connection cannot resume after a write
// timeout, so renewing before each call is the only safe way.)
func (s *session) deadlineConn(c net.Conn) io.ReadWriter {
	timeout := s.srv.settings().data
	if timeout < 0 {
		return c
	}
	return &deadlineConn{c: c, timeout: timeout, t: s.currentTransfer()}
}

type deadlineConn struct {
	c       net.Conn
	timeout time.Duration
	t       *transfer // counts the bytes, when in a transfer
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.c.SetReadDeadline(time.Now().Add(d.timeout))
	n, err := d.c.Read(p)
	if d.t != nil {
		d.t.progress(int64(n))
	}
	return n, err
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.c.SetWriteDeadline(time.Now().Add(d.timeout))
	n, err := d.c.Write(p)
	if d.t != nil {
		d.t.progress(int64(n))
	}
	return n, err
}
