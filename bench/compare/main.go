//go:build linux

// Command compare measures Rotary against peer FTP servers (vsftpd,
// Pure-FTPd, ProFTPD, pyftpdlib) with `rotary bench` and writes
// BENCHMARKS.md. bench/compare.sh installs the peers and runs it; run that.
//
// Every server serves the same folder on its own loopback address. The
// workloads run interleaved (for each workload: A B C D E, then the next
// workload; the next round starts the servers afresh and rotates the order),
// so drift of the machine hits every server alike; BENCHMARKS.md gets the
// medians over the rounds.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/rotary-ftp/rotary/internal/bench"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type options struct {
	scratch, rotary, password, peersDir, command, out string
	rounds, slices, warmup                            int
	duration                                          time.Duration
	size                                              string
	sessions, forkSessions, clients, loginClients     int
	logins, listEntries                               int
	tls, micro                                        bool
	servers, workloads                                listFlag

	rev string // the work tree's commit when the run started
}

const user = "benchftp"

func main() {
	var o options
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	fs.StringVar(&o.scratch, "scratch", "/var/tmp/rotary-bench", "folder with the unpacked peers (pkg/), the served folder (root/), logs/ and run/")
	fs.StringVar(&o.rotary, "rotary", "", "the rotary binary (serves, and runs rotary bench)")
	fs.StringVar(&o.password, "password", "", "password of the user "+user)
	fs.StringVar(&o.peersDir, "peers-dir", "bench/peers", "folder with the peers' configuration templates")
	fs.StringVar(&o.command, "command", "bench/compare.sh", "the command line recorded in the report")
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "report to write")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds (each starts every server afresh)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "duration of each timed workload run")
	fs.IntVar(&o.warmup, "warmup", 1, "untimed big transfers at the start of each big-transfer run (rotary bench --warmup)")
	fs.IntVar(&o.slices, "slices", 5, "big transfers (retr-big, stor-big, stor-overwrite): split each server's --duration into this many runs, interleaved server by server")
	fs.StringVar(&o.size, "size", "1GiB", "big transfer size")
	fs.IntVar(&o.sessions, "sessions", 10000, "idle sessions held on servers that serve sessions in one process")
	fs.IntVar(&o.forkSessions, "fork-sessions", 500, "idle sessions held on servers that fork per session (the machine has 32768 PIDs for everyone)")
	fs.IntVar(&o.clients, "clients", 32, "small-retr, raw-small and raw-ftp-small clients")
	fs.IntVar(&o.loginClients, "login-clients", 16, "login-storm clients")
	fs.IntVar(&o.logins, "logins", 100000, "login-storm logins per run (the duration stops it first)")
	fs.IntVar(&o.listEntries, "list-entries", 10000, "entries in the list-big folder")
	fs.BoolVar(&o.tls, "tls", true, "also run the FTPS variants")
	fs.BoolVar(&o.micro, "micro", true, "run the engine's Go micro-benchmarks too")
	fs.Var(&o.servers, "servers", "servers to compare (default rotary,vsftpd,pure-ftpd,proftpd,pyftpdlib)")
	fs.Var(&o.workloads, "workload", "workloads, repeatable (default all)")
	fs.Parse(os.Args[1:])
	if o.rotary == "" || o.password == "" {
		fmt.Fprintln(os.Stderr, "compare: --rotary and --password are required (run bench/compare.sh)")
		os.Exit(2)
	}
	if o.rounds < 1 || o.rounds > 20 {
		fmt.Fprintln(os.Stderr, "compare: --rounds: want 1 to 20")
		os.Exit(2)
	}
	if o.warmup < 0 || o.warmup > bench.MaxWarmup {
		fmt.Fprintf(os.Stderr, "compare: --warmup: want 0 to %d\n", bench.MaxWarmup)
		os.Exit(2)
	}
	if o.slices < 1 || o.slices > 20 {
		fmt.Fprintln(os.Stderr, "compare: --slices: want 1 to 20")
		os.Exit(2)
	}
	if err := run(&o); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

// server is one FTP server under test.
type server struct {
	name   string
	addr   string // its own loopback address; port 2121
	pasvLo int    // passive range pasvLo..pasvHi()
	pasvN  int    // passive ports; 0 means 100
	forks  bool   // one process (or two) per session
	about  string // how it is set up, for the report
	cmd    func(o *options, s *server) (*exec.Cmd, error)

	proc *exec.Cmd
	done chan struct{}
}

const port = 2121

func (s *server) pasvHi() int {
	if s.pasvN > 0 {
		return s.pasvLo + s.pasvN - 1
	}
	return s.pasvLo + 99
}

func (s *server) url(o *options) string {
	return fmt.Sprintf("ftp://%s:%s@%s:%d/", user, o.password, s.addr, port)
}

func servers() []*server {
	return []*server{
		{name: "rotary", addr: "127.0.99.1", pasvLo: 10000, pasvN: 4000,
			about: "`rotary serve` (this commit), default settings, log level info to a file",
			cmd: func(o *options, s *server) (*exec.Cmd, error) {
				args := []string{"serve", "--listen", fmt.Sprintf("%s:%d", s.addr, port),
					"--root", filepath.Join(o.scratch, "root"), "--user", user + ":" + o.password,
					"--passive-ports", fmt.Sprintf("%d-%d", s.pasvLo, s.pasvHi()), "--idle-timeout", "15m"}
				// Flags of newer builds: no admin endpoint (it would take
				// 127.0.0.1:2181), and FTPS when the server has it.
				help, _ := exec.Command(o.rotary, "serve", "--help").CombinedOutput()
				if bytes.Contains(help, []byte("-admin-listen")) {
					args = append(args, "--admin-listen=")
				}
				if bytes.Contains(help, []byte("-tls-cert")) && bytes.Contains(help, []byte("-tls-key")) {
					run := filepath.Join(o.scratch, "run")
					args = append(args, "--tls-cert", filepath.Join(run, "cert.pem"), "--tls-key", filepath.Join(run, "key.pem"))
				}
				return exec.Command(o.rotary, args...), nil
			}},
		{name: "vsftpd", addr: "127.0.99.2", pasvLo: 14000, pasvN: 4000, forks: true,
			about: "vsftpd (Debian 12), standalone, PAM (pam_unix), sendfile, `seccomp_sandbox=NO`, `isolate_network=NO`, `bench/peers/vsftpd.conf`",
			cmd: func(o *options, s *server) (*exec.Cmd, error) {
				conf, err := render(o, s, "vsftpd.conf")
				if err != nil {
					return nil, err
				}
				return exec.Command(filepath.Join(o.scratch, "pkg/vsftpd/usr/sbin/vsftpd"), conf), nil
			}},
		{name: "pure-ftpd", addr: "127.0.99.3", pasvLo: 18000, pasvN: 4000, forks: true,
			about: "Pure-FTPd (Debian 12, privsep), `-l unix` (/etc/shadow), chroot, no reverse DNS, `-L 20000:8` so 10,000 entries are listed; Pure-FTPd caps its clients at half its passive range",
			cmd: func(o *options, s *server) (*exec.Cmd, error) {
				run := filepath.Join(o.scratch, "run")
				return exec.Command(filepath.Join(o.scratch, "pkg/pure-ftpd/usr/sbin/pure-ftpd"),
					"-S", fmt.Sprintf("%s,%d", s.addr, port), "-p", fmt.Sprintf("%d:%d", s.pasvLo, s.pasvHi()),
					"-l", "unix", "-E", "-A", "-H", "-4", "-c", "30000", "-C", "30000", "-L", "20000:8", "-I", "15",
					"-g", filepath.Join(run, "pure-ftpd.pid"), "-Y", "1", "-2", filepath.Join(run, "cert.pem")+","+filepath.Join(run, "key.pem")), nil
			}},
		{name: "proftpd", addr: "127.0.99.4", pasvLo: 22000, pasvN: 4000, forks: true,
			about: "ProFTPD (Debian 12, mod_tls from proftpd-mod-crypto), standalone, mod_auth_unix, sendfile, `DelayEngine off`, `bench/peers/proftpd.conf`",
			cmd: func(o *options, s *server) (*exec.Cmd, error) {
				conf, err := render(o, s, "proftpd.conf")
				if err != nil {
					return nil, err
				}
				return exec.Command(filepath.Join(o.scratch, "pkg/proftpd/usr/sbin/proftpd"), "-n", "-c", conf), nil
			}},
		{name: "pyftpdlib", addr: "127.0.99.5", pasvLo: 26000, pasvN: 4000,
			about: "pyftpdlib 1.5.7 (Debian 12, CPython 3.11), one process, DummyAuthorizer (plain password), sendfile for clear data, logging at WARNING, `bench/peers/pyftpdlib_server.py`",
			cmd: func(o *options, s *server) (*exec.Cmd, error) {
				run := filepath.Join(o.scratch, "run")
				return exec.Command("/usr/bin/python3", filepath.Join(o.peersDir, "pyftpdlib_server.py"),
					s.addr, strconv.Itoa(port), strconv.Itoa(s.pasvLo), strconv.Itoa(s.pasvHi()), user, o.password,
					filepath.Join(o.scratch, "root"), filepath.Join(run, "cert.pem"), filepath.Join(run, "key.pem")), nil
			}},
	}
}

// render fills a configuration template from peersDir into run/.
func render(o *options, s *server, name string) (string, error) {
	t, err := template.ParseFiles(filepath.Join(o.peersDir, name))
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = t.Execute(&b, map[string]any{"Addr": s.addr, "Port": port, "PasvLo": s.pasvLo, "PasvHi": s.pasvHi(), "Scratch": o.scratch})
	if err != nil {
		return "", err
	}
	out := filepath.Join(o.scratch, "run", name)
	return out, os.WriteFile(out, b.Bytes(), 0o644)
}

// start runs the server in its own process group and waits for its
// greeting.
func (s *server) start(o *options) error {
	if greets(s.addr) == nil {
		return fmt.Errorf("%s: something already answers on %s:%d; stop it first", s.name, s.addr, port)
	}
	cmd, err := s.cmd(o, s)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(o.scratch, "logs", s.name+".log"), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// vsftpd reports configuration errors on file descriptor 0.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = logf, logf, logf
	// Its own session, as a service manager starts a daemon (systemd calls
	// setsid for every service), and so its own process group. With the
	// kernel's autogroup scheduling a session is a scheduling group: a
	// server left in the bench client's session competed with the client
	// thread by thread, while vsftpd's session processes, which call
	// setsid themselves, ran in groups of their own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	s.proc = cmd
	s.done = make(chan struct{})
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := greets(s.addr); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s did not greet within 15 s (%v); see %s", s.name, err, logf.Name())
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited at start; see %s", s.name, logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func greets(addr string) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", addr, port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b[:3]) != "220" {
		return fmt.Errorf("greeting %q", b)
	}
	c.Write([]byte("QUIT\r\n"))
	return nil
}

// stop ends the server's process group (SIGTERM, then SIGKILL after 10 s),
// and any descendant that left the group.
func (s *server) stop() {
	if s.proc == nil {
		return
	}
	pid := s.proc.Process.Pid
	kids, _ := bench.Descendants(os.DirFS("/proc"), pid)
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-s.done
	}
	for _, k := range kids[1:] {
		syscall.Kill(k, syscall.SIGKILL) // only our server's own children
	}
	s.proc = nil
}

// sample is one bench run of one workload against one server.
type sample struct {
	round  int
	server string
	res    bench.Result
}

// job is one cell of the table: a workload, with or without TLS.
type job struct {
	workload string
	tls      bool
}

func (j job) name() string {
	if j.tls {
		return j.workload + "+tls"
	}
	return j.workload
}

func run(o *options) error {
	all := servers()
	var list []*server
	if len(o.servers) == 0 {
		list = all
	} else {
		for _, n := range o.servers {
			found := false
			for _, s := range all {
				if s.name == n {
					list, found = append(list, s), true
				}
			}
			if !found {
				return fmt.Errorf("--servers: unknown server %q", n)
			}
		}
	}
	workloads, err := bench.ExpandWorkloads(append([]string{}, o.workloads...))
	if len(o.workloads) == 0 {
		workloads, err = bench.ExpandWorkloads([]string{"all"})
	}
	if err != nil {
		return err
	}
	// idle-sessions runs first in a round, on servers just started, so that
	// its "0 sessions" figure is a fresh server's.
	var jobs []job
	if contains(workloads, bench.IdleSessions) {
		jobs = append(jobs, job{workload: bench.IdleSessions})
	}
	for _, w := range workloads {
		if w != bench.IdleSessions {
			jobs = append(jobs, job{workload: w})
		}
	}
	if o.tls {
		for _, w := range workloads {
			switch w {
			case bench.RetrBig, bench.StorBig, bench.StorOverwrite, bench.SmallRetr, bench.LoginStorm, bench.ListBig:
				jobs = append(jobs, job{workload: w, tls: true})
			}
		}
	}
	for _, s := range list {
		defer s.stop()
	}
	// Ctrl-C or SIGTERM: stop the servers before leaving.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "compare: interrupted; stopping the servers")
		for _, s := range list {
			s.stop()
		}
		os.Exit(130)
	}()
	started := time.Now()
	loadBefore := loadavg()
	// The commit the servers were built from: read now, not when the
	// report is written half an hour later.
	o.rev = commit()
	var samples []sample
	for round := 1; round <= o.rounds; round++ {
		for _, s := range list {
			if err := s.start(o); err != nil {
				return err
			}
		}
		if round == 1 {
			if err := prepare(o, list[0]); err != nil {
				return err
			}
		}
		order := rotate(list, round-1)
		for _, j := range jobs {
			if bench.IsCeiling(j.workload) {
				// raw and raw-small measure the machine, once per round,
				// in the round's order like every other workload.
				res := benchRun(o, nil, j, o.duration)
				samples = append(samples, sample{round, "raw", res})
				report(round, "raw", res)
				continue
			}
			if isBig(j.workload) {
				for _, smp := range slicedRuns(o, order, j, round) {
					samples = append(samples, smp)
					report(round, smp.server, smp.res)
				}
				continue
			}
			for _, s := range order {
				res := benchRun(o, s, j, o.duration)
				samples = append(samples, sample{round, s.name, res})
				report(round, s.name, res)
			}
		}
		for _, s := range list {
			s.stop()
		}
	}
	var micro string
	if o.micro {
		micro = microBenchmarks()
	}
	return writeReport(o, list, jobs, samples, micro, time.Since(started), [2]string{loadBefore, loadavg()})
}

// loadavg is the first three fields of /proc/loadavg: other work on the
// machine shows here.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func rotate(l []*server, k int) []*server {
	k %= len(l)
	return append(append([]*server{}, l[k:]...), l[:k]...)
}

// prepare makes the shared test files once, through the first server,
// untimed: the big file, the small file and the list folder.
func prepare(o *options, s *server) error {
	fmt.Printf("preparing the test files through %s\n", s.name)
	args := []string{"bench", s.url(o), "--json", "--duration", "1ms", "--size", o.size,
		"--list-entries", strconv.Itoa(o.listEntries),
		"--workload", "retr-big,small-retr,list-big", "--clients", "1"}
	out, err := exec.Command(o.rotary, args...).Output()
	if err != nil {
		return fmt.Errorf("preparing the test files: %v\n%s", err, out)
	}
	// Write the new files back now, not during the measurements.
	syscall.Sync()
	return nil
}

func isBig(workload string) bool {
	return workload == bench.RetrBig || workload == bench.StorBig || workload == bench.StorOverwrite
}

// slicedRuns measures a big transfer on every server in order as o.slices
// short runs of o.duration/o.slices each, interleaved (A B C, A B C, ...),
// and gives one sample per server that adds its runs up. A 1 GiB transfer
// here takes a third of a second, and the machine's slow spells last
// seconds: one 5-second run per server let a spell land on one server
// whole, where short interleaved runs share it out.
func slicedRuns(o *options, order []*server, j job, round int) []sample {
	d := o.duration / time.Duration(o.slices)
	if d <= 0 {
		d = time.Millisecond // at least one transfer each
	}
	sum := make([]bench.Result, len(order))
	for k := range o.slices {
		for i, s := range order {
			res := benchRun(o, s, j, d)
			if k == 0 {
				sum[i] = res
				continue
			}
			sum[i] = addBig(sum[i], res)
		}
	}
	out := make([]sample, len(order))
	for i, s := range order {
		out[i] = sample{round, s.name, sum[i]}
	}
	return out
}

// addBig adds the big-transfer run b to the total a. A skipped or failed
// run makes the total skipped or failed: a figure from some of the runs
// would not be comparable with the other servers'.
func addBig(a, b bench.Result) bench.Result {
	if a.Skipped != "" || a.Error != "" {
		return a
	}
	if b.Skipped != "" || b.Error != "" {
		return b
	}
	a.Bytes += b.Bytes
	a.Transfers += b.Transfers
	a.Warmups += b.Warmups
	a.Seconds += b.Seconds
	a.MBps = 0
	if a.Seconds > 0 {
		a.MBps = float64(a.Bytes) / 1e6 / a.Seconds
	}
	if a.Note == "" {
		a.Note = b.Note
	}
	return a
}

// benchRun runs one workload with `rotary bench --json` for duration; s is
// nil for raw and raw-small.
func benchRun(o *options, s *server, j job, duration time.Duration) bench.Result {
	args := []string{"bench"}
	if s != nil {
		args = append(args, s.url(o))
	}
	args = append(args, "--json", "--workload", j.workload, "--duration", duration.String(),
		"--size", o.size, "--list-entries", strconv.Itoa(o.listEntries), "--logins", strconv.Itoa(o.logins),
		"--temp-dir", filepath.Join(o.scratch, "run"), "--warmup", strconv.Itoa(o.warmup))
	if j.tls {
		args = append(args, "--tls")
	}
	switch j.workload {
	case bench.LoginStorm:
		args = append(args, "--clients", strconv.Itoa(o.loginClients))
	case bench.SmallRetr, bench.RawSmall, bench.RawFTPSmall:
		// The ceilings with as many clients as the figure set against it.
		args = append(args, "--clients", strconv.Itoa(o.clients))
	case bench.IdleSessions:
		n := o.sessions
		if s.forks {
			n = o.forkSessions
		}
		args = append(args, "--sessions", strconv.Itoa(n), "--server-pid", strconv.Itoa(s.proc.Process.Pid))
	}
	if j.workload == bench.StorBig || j.workload == bench.StorOverwrite {
		// Start every server's uploads with no write-back pending from the
		// server before it: without this, whichever server came after
		// another's uploads in a round paid for them (STOR figures then
		// followed the position in the round more than the server).
		syncDisks()
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration+10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.rotary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var rep bench.Report
	if jerr := json.Unmarshal(out, &rep); jerr != nil || len(rep.Results) != 1 {
		msg := strings.TrimSpace(stderr.String())
		if err == nil {
			err = errors.New("no JSON result")
		}
		return bench.Result{Workload: j.workload, TLS: j.tls, Error: fmt.Sprintf("%v: %s", err, msg)}
	}
	return rep.Results[0]
}

func report(round int, name string, r bench.Result) {
	head, details := bench.Summary(&r)
	fmt.Printf("round %d  %-16s %-10s %-20s %s\n", round, r.Name(), name, head, details)
}

// microBenchmarks runs the engine's Go benchmarks and returns their output.
func microBenchmarks() string {
	fmt.Println("running the Go micro-benchmarks")
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "1s", "-count", "1",
		"./internal/ftp/", "./internal/passive/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s\n(go test failed: %v)", out, err)
	}
	return string(out)
}
