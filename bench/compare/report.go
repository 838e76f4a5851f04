//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/bench"
)

// metric is a workload's headline figure.
type metric struct {
	unit   string
	higher bool // higher is better
	get    func(r *bench.Result) float64
}

func metricOf(workload string) metric {
	switch workload {
	case bench.Raw, bench.RetrBig, bench.StorBig, bench.StorOverwrite:
		return metric{"MB/s", true, func(r *bench.Result) float64 { return r.MBps }}
	case bench.SmallRetr, bench.RawSmall, bench.RawFTPSmall:
		return metric{"ops/s", true, func(r *bench.Result) float64 { return r.OpsPerSec }}
	case bench.LoginStorm:
		return metric{"logins/s", true, func(r *bench.Result) float64 { return r.OpsPerSec }}
	case bench.IdleSessions:
		return metric{"KiB/session", false, func(r *bench.Result) float64 { return r.PerSessionKiB }}
	case bench.ListBig:
		return metric{"ms", false, func(r *bench.Result) float64 { return r.P50ms }}
	}
	return metric{"", true, func(*bench.Result) float64 { return 0 }}
}

// cell is the median of one server's samples for one job.
type cell struct {
	ok     int // rounds that gave a figure
	of     int // rounds run
	median float64
	why    string // when ok == 0: skipped or failed, with the reason
	// Medians of secondary figures.
	p50, p99 float64
	sessions int
	verb     string
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func aggregate(samples []sample, j job, server string) cell {
	m := metricOf(j.workload)
	var c cell
	var vals, p50s, p99s, sess []float64
	for i := range samples {
		s := &samples[i]
		if s.server != server || s.res.Workload != j.workload || s.res.TLS != (j.tls && !bench.IsCeiling(j.workload)) {
			continue
		}
		c.of++
		switch {
		case s.res.Skipped != "":
			c.why = "skipped: " + s.res.Skipped
			continue
		case s.res.Error != "":
			c.why = "failed: " + s.res.Error
			continue
		}
		c.ok++
		vals = append(vals, m.get(&s.res))
		p50s = append(p50s, s.res.P50ms)
		p99s = append(p99s, s.res.P99ms)
		sess = append(sess, float64(s.res.Sessions))
		if s.res.Verb != "" {
			c.verb = s.res.Verb
		}
	}
	c.median, c.p50, c.p99, c.sessions = median(vals), median(p50s), median(p99s), int(median(sess))
	return c
}

func (c cell) String() string {
	if c.ok == 0 {
		if strings.HasPrefix(c.why, "skipped") {
			return "n/a¹"
		}
		return "failed²"
	}
	s := format(c.median)
	if c.ok < c.of {
		s += fmt.Sprintf(" (%d/%d)", c.ok, c.of)
	}
	return s
}

// withUnit is String with unit after the figure ("failed²" alone).
func (c cell) withUnit(unit string) string {
	if c.ok == 0 {
		return c.String()
	}
	s := format(c.median) + " " + unit
	if c.ok < c.of {
		s += fmt.Sprintf(" (%d/%d)", c.ok, c.of)
	}
	return s
}

func format(v float64) string {
	switch {
	case v >= 100:
		return groupThousands(fmt.Sprintf("%.0f", v))
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func groupThousands(s string) string {
	if len(s) <= 4 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// best returns the best peer (not rotary) for a job.
func best(cells map[string]cell, peers []string, higher bool) (string, float64) {
	name, v := "", 0.0
	for _, p := range peers {
		c := cells[p]
		if c.ok == 0 {
			continue
		}
		if name == "" || (higher && c.median > v) || (!higher && c.median < v) {
			name, v = p, c.median
		}
	}
	return name, v
}

const (
	analysisStart = "<!-- analysis: kept by bench/compare when it rewrites this file -->"
	analysisEnd   = "<!-- /analysis -->"
)

func writeReport(o *options, list []*server, jobs []job, samples []sample, micro string, took time.Duration, load [2]string) error {
	var names, peers []string
	for _, s := range list {
		names = append(names, s.name)
		if s.name != "rotary" {
			peers = append(peers, s.name)
		}
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	p("# Benchmarks\n\n")
	p("Rotary against vsftpd, Pure-FTPd, ProFTPD and pyftpdlib on one machine, measured with `rotary bench`\n")
	p("(the load client in `internal/bench`, which speaks plain FTP and knows nothing of Rotary's engine).\n")
	p("Written by `bench/compare` on %s; %d rounds took %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), o.rounds, took.Round(time.Second))
	p("Reproduce (as root; it installs the peers from Debian's packages into a scratch folder):\n\n    %s\n\n", o.command)
	p("## Machine\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s, %d cores (`nproc`) |\n", cpuModel(), runtime.NumCPU())
	p("| memory | %s |\n", memTotal())
	p("| kernel | %s |\n", kernel())
	p("| Go | %s |\n", goVersion())
	p("| Rotary | %s |\n", o.rev)
	p("| load average (1, 5, 15 min) | %s at the start, %s at the end |\n", load[0], load[1])
	p("\nClient and servers share the cores, and other work on the machine was not stopped: figures are medians of\n")
	p("%d rounds. In each round every server is started afresh, then each workload runs against every server in\n", o.rounds)
	p("turn (A B C D E; the order rotates from round to round), so drift hits all servers alike.")
	if o.slices > 1 {
		p(" The big transfers\n")
		p("(retr-big, stor-big) interleave more finely: each server's %s is %d runs of %s, A B C D E repeated %d times,\n", o.duration, o.slices, o.duration/time.Duration(o.slices), o.slices)
		p("and its figure for the round is the bytes of all its runs over their time.")
	}
	if o.warmup > 0 {
		p("\nEach big-transfer run starts with %d untimed transfer(s): a first upload after a pause writes into\n", o.warmup)
		p("memory that this virtual machine has handed back to its host, at about 1 s per GiB for every server\n")
		p("(see the analysis).")
	}
	p("\n\n")

	// Main table.
	cellsOf := func(j job) map[string]cell {
		m := make(map[string]cell)
		for _, n := range names {
			m[n] = aggregate(samples, j, n)
		}
		m["raw"] = aggregate(samples, job{workload: bench.Raw}, "raw")
		return m
	}
	table := func(tls bool) {
		p("| workload | unit | %s | best peer | Rotary ÷ best peer |\n", strings.Join(names, " | "))
		p("|---|---|%s---|---|\n", strings.Repeat("---:|", len(names)))
		for _, j := range jobs {
			if j.tls != tls || bench.IsCeiling(j.workload) {
				continue
			}
			m := metricOf(j.workload)
			cells := cellsOf(j)
			dir := "higher is better"
			if !m.higher {
				dir = "lower is better"
			}
			p("| %s | %s (%s) |", j.name(), m.unit, dir)
			for _, n := range names {
				p(" %s |", cells[n])
			}
			bn, bv := best(cells, peers, m.higher)
			r := cells["rotary"]
			switch {
			case bn == "":
				p(" – | – |\n")
			case r.ok == 0 || bv == 0:
				p(" %s %s | – |\n", bn, format(bv))
			default:
				p(" %s %s | %.2f× |\n", bn, format(bv), r.median/bv)
			}
		}
	}
	p("## Results\n\n")
	rawCell := aggregate(samples, job{workload: bench.Raw}, "raw")
	if rawCell.of > 0 {
		p("Loopback ceiling (`raw`: sendfile of the big file over one TCP connection to a sink in the client): **%s**.\n\n", rawCell.withUnit("MB/s"))
	}
	smallCell := aggregate(samples, job{workload: bench.RawSmall}, "raw")
	if smallCell.of > 0 {
		p("Small-transfer ceiling (`raw-small`: %d clients, each looping one request and reply on a connection kept open, then a new\n", o.clients)
		p("TCP connection on which a trivial responder in the client sends 4 KiB from memory and closes): **%s**.\n\n", smallCell.withUnit("ops/s"))
	}
	ftpCell := aggregate(samples, job{workload: bench.RawFTPSmall}, "raw")
	if ftpCell.of > 0 {
		p("FTP-exchange ceiling (`raw-ftp-small`: small-retr's own client, PASV, connect, RETR, 4 KiB to EOF, 226, against a trivial\n")
		p("responder in the client with a pre-bound data port, 150 and 226 in one write, no login and no file system): **%s**", ftpCell.withUnit("ops/s"))
		if smallCell.ok > 0 && ftpCell.ok > 0 {
			p(" (%.2f× raw-small)", ftpCell.median/smallCell.median)
		}
		p(".\n\n")
	}
	p("MB = 10⁶ bytes. Big transfers are %s each, repeated for %s per server and round; small-retr uses %d clients on a 4 KiB file,\n", o.size, o.duration, o.clients)
	p("login-storm %d clients, list-big a folder of %d entries; idle-sessions holds %d sessions on the single-process\n", o.loginClients, o.listEntries, o.sessions)
	p("servers (Rotary, pyftpdlib) and %d on the forking ones (vsftpd, Pure-FTPd, ProFTPD: one or two processes per\n", o.forkSessions)
	p("session, and the machine has 32,768 PIDs for everyone; their cost per session is linear).\n\n")
	table(false)
	if o.tls {
		p("\nFTPS (explicit AUTH TLS, PROT P, TLS 1.3 where offered, session resumption on data connections):\n\n")
		table(true)
	}
	p("\nRotary ÷ best peer: above 1 is better for MB/s, ops/s and logins/s; below 1 is better for ms and KiB/session.\n")
	p("¹ n/a: skipped, see the notes below. ² failed: see the notes below. (k/n): only k of n rounds gave a figure.\n\n")
	var ceilings []ceiling
	if smallCell.ok > 0 {
		ceilings = append(ceilings, ceiling{bench.RawSmall, smallCell.median})
	}
	if ftpCell.ok > 0 {
		ceilings = append(ceilings, ceiling{bench.RawFTPSmall, ftpCell.median})
	}
	ceilingTable(p, names, jobs, ceilings, cellsOf)

	// Targets.
	p("## Targets (issues 6 and 21)\n\n")
	p("| target | Rotary | reference | met? |\n|---|---|---|---|\n")
	get := func(w string) (map[string]cell, metric) { return cellsOf(job{workload: w}), metricOf(w) }
	verdict := func(ok bool) string {
		if ok {
			return "**yes**"
		}
		return "**no**"
	}
	if c, m := get(bench.RetrBig); c["rotary"].ok > 0 {
		bn, bv := best(c, peers, m.higher)
		r := c["rotary"].median
		if rawCell.ok > 0 {
			p("| RETR ≥ 0.95 × raw | %s MB/s | raw %s MB/s (%.2f×) | %s |\n", format(r), format(rawCell.median), r/rawCell.median, verdict(r >= 0.95*rawCell.median))
		}
		if bn != "" {
			p("| RETR ≥ best peer | %s MB/s | %s %s MB/s (%.2f×) | %s |\n", format(r), bn, format(bv), r/bv, verdict(r >= bv))
		}
	}
	if c, m := get(bench.StorBig); c["rotary"].ok > 0 {
		if bn, bv := best(c, peers, m.higher); bn != "" {
			r := c["rotary"].median
			p("| STOR ≥ best peer | %s MB/s | %s %s MB/s (%.2f×) | %s |\n", format(r), bn, format(bv), r/bv, verdict(r >= bv))
		}
	}
	if c, m := get(bench.StorOverwrite); c["rotary"].ok > 0 {
		r := c["rotary"].median
		if bn, bv := best(c, peers, m.higher); bn != "" {
			p("| STOR over an existing file ≥ best peer | %s MB/s | %s %s MB/s (%.2f×) | %s |\n", format(r), bn, format(bv), r/bv, verdict(r >= bv))
		}
		if fresh, _ := get(bench.StorBig); fresh["rotary"].ok > 0 {
			f := fresh["rotary"].median
			p("| STOR over an existing file ≥ 0.8 × fresh-name STOR | %s MB/s | stor-big %s MB/s (%.2f×) | %s |\n", format(r), format(f), r/f, verdict(r >= 0.8*f))
		}
	}
	if c, m := get(bench.SmallRetr); c["rotary"].ok > 0 {
		r := c["rotary"].median
		if smallCell.ok > 0 {
			p("| small-retr (%d clients) ≥ 0.8 × raw-small | %s ops/s | raw-small %s ops/s (%.2f×) | %s |\n", o.clients, format(r), format(smallCell.median), r/smallCell.median, verdict(r >= 0.8*smallCell.median))
		}
		if bn, bv := best(c, peers, m.higher); bn != "" {
			p("| small-retr (%d clients) ≥ 1.5 × best peer | %s ops/s | %s %s ops/s (%.2f×) | %s |\n", o.clients, format(r), bn, format(bv), r/bv, verdict(r >= 1.5*bv))
		}
	}
	if c, _ := get(bench.LoginStorm); c["rotary"].ok > 0 && c["pyftpdlib"].ok > 0 {
		r, py := c["rotary"].median, c["pyftpdlib"].median
		p("| logins ≥ 1.5 × best plain-password peer | %s /s | pyftpdlib %s /s (%.2f×) | %s |\n", format(r), format(py), r/py, verdict(r >= 1.5*py))
	}
	if c, _ := get(bench.IdleSessions); c["rotary"].ok > 0 {
		r := c["rotary"]
		p("| %s idle sessions at ≤ 8 KiB PSS each | %.1f KiB | 8 KiB | %s |\n", groupThousands(fmt.Sprint(r.sessions)), r.median, verdict(r.median <= 8 && r.sessions >= 10000))
	}
	if c, m := get(bench.ListBig); c["rotary"].ok > 0 {
		if bn, bv := best(c, peers, m.higher); bn != "" {
			r := c["rotary"].median
			p("| list of %s entries ≤ best peer | %s ms | %s %s ms (%.2f×) | %s |\n", groupThousands(fmt.Sprint(o.listEntries)), format(r), bn, format(bv), r/bv, verdict(r <= bv))
		}
	}

	// Details.
	p("\n## Details (medians over the rounds)\n\n")
	p("| workload | server | figure | p50 ms | p99 ms | other |\n|---|---|---:|---:|---:|---|\n")
	for _, j := range jobs {
		if j.workload == bench.Raw {
			continue
		}
		m := metricOf(j.workload)
		rows := names
		if bench.IsCeiling(j.workload) {
			rows = []string{"raw"} // where the ceilings' samples are filed
		}
		for _, n := range rows {
			c := aggregate(samples, j, n)
			if c.ok == 0 {
				continue
			}
			other := ""
			switch j.workload {
			case bench.IdleSessions:
				other = fmt.Sprintf("%d sessions", c.sessions)
			case bench.ListBig:
				other = c.verb
			}
			p50, p99 := "", ""
			if j.workload == bench.SmallRetr || j.workload == bench.RawSmall || j.workload == bench.RawFTPSmall || j.workload == bench.LoginStorm || j.workload == bench.ListBig {
				p50, p99 = format(c.p50), format(c.p99)
			}
			server := n
			if bench.IsCeiling(j.workload) {
				server = "none (in the client)"
			}
			p("| %s | %s | %s %s | %s | %s | %s |\n", j.name(), server, format(c.median), m.unit, p50, p99, other)
		}
	}

	// Notes: skips and failures, once each.
	seen := make(map[string]bool)
	var notes []string
	for _, s := range samples {
		var n string
		switch {
		case s.res.Skipped != "":
			n = fmt.Sprintf("%s on %s: skipped: %s", s.res.Name(), s.server, s.res.Skipped)
		case s.res.Error != "":
			n = fmt.Sprintf("%s on %s (round %d): %s", s.res.Name(), s.server, s.round, s.res.Error)
		case s.res.Note != "" && !strings.HasPrefix(s.res.Note, "stopped by --duration"):
			n = fmt.Sprintf("%s on %s (round %d): %s", s.res.Name(), s.server, s.round, s.res.Note)
		}
		key := n
		if i := strings.Index(key, " (round"); i >= 0 {
			key = key[:i]
		}
		if n != "" && !seen[key] {
			seen[key] = true
			notes = append(notes, n)
		}
	}
	if len(notes) > 0 {
		p("\n### Notes from the runs\n\n")
		for _, n := range notes {
			p("- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
	}

	p("\n## Servers\n\n")
	for _, s := range list {
		p("- **%s** on %s:%d, passive ports %d-%d: %s.\n", s.name, s.addr, port, s.pasvLo, s.pasvHi(), s.about)
	}
	p("\nEvery server gets 4,000 passive ports (below the ephemeral range): with a small range, the TIME_WAIT\n")
	p("sockets that thousands of short data connections leave on each port make bind(2) of a passive listener slow\n")
	p("(see the analysis), and Pure-FTPd caps its clients at half its range.\n")
	p("\nAll five serve the same folder (the home of the system user `benchftp`), so every server reads the same\n")
	p("cached files. STOR writes a new file each time and deletes it after (untimed), which keeps disk write-back\n")
	p("out of the figure as far as it can be.\n")

	p("\n## Every run\n\n")
	p("| round | workload | %s |\n|---|---|%s\n", strings.Join(append([]string{"raw"}, names...), " | "), strings.Repeat("---:|", len(names)+1))
	for round := 1; round <= o.rounds; round++ {
		for _, j := range jobs {
			m := metricOf(j.workload)
			p("| %d | %s (%s) |", round, j.name(), m.unit)
			for _, n := range append([]string{"raw"}, names...) {
				v := "–"
				for i := range samples {
					s := &samples[i]
					if s.round == round && s.server == n && s.res.Workload == j.workload && s.res.TLS == (j.tls && !bench.IsCeiling(j.workload)) {
						switch {
						case s.res.Skipped != "":
							v = "n/a"
						case s.res.Error != "":
							v = "failed"
						default:
							v = format(m.get(&s.res))
						}
					}
				}
				p(" %s |", v)
			}
			p("\n")
		}
	}

	if micro != "" {
		p("\n## Go micro-benchmarks\n\n")
		p("`go test -run '^$' -bench . -benchmem -benchtime 1s ./internal/ftp/ ./internal/passive/`, run right after the rounds:\n\n")
		p("```\n%s\n```\n", strings.TrimSpace(micro))
	}

	// Keep the hand-written analysis from the previous report: everything
	// from its start marker on, sections added after its end marker too.
	analysis := analysisStart + "\n## Analysis\n\n(Not written yet.)\n" + analysisEnd
	if old, err := os.ReadFile(o.out); err == nil {
		if i := strings.Index(string(old), analysisStart); i >= 0 {
			analysis = strings.TrimRight(string(old[i:]), "\n")
		}
	}
	p("\n%s\n", analysis)
	fmt.Printf("wrote %s\n", o.out)
	return os.WriteFile(o.out, []byte(b.String()), 0o644)
}

// ceiling is a small-transfer ceiling's median: raw-small (the machine's),
// raw-ftp-small (FTP's exchange's).
type ceiling struct {
	workload string
	median   float64
}

// ceilingTable sets every server's small-retr figure, clear and FTPS,
// against each ceiling: the share of the machine's limit for small
// transfers (raw-small), and of the limit of FTP's own exchange
// (raw-ftp-small), that each server reaches. The FTPS rows are set against
// the same clear-text ceilings, as there is no TLS ceiling.
func ceilingTable(p func(string, ...any), names []string, jobs []job, ceilings []ceiling, cellsOf func(job) map[string]cell) {
	var rows []job
	for _, j := range jobs {
		if j.workload == bench.SmallRetr {
			rows = append(rows, j)
		}
	}
	if len(rows) == 0 || len(ceilings) == 0 {
		return
	}
	var medians []string
	for _, c := range ceilings {
		medians = append(medians, fmt.Sprintf("%s %s ops/s", c.workload, format(c.median)))
	}
	p("Small transfers against the ceiling: each server's small-retr median ÷ the ceiling's median (%s; the same\n", strings.Join(medians, ", "))
	p("clients in the same rounds); 1 would be the limit.\n\n")
	p("| workload | %s |\n|---|%s\n", strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
	for _, c := range ceilings {
		for _, j := range rows {
			label := j.name() + " ÷ " + c.workload
			if j.tls {
				label += " (clear-text ceiling)"
			}
			p("| %s |", label)
			cells := cellsOf(j)
			for _, n := range names {
				if cl := cells[n]; cl.ok > 0 {
					p(" %.2f× |", cl.median/c.median)
				} else {
					p(" – |")
				}
			}
			p("\n")
		}
	}
	p("\n")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}

func goVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown commit"
	}
	s := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && strings.TrimSpace(string(st)) != "" {
		s += " with uncommitted changes in the work tree"
	}
	return s
}
