package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftpclient"
)

// Workload names, in the order "all" runs them.
const (
	RetrBig       = "retr-big"
	StorBig       = "stor-big"
	StorOverwrite = "stor-overwrite"
	SmallRetr     = "small-retr"
	LoginStorm    = "login-storm"
	IdleSessions  = "idle-sessions"
	ListBig       = "list-big"
	Raw           = "raw"
	RawSmall      = "raw-small"
	RawFTPSmall   = "raw-ftp-small"
)

// Workloads lists every workload in the order "all" runs them. raw-small
// and raw-ftp-small come right before small-retr, so that the ceilings and
// the figure set against them are measured as close together as they can be.
var Workloads = []string{Raw, RetrBig, StorBig, StorOverwrite, RawSmall, RawFTPSmall, SmallRetr, LoginStorm, IdleSessions, ListBig}

// IsCeiling reports whether workload measures the machine rather than a
// server (raw, raw-small, raw-ftp-small): it runs inside the bench process, needs no
// target and is always clear text.
func IsCeiling(workload string) bool {
	return workload == Raw || workload == RawSmall || workload == RawFTPSmall
}

// Limits: every loop is bounded by a count and a duration.
const (
	MaxDuration    = 10 * time.Minute
	MaxSessions    = 20000
	MaxClients     = 1024
	MaxLogins      = 1_000_000
	MaxSize        = 64 << 30
	MaxListEntries = 100_000
	MaxWarmup      = 10
	// maxBigTransfers bounds the repetitions of a big transfer in one run.
	maxBigTransfers = 1000
	// maxSmallOps bounds small-retr, raw-small and list-big operations per
	// client.
	maxSmallOps = 10_000_000
)

// Config is one bench run. The zero value of each field but Target means its
// default (see Defaults).
type Config struct {
	Target      Target
	AllowRemote bool
	TLS         bool // explicit FTPS (AUTH TLS, PROT P) for every workload but the ceilings

	// Duration bounds each timed workload. Big transfers repeat until it has
	// passed (at least once); small-retr, raw-small and list-big loop for
	// it.
	Duration time.Duration
	// Size is the big-transfer size (retr-big, stor-big, raw).
	Size int64
	// Warmup is how many untimed big transfers come before the timed ones
	// (raw, retr-big, stor-big); 0 means none. A first upload after a pause
	// writes into memory the machine has not touched for a while, which
	// on a virtual machine that hands free memory back to its host costs
	// several times what the server costs, and a first download may read
	// a file the kernel has paged out since (see BENCHMARKS.md).
	Warmup int
	// File is an existing file on the server for retr-big; "" means the
	// bench's own file, uploaded first when missing or of another size.
	File string
	// SmallSize is the small-retr file size, and what raw-small sends.
	SmallSize int64
	// Clients is the concurrency of small-retr, raw-small and login-storm.
	Clients int
	// Logins is how many logins login-storm makes in all.
	Logins int
	// Sessions is how many sessions idle-sessions holds.
	Sessions int
	// ServerPID, when not 0, is the server whose memory idle-sessions reports
	// (PSS summed over the process and all its descendants).
	ServerPID int
	// ListDir and ListEntries describe the list-big folder; it is filled
	// with tiny files when it has fewer entries.
	ListDir     string
	ListEntries int
	// TempDir holds the raw workload's file; "" means os.TempDir().
	TempDir string

	// Progress, when not nil, receives a progress line a few times a second
	// (meant for a terminal: lines start with \r).
	Progress io.Writer
	// Proc is the /proc file system; nil means os.DirFS("/proc").
	Proc fs.FS
}

// Defaults fills in zero fields.
func (c *Config) Defaults() {
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Size == 0 {
		c.Size = 1 << 30
	}
	if c.SmallSize == 0 {
		c.SmallSize = 4 << 10
	}
	if c.Clients == 0 {
		c.Clients = 32
	}
	if c.Logins == 0 {
		c.Logins = 5000
	}
	if c.Sessions == 0 {
		c.Sessions = 1000
	}
	if c.ListDir == "" {
		c.ListDir = "rotary-bench-list"
	}
	if c.ListEntries == 0 {
		c.ListEntries = 10000
	}
	if c.Proc == nil {
		c.Proc = os.DirFS("/proc")
	}
}

// Validate checks the bounds.
func (c *Config) Validate() error {
	switch {
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("--duration %v: want more than 0 and at most %v", c.Duration, MaxDuration)
	case c.Warmup < 0 || c.Warmup > MaxWarmup:
		return fmt.Errorf("--warmup %d: want 0 to %d", c.Warmup, MaxWarmup)
	case c.Size <= 0 || c.Size > MaxSize:
		return fmt.Errorf("--size %d: want 1 byte to %d GiB", c.Size, MaxSize>>30)
	case c.SmallSize <= 0 || c.SmallSize > 64<<20:
		return fmt.Errorf("--small-size %d: want 1 byte to 64 MiB", c.SmallSize)
	case c.Clients < 1 || c.Clients > MaxClients:
		return fmt.Errorf("--clients %d: want 1 to %d", c.Clients, MaxClients)
	case c.Logins < 1 || c.Logins > MaxLogins:
		return fmt.Errorf("--logins %d: want 1 to %d", c.Logins, MaxLogins)
	case c.Sessions < 1 || c.Sessions > MaxSessions:
		return fmt.Errorf("--sessions %d: want 1 to %d", c.Sessions, MaxSessions)
	case c.ListEntries < 1 || c.ListEntries > MaxListEntries:
		return fmt.Errorf("--list-entries %d: want 1 to %d", c.ListEntries, MaxListEntries)
	case c.ServerPID < 0:
		return fmt.Errorf("--server-pid %d: want a process ID", c.ServerPID)
	case strings.ContainsAny(c.File+c.ListDir, "\r\n"):
		return errors.New("--file and --list-dir may not hold line breaks")
	}
	return nil
}

// Result is one workload's outcome. Fields that do not apply are zero and
// left out of JSON.
type Result struct {
	Workload string `json:"workload"`
	TLS      bool   `json:"tls,omitempty"`
	// Skipped says why the workload did not run (a server without AUTH
	// TLS, say); Error says why it failed. Both empty: it ran.
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`

	Seconds float64 `json:"seconds"` // time measured

	// Big transfers.
	Bytes     int64   `json:"bytes,omitempty"`
	Transfers int     `json:"transfers,omitempty"`
	Warmups   int     `json:"warmups,omitempty"`  // untimed transfers before them
	MBps      float64 `json:"mb_per_s,omitempty"` // 10^6 bytes per second
	// raw sends both ways and reports the better in MBps: sendfile(2) in a
	// blocking loop, as the C servers do, and through Go's netpoller
	// (net.TCPConn.ReadFrom, what a Go server gets from io.Copy).
	BlockingMBps float64 `json:"blocking_sendfile_mb_per_s,omitempty"`
	GoMBps       float64 `json:"go_sendfile_mb_per_s,omitempty"`

	// Operations (small-retr, raw-small, login-storm, list-big).
	Clients   int     `json:"clients,omitempty"`
	Ops       int64   `json:"ops,omitempty"`
	OpsPerSec float64 `json:"ops_per_s,omitempty"`
	P50ms     float64 `json:"p50_ms,omitempty"`
	P99ms     float64 `json:"p99_ms,omitempty"`
	Failures  int64   `json:"failures,omitempty"`

	// idle-sessions.
	Sessions      int     `json:"sessions,omitempty"`
	PSSBaseKiB    int64   `json:"pss_base_kib,omitempty"`
	PSSKiB        int64   `json:"pss_kib,omitempty"`
	Processes     int     `json:"processes,omitempty"`
	PerSessionKiB float64 `json:"per_session_kib,omitempty"`

	// list-big.
	Entries int    `json:"entries,omitempty"`
	Verb    string `json:"verb,omitempty"` // MLSD or LIST

	Note string `json:"note,omitempty"`
}

// Name is the workload name with "+tls" for the TLS variant.
func (r *Result) Name() string {
	if r.TLS {
		return r.Workload + "+tls"
	}
	return r.Workload
}

// ExpandWorkloads turns --workload values (names or "all", possibly comma
// separated) into a list without repeats, in the order of Workloads.
func ExpandWorkloads(names []string) ([]string, error) {
	want := make(map[string]bool)
	for _, n := range names {
		for _, w := range strings.Split(n, ",") {
			w = strings.TrimSpace(w)
			switch {
			case w == "":
			case w == "all":
				for _, x := range Workloads {
					want[x] = true
				}
			case contains(Workloads, w):
				want[w] = true
			default:
				return nil, fmt.Errorf("unknown workload %q (want %s or all)", w, strings.Join(Workloads, ", "))
			}
		}
	}
	var out []string
	for _, w := range Workloads {
		if want[w] {
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no workload given")
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runner carries what every workload needs.
type runner struct {
	cfg  Config
	dial ftpclient.Dialer
}

// Run runs the workloads in order. A workload that fails gives a Result with
// Error set; Run goes on with the next one. Run returns an error only for a
// target it must not or cannot reach.
func Run(ctx context.Context, cfg Config, workloads []string) ([]Result, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	needServer := false
	for _, w := range workloads {
		if !IsCeiling(w) {
			needServer = true
		}
	}
	r := &runner{cfg: cfg}
	if needServer {
		addr, err := cfg.Target.Resolve(ctx, cfg.AllowRemote)
		if err != nil {
			return nil, err
		}
		r.dial = ftpclient.Dialer{Addr: netipAddrPort(addr, cfg.Target.Port), TLS: cfg.TLS}
	}
	var results []Result
	for _, w := range workloads {
		if ctx.Err() != nil {
			break
		}
		res := r.run(ctx, w)
		results = append(results, res)
	}
	return results, ctx.Err()
}

func (r *runner) run(ctx context.Context, w string) (res Result) {
	res = Result{Workload: w, TLS: r.cfg.TLS && !IsCeiling(w)}
	var err error
	switch w {
	case Raw:
		if r.cfg.TLS {
			res.Note = "raw is the clear-text loopback ceiling; --tls does not apply"
		}
		err = r.raw(ctx, &res)
	case RawSmall:
		if r.cfg.TLS {
			res.Note = "raw-small is the clear-text ceiling for small-retr; --tls does not apply"
		}
		err = r.rawSmall(ctx, &res)
	case RawFTPSmall:
		if r.cfg.TLS {
			res.Note = "raw-ftp-small is the clear-text ceiling of FTP's exchange for small-retr; --tls does not apply"
		}
		err = r.rawFTPSmall(ctx, &res)
	case RetrBig:
		err = r.retrBig(ctx, &res)
	case StorBig:
		err = r.storBig(ctx, &res, false)
	case StorOverwrite:
		err = r.storBig(ctx, &res, true)
	case SmallRetr:
		err = r.smallRetr(ctx, &res)
	case LoginStorm:
		err = r.loginStorm(ctx, &res)
	case IdleSessions:
		err = r.idleSessions(ctx, &res)
	case ListBig:
		err = r.listBig(ctx, &res)
	default:
		err = fmt.Errorf("unknown workload %q", w)
	}
	if r.cfg.Progress != nil {
		fmt.Fprint(r.cfg.Progress, "\r\033[K")
	}
	if errors.Is(err, ftpclient.ErrTLSRefused) {
		res.Skipped = err.Error()
		return res
	}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

// session opens a logged-in control connection in binary mode, in the
// target folder.
func (r *runner) session(ctx context.Context) (*ftpclient.Conn, error) {
	c, err := r.dial.Dial(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.Login(r.cfg.Target.User, r.cfg.Target.Password); err != nil {
		c.Net().Close()
		return nil, err
	}
	if _, _, err := c.Must("TYPE I", 2); err != nil {
		c.Net().Close()
		return nil, err
	}
	if r.cfg.Target.Dir != "" {
		if _, _, err := c.Must("CWD "+r.cfg.Target.Dir, 2); err != nil {
			c.Net().Close()
			return nil, err
		}
	}
	return c, nil
}

// sizeOf asks SIZE; it returns -1 for a missing file (or a server without
// SIZE).
func sizeOf(c *ftpclient.Conn, name string) (int64, error) {
	code, msg, err := c.Cmd("SIZE " + name)
	if err != nil {
		return 0, err
	}
	if code != 213 {
		return -1, nil
	}
	var n int64
	if _, err := fmt.Sscan(strings.TrimSpace(msg), &n); err != nil {
		return -1, nil
	}
	return n, nil
}

// ensureFile uploads name with size bytes unless it is there with that size.
func (r *runner) ensureFile(ctx context.Context, c *ftpclient.Conn, name string, size int64) error {
	have, err := sizeOf(c, name)
	if err != nil {
		return err
	}
	if have == size {
		return nil
	}
	if _, err := r.stor(ctx, c, name, size, pattern()); err != nil {
		return fmt.Errorf("upload %s (%d bytes): %w", name, size, err)
	}
	return nil
}

// stor uploads size bytes to name.
func (r *runner) stor(ctx context.Context, c *ftpclient.Conn, name string, size int64, buf []byte) (int64, error) {
	d, err := c.Open(ctx, "STOR "+name)
	if err != nil {
		return 0, err
	}
	d.TCP().SetDeadline(time.Now().Add(bigDeadline(size)))
	n, err := d.Fill(size, buf, nil)
	if err != nil {
		c.Read("STOR")
		return n, fmt.Errorf("STOR %s: %w", name, err)
	}
	return n, c.Finish("STOR " + name)
}

// bigDeadline bounds a transfer of size bytes: 2 minutes plus 10 MB/s.
func bigDeadline(size int64) time.Duration {
	return 2*time.Minute + time.Duration(size/10e6)*time.Second
}

// patternBuf is the data uploads send: 1 MiB of bytes that do not compress
// to nothing, made once.
var patternBuf []byte

func pattern() []byte {
	if patternBuf == nil {
		b := make([]byte, 1<<20)
		x := uint32(2463534242)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
		patternBuf = b
	}
	return patternBuf
}

// devNull returns /dev/null for splicing RETR data away, or nil (read into
// a buffer) where that is no help.
func devNull() *os.File {
	if runtime.GOOS != "linux" {
		return nil
	}
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil
	}
	return f
}

// bigName is the bench's own big file: its name carries its size so that
// runs with other sizes do not fight over one file.
func bigName(size int64) string { return fmt.Sprintf("rotary-bench-%d.bin", size) }

// ParseSize reads a byte count with an optional binary suffix: 4096, 8MiB,
// 1GiB (K, M and G mean KiB, MiB and GiB).
func ParseSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a positive byte count such as 4096, 8MiB or 1GiB", s)
	}
	if n > MaxSize/mult {
		return 0, fmt.Errorf("%q: at most %d GiB", s, MaxSize>>30)
	}
	return n * mult, nil
}

func netipAddrPort(a netip.Addr, port int) netip.AddrPort { return netip.AddrPortFrom(a, uint16(port)) }
