package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftpclient"
)

// raw measures the machine's loopback ceiling for RETR: sendfile of a file
// of Size bytes over one TCP connection to a sink in this process that
// drains exactly as the RETR client does.
func (r *runner) raw(ctx context.Context, res *Result) error {
	dir := r.cfg.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "rotary-bench-raw-*.bin")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// A sparse file: its pages come into the page cache clean (zeros), as
	// a server's long-written file is. Freshly written data would still be
	// dirty, and its write-back would run during the measurement.
	if err := f.Truncate(r.cfg.Size); err != nil {
		return fmt.Errorf("size %s: %w", f.Name(), err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	sink := devNull()
	if sink != nil {
		defer sink.Close()
	}
	// Warm the page cache once, untimed, as the server's file is warm.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, f); err != nil {
		return err
	}
	prog := r.progress("raw")
	defer prog.stop()
	rbuf := make([]byte, 256<<10)
	one := func(goPath bool) func() (int64, time.Duration, error) {
		return func() (int64, time.Duration, error) { return r.rawOnce(f, l, sink, rbuf, prog, goPath) }
	}
	// Two ways to send: blocking sendfile, as the C servers send, and Go's
	// own path (what a Go server gets from io.Copy).
	if err := r.repeatBig(ctx, res, one(false)); err != nil {
		return err
	}
	var alt Result
	if err := r.repeatBig(ctx, &alt, one(true)); err != nil {
		return err
	}
	// The ceiling is the better of the two.
	res.BlockingMBps, res.GoMBps = res.MBps, alt.MBps
	if alt.MBps > res.MBps {
		res.MBps, res.Bytes, res.Transfers, res.Seconds = alt.MBps, alt.Bytes, alt.Transfers, alt.Seconds
	}
	return nil
}

// rawOnce sends the file once over a fresh loopback connection.
func (r *runner) rawOnce(f *os.File, l net.Listener, sink *os.File, rbuf []byte, prog *progress, goPath bool) (int64, time.Duration, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	s, err := l.Accept()
	if err != nil {
		c.Close()
		return 0, 0, err
	}
	got := make(chan int64, 1)
	go func() {
		d := ftpclient.NewData(c)
		n, _ := d.Drain(sink, rbuf, prog)
		c.Close()
		got <- n
	}()
	if goPath {
		// TCPConn.ReadFrom: sendfile(2) through the netpoller.
		_, err = io.Copy(s, f)
	} else {
		_, err = blockingSendfile(s, f, r.cfg.Size)
	}
	s.Close()
	n := <-got
	if err == nil && n != r.cfg.Size {
		err = fmt.Errorf("sink got %d bytes of %d", n, r.cfg.Size)
	}
	return n, time.Since(t0), err
}

// repeatBig runs one big transfer until Duration has passed (at least once,
// at most maxBigTransfers times) and reports the throughput over the time
// spent in transfers. one returns the bytes moved and the time to count
// (clean-up after a transfer is not counted).
func (r *runner) repeatBig(ctx context.Context, res *Result, one func() (int64, time.Duration, error)) error {
	for range r.cfg.Warmup {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, _, err := one(); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		res.Warmups++
	}
	start := time.Now()
	var busy time.Duration
	for i := 0; i < maxBigTransfers && ctx.Err() == nil; i++ {
		n, took, err := one()
		busy += took
		res.Bytes += n
		if err != nil {
			return err
		}
		res.Transfers++
		if time.Since(start) >= r.cfg.Duration {
			break
		}
	}
	res.Seconds = busy.Seconds()
	if res.Seconds > 0 {
		res.MBps = float64(res.Bytes) / 1e6 / res.Seconds
	}
	return nil
}

// retrBig downloads the big file repeatedly. Time runs from PASV to the
// 226 reply.
func (r *runner) retrBig(ctx context.Context, res *Result) error {
	c, err := r.session(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	name := r.cfg.File
	want := int64(-1)
	if name == "" {
		name = bigName(r.cfg.Size)
		want = r.cfg.Size
		if err := r.ensureFile(ctx, c, name, r.cfg.Size); err != nil {
			return err
		}
	}
	sink := devNull()
	if sink != nil {
		defer sink.Close()
	}
	prog := r.progress(res.Name())
	defer prog.stop()
	buf := make([]byte, 256<<10)
	return r.repeatBig(ctx, res, func() (int64, time.Duration, error) {
		t0 := time.Now()
		d, err := c.Open(ctx, "RETR "+name)
		if err != nil {
			return 0, 0, err
		}
		d.TCP().SetDeadline(time.Now().Add(bigDeadline(r.cfg.Size)))
		n, err := d.Drain(sink, buf, prog)
		d.Close()
		if err != nil {
			c.Read("RETR")
			return n, 0, fmt.Errorf("RETR %s: %w", name, err)
		}
		if err := c.Finish("RETR " + name); err != nil {
			return n, 0, err
		}
		if want >= 0 && n != want {
			return n, 0, fmt.Errorf("RETR %s: got %d bytes, want %d", name, n, want)
		}
		return n, time.Since(t0), nil
	})
}

// storBig uploads Size bytes of generated data repeatedly. Time runs from
// PASV to the 226 reply; each upload is followed by an untimed pause
// (uploadSettle).
//
// stor-big uploads to a new file each time, deleted after (untimed): that
// keeps the disk out of the figure as far as it can be, since the deleted
// file's pages are dropped before they are written back and ext4's flush on
// replace-by-rename or truncate (auto_da_alloc) never fires.
//
// stor-overwrite (overwrite) uploads to the same name each time, as nightly
// exports and re-sent files do: every upload after the first replaces a
// file of Size bytes, whose freeing and writeback the server may pay for
// before its 226. The file is deleted at the end.
func (r *runner) storBig(ctx context.Context, res *Result, overwrite bool) error {
	c, err := r.session(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	name := fmt.Sprintf("rotary-bench-stor-%d.bin", os.Getpid())
	if overwrite {
		name = fmt.Sprintf("rotary-bench-overwrite-%d.bin", os.Getpid())
		defer c.Cmd("DELE " + name)
	}
	prog := r.progress(res.Name())
	defer prog.stop()
	buf := pattern()
	one := func() (int64, time.Duration, error) {
		t0 := time.Now()
		d, err := c.Open(ctx, "STOR "+name)
		if err != nil {
			return 0, 0, err
		}
		d.TCP().SetDeadline(time.Now().Add(bigDeadline(r.cfg.Size)))
		n, err := d.Fill(r.cfg.Size, buf, prog)
		if err != nil {
			c.Read("STOR")
			c.Cmd("DELE " + name)
			return n, 0, fmt.Errorf("STOR %s: %w", name, err)
		}
		err = c.Finish("STOR " + name)
		took := time.Since(t0)
		if !overwrite {
			if _, _, derr := c.Must("DELE "+name, 2); err == nil && derr != nil {
				err = derr
			}
		}
		time.Sleep(uploadSettle(r.cfg.Size))
		return n, took, err
	}
	// The first upload of stor-overwrite creates the file and replaces
	// nothing: with warm-ups, one more runs untimed, so that they include a
	// replacement as every timed upload is one. (A VM's first replacement
	// also needs a second file's worth of page cache that the VM may not
	// have touched yet: 2.5x slower here, once.)
	if overwrite && r.cfg.Warmup > 0 {
		if _, _, err := one(); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		res.Warmups++
	}
	return r.repeatBig(ctx, res, one)
}

// uploadSettle is the untimed pause after each upload of stor-big and
// stor-overwrite, 250 ms per GiB. Freeing a large file is work for the file
// system: a server that does it inside DELE or STOR (vsftpd, Pure-FTPd)
// pays it before its reply, one that does it after the reply (Rotary) would
// otherwise pay it during the next timed upload. Back to back, uploads on
// these VMs were also 15% slower with nothing freed at all. The pause keeps
// both workloads alike, so that the only difference between their figures
// is what replacing a file costs before the 226.
func uploadSettle(size int64) time.Duration {
	return time.Duration(float64(size) / (1 << 30) * float64(250*time.Millisecond))
}

// smallRetr runs Clients sessions that each log in once and then loop
// PASV+RETR of a SmallSize file for Duration. Latency runs from PASV to the
// 226 reply.
func (r *runner) smallRetr(ctx context.Context, res *Result) error {
	name := fmt.Sprintf("rotary-bench-%d.bin", r.cfg.SmallSize)
	setup, err := r.session(ctx)
	if err != nil {
		return err
	}
	err = r.ensureFile(ctx, setup, name, r.cfg.SmallSize)
	setup.Close()
	if err != nil {
		return err
	}
	prog := r.progress(res.Name())
	defer prog.stop()
	lat, failures, elapsed, firstErr := r.loop(ctx, r.cfg.Clients, r.session, func(c *ftpclient.Conn, buf []byte) error {
		return retrOnce(ctx, c, buf, name, r.cfg.SmallSize, prog)
	})
	res.Clients = r.cfg.Clients
	return fillOps(res, lat, failures, elapsed, firstErr)
}

// retrOnce is one small-retr (and raw-ftp-small) operation: PASV, RETR of
// name, the data read to EOF and checked against size, the 226.
func retrOnce(ctx context.Context, c *ftpclient.Conn, buf []byte, name string, size int64, prog *progress) error {
	d, err := c.Open(ctx, "RETR "+name)
	if err != nil {
		return err
	}
	d.TCP().SetDeadline(time.Now().Add(ftpclient.ReplyTimeout))
	n, err := d.Drain(nil, buf, nil)
	d.Close()
	if err != nil {
		c.Read("RETR")
		return err
	}
	if err := c.Finish("RETR " + name); err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("RETR %s: got %d bytes, want %d", name, n, size)
	}
	prog.op()
	return nil
}

// loop opens clients sessions with open (r.session: logged in) and runs op
// in each, back to back, for Duration. A failed op is counted; a session
// whose op failed is replaced by a new one. It returns the latencies of the
// ops that succeeded.
func (r *runner) loop(ctx context.Context, clients int, open func(context.Context) (*ftpclient.Conn, error), op func(c *ftpclient.Conn, buf []byte) error) (lat latencies, failures int64, elapsed time.Duration, firstErr error) {
	sessions := make([]*ftpclient.Conn, clients)
	// Log in first, untimed, a few at a time.
	if err := parallel(clients, 16, func(i int) error {
		c, err := open(ctx)
		sessions[i] = c
		return err
	}); err != nil {
		for _, c := range sessions {
			if c != nil {
				c.Close()
			}
		}
		return nil, 0, 0, err
	}
	lat = make(latencies, clients)
	var fails atomic.Int64
	var errOnce sync.Once
	start := time.Now()
	end := start.Add(r.cfg.Duration)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sessions[i]
			buf := make([]byte, 64<<10)
			mine := make([]time.Duration, 0, 1024)
			for k := 0; k < maxSmallOps && ctx.Err() == nil; k++ {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				if err := op(c, buf); err != nil {
					fails.Add(1)
					errOnce.Do(func() { firstErr = err })
					// The session may be out of step: start a fresh one.
					c.Net().Close()
					if c, err = open(ctx); err != nil {
						errOnce.Do(func() { firstErr = err })
						c = nil
						break
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			if c != nil {
				c.Close()
			}
			lat[i] = mine
		}()
	}
	wg.Wait()
	return lat, fails.Load(), time.Since(start), firstErr
}

// fillOps fills in the operation figures. Failures are counted in the
// result, with the first one in its note; the run is an error only when
// nothing worked.
func fillOps(res *Result, lat latencies, failures int64, elapsed time.Duration, firstErr error) error {
	all := lat.sorted()
	res.Ops = int64(len(all))
	res.Failures = failures
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 {
		res.OpsPerSec = float64(res.Ops) / res.Seconds
	}
	res.P50ms = ms(Percentile(all, 50))
	res.P99ms = ms(Percentile(all, 99))
	if firstErr != nil {
		if res.Ops == 0 {
			return firstErr
		}
		res.Note = fmt.Sprintf("first failure: %v", firstErr)
	}
	return nil
}

// parallel runs fn(0..n-1) with at most width at once and returns the first
// error.
func parallel(n, width int, fn func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < width && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n)) // stop handing out work
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// loginStorm: Clients goroutines connect, log in and QUIT, back to back,
// until Logins logins are done (or Duration has passed). It reports the time
// until all were in, logins per second, and the latency of one login from
// connect to the 230 reply.
func (r *runner) loginStorm(ctx context.Context, res *Result) error {
	prog := r.progress(res.Name())
	defer prog.stop()
	lat := make(latencies, r.cfg.Clients)
	var next, fails atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	end := start.Add(r.cfg.Duration)
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.Clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for next.Add(1) <= int64(r.cfg.Logins) && ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				c, err := r.dial.Dial(ctx)
				if err == nil {
					err = c.Login(r.cfg.Target.User, r.cfg.Target.Password)
					if err != nil {
						c.Net().Close()
					}
				}
				if err != nil {
					fails.Add(1)
					once.Do(func() { firstErr = err })
					// Do not hammer a server that refuses: a forking
					// server may go on hashing for dropped connections
					// and slow the next measurement.
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mine = append(mine, time.Since(t0))
				c.Close()
				prog.op()
			}
			lat[i] = mine
		}()
	}
	wg.Wait()
	res.Clients = r.cfg.Clients
	err := fillOps(res, lat, fails.Load(), time.Since(start), firstErr)
	if res.Ops+res.Failures < int64(r.cfg.Logins) && res.Note == "" {
		res.Note = fmt.Sprintf("stopped by --duration after %d of %d logins", res.Ops, r.cfg.Logins)
	}
	return err
}

// idleSessions logs in Sessions sessions and holds them until Duration has
// passed since it began. With ServerPID it reports the server's PSS (summed
// over its process tree) before and with the sessions, and the difference
// per session.
func (r *runner) idleSessions(ctx context.Context, res *Result) error {
	limit, _ := RaiseFileLimit()
	if limit > 0 && uint64(r.cfg.Sessions)+64 > limit {
		return fmt.Errorf("%d sessions need about %d file descriptors; the limit is %d", r.cfg.Sessions, r.cfg.Sessions+64, limit)
	}
	pid := r.cfg.ServerPID
	if pid != 0 {
		settle()
		base, procs, err := TreePSS(r.cfg.Proc, pid)
		if err != nil {
			return fmt.Errorf("server memory: %w", err)
		}
		res.PSSBaseKiB = base
		_ = procs
	}
	prog := r.progress(res.Name())
	defer prog.stop()
	conns := make([]*ftpclient.Conn, r.cfg.Sessions)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Net().Close()
			}
		}
	}()
	// Forking servers cost real memory per session: stop before the machine
	// runs short (a tenth of memory left, read every 256 sessions).
	var lowMem atomic.Bool
	var opened atomic.Int64
	memTotal := meminfoKiB(r.cfg.Proc, "MemTotal")
	start := time.Now()
	deadline := start.Add(r.cfg.Duration + 2*time.Minute)
	err := parallel(r.cfg.Sessions, 64, func(i int) error {
		if lowMem.Load() || time.Now().After(deadline) {
			return nil
		}
		if i%256 == 0 && memTotal > 0 {
			if avail := meminfoKiB(r.cfg.Proc, "MemAvailable"); avail >= 0 && avail < memTotal/10 {
				lowMem.Store(true)
				return nil
			}
		}
		c, err := r.dial.Dial(ctx)
		if err != nil {
			return fmt.Errorf("session %d: %w", i+1, err)
		}
		if err := c.Login(r.cfg.Target.User, r.cfg.Target.Password); err != nil {
			c.Net().Close()
			return fmt.Errorf("session %d: %w", i+1, err)
		}
		// Hold only the connection; its reader goes to the collector.
		c.Hold()
		conns[i] = c
		opened.Add(1)
		prog.op()
		return nil
	})
	res.Seconds = time.Since(start).Seconds()
	res.Sessions = int(opened.Load())
	if err != nil {
		if res.Sessions == 0 {
			return err
		}
		// The server's limit is a finding too: measure what was reached.
		res.Note = fmt.Sprintf("the server refused more than %d sessions: %v", res.Sessions, err)
	} else if lowMem.Load() {
		res.Note = fmt.Sprintf("stopped at %d sessions: less than a tenth of the memory left", res.Sessions)
	} else if res.Sessions < r.cfg.Sessions {
		res.Note = fmt.Sprintf("stopped at %d sessions by the time limit", res.Sessions)
	}
	if res.Seconds > 0 {
		res.OpsPerSec = float64(res.Sessions) / res.Seconds
	}
	if pid != 0 && res.Sessions > 0 {
		settle()
		pss, procs, err := TreePSS(r.cfg.Proc, pid)
		if err != nil {
			return fmt.Errorf("server memory: %w", err)
		}
		res.PSSKiB = pss
		res.Processes = procs
		res.PerSessionKiB = float64(pss-res.PSSBaseKiB) / float64(res.Sessions)
	} else if pid == 0 {
		res.Note = strings.TrimSpace(res.Note + " (give --server-pid to measure the server's memory)")
	}
	// Hold the sessions for the rest of Duration (to look at the server
	// meanwhile: a heap profile, ss, top).
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(start.Add(r.cfg.Duration))):
	}
	return nil
}

// settle lets a server finish what it was doing (freeing buffers, reaping
// children) before its memory is read.
func settle() { time.Sleep(time.Second) }

// listBig lists a folder of ListEntries entries with MLSD (LIST when the
// server has no MLSD) repeatedly for Duration. It creates the folder, and
// the entries it lacks, first.
func (r *runner) listBig(ctx context.Context, res *Result) error {
	c, err := r.session(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	dir := r.cfg.ListDir
	verb := "MLSD"
	names, err := listNames(ctx, c, verb, dir)
	var re *ftpclient.ReplyError
	if errors.As(err, &re) && (re.Code == 500 || re.Code == 502 || re.Code == 504) {
		verb = "NLST" // only to count; LIST is timed below
		names, err = listNames(ctx, c, verb, dir)
	}
	if errors.As(err, &re) && (re.Code == 550 || re.Code == 450) {
		// No such folder: create it.
		if _, _, err := c.Must("MKD "+dir, 2); err != nil {
			return err
		}
		names, err = nil, nil
	}
	if err != nil {
		return err
	}
	if len(names) < r.cfg.ListEntries {
		if err := r.fillDir(ctx, dir, names); err != nil {
			return err
		}
	}
	timed := verb
	if verb == "NLST" {
		timed = "LIST"
	}
	res.Verb = timed
	prog := r.progress(res.Name())
	defer prog.stop()
	buf := make([]byte, 64<<10)
	var lat []time.Duration
	start := time.Now()
	end := start.Add(r.cfg.Duration)
	var lines int
	for k := 0; k < maxSmallOps && ctx.Err() == nil && (k == 0 || time.Now().Before(end)); k++ {
		t0 := time.Now()
		d, err := c.Open(ctx, timed+" "+dir)
		if err != nil {
			return err
		}
		d.TCP().SetDeadline(time.Now().Add(ftpclient.ReplyTimeout))
		lines, err = countLines(d.Conn(), buf)
		d.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", timed, dir, err)
		}
		if err := c.Finish(timed + " " + dir); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
		prog.op()
	}
	res.Entries = lines
	return fillOps(res, latencies{lat}, 0, time.Since(start), nil)
}

// listNames returns the entry names of dir (without "." and "..").
func listNames(ctx context.Context, c *ftpclient.Conn, verb, dir string) ([]string, error) {
	d, err := c.Open(ctx, verb+" "+dir)
	if err != nil {
		return nil, err
	}
	d.TCP().SetDeadline(time.Now().Add(ftpclient.ReplyTimeout))
	b, err := io.ReadAll(io.LimitReader(d.Conn(), 256<<20))
	d.Close()
	if err != nil {
		c.Read(verb)
		return nil, err
	}
	if err := c.Finish(verb); err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		name := line
		if verb == "MLSD" {
			// RFC 3659 7.2: facts, one space, the name.
			if i := strings.IndexByte(line, ' '); i >= 0 {
				name = line[i+1:]
			}
		} else {
			name = path.Base(line)
		}
		if name == "." || name == ".." {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// fillDir creates the missing entries of the list folder with one-byte
// STORs, from 8 sessions at once.
func (r *runner) fillDir(ctx context.Context, dir string, have []string) error {
	got := make(map[string]bool, len(have))
	for _, n := range have {
		got[n] = true
	}
	var missing []string
	for i := 0; len(got)+len(missing) < r.cfg.ListEntries && i < MaxListEntries*2; i++ {
		name := fmt.Sprintf("f%06d", i)
		if !got[name] {
			missing = append(missing, name)
		}
	}
	const width = 8
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	buf := []byte("x")
	for w := 0; w < width; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := r.session(ctx)
			if err != nil {
				once.Do(func() { firstErr = err })
				return
			}
			defer c.Close()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(missing) || ctx.Err() != nil {
					return
				}
				if _, err := r.stor(ctx, c, dir+"/"+missing[i], 1, buf); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// countLines reads a listing to its end and counts its lines.
func countLines(conn net.Conn, buf []byte) (int, error) {
	lines := 0
	for {
		n, err := conn.Read(buf)
		for _, b := range buf[:n] {
			if b == '\n' {
				lines++
			}
		}
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
	}
}
