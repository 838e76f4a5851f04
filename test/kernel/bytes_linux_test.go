//go:build linux

package kernel

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gatewayBytes scrapes rotary_gateway_bytes_total from the admin endpoint
// of the gateway in the router namespace.
func (l *lab) gatewayBytes(t testing.TB, admin string) (fromClient, fromInside uint64) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.router, "curl", "-sS", "--max-time", "5", "http://"+admin+"/metrics").CombinedOutput()
	if err != nil {
		t.Fatalf("scraping /metrics: %v\n%s", err, out)
	}
	found := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		var dst *uint64
		switch name {
		case `rotary_gateway_bytes_total{direction="from_client"}`:
			dst = &fromClient
		case `rotary_gateway_bytes_total{direction="from_inside"}`:
			dst = &fromInside
		}
		if dst == nil || !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", sc.Text(), err)
		}
		*dst = uint64(v)
		found++
	}
	if found != 2 {
		t.Fatalf("/metrics lacks rotary_gateway_bytes_total by direction:\n%s", out)
	}
	return fromClient, fromInside
}

// TestKernelDatapathBytes: a 10 MiB RETR and a 10 MiB STOR through the
// kernel datapath grow rotary_gateway_bytes_total in their direction by
// at least the file's size and by less than a tenth more (IP and TCP
// headers, the control connection), and the other direction by less
// than a tenth of it (ACKs); a SIGHUP reload, which replaces the table
// and its counters, keeps the bytes of a RETR that ended just before it
// and lets no total go down, and the new table counts on. show
// statistics prints the same totals.
func TestKernelDatapathBytes(t *testing.T) {
	cfg := iosExample(t, "seed-single-server.ios", "127.0.0.2", outsideAddr, "127.0.0.1", serverA)
	l := newLab(t)
	s := l.serve("serve", serverA, "5500-5520")
	const size = 10 << 20
	data := content(size)
	if err := os.WriteFile(filepath.Join(s.root, "ten.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	upload := filepath.Join(t.TempDir(), "up.bin")
	if err := os.WriteFile(upload, data, 0o644); err != nil {
		t.Fatal(err)
	}
	const admin = "127.0.0.1:2180"
	g := l.gateway(cfg, "--datapath", "kernel", "--admin", admin)
	if tbl := l.table(); !strings.Contains(tbl, `counter name "from_client"`) || !strings.Contains(tbl, "hook postrouting") {
		t.Fatalf("table ip rotary: want the counting chains and their named counters:\n%s", tbl)
	}

	// grew checks one transfer's growth: want bytes at least in the
	// direction of the data, little the other way.
	type totals struct{ fromClient, fromInside uint64 }
	scrape := func() totals {
		c, i := l.gatewayBytes(t, admin)
		return totals{c, i}
	}
	grew := func(what string, before, after totals, dataFromClient bool) {
		t.Helper()
		data, acks := after.fromInside-before.fromInside, after.fromClient-before.fromClient
		if dataFromClient {
			data, acks = acks, data
		}
		t.Logf("%s of %d bytes: counted %d in the data's direction (%.4fx), %d the other way", what, size, data, float64(data)/size, acks)
		if data < size || data > size+size/10 {
			t.Errorf("%s of %d bytes: the data's direction grew by %d, want %d..%d", what, size, data, size, size+size/10)
		}
		if acks > size/10 {
			t.Errorf("%s of %d bytes: the other direction grew by %d, want less than %d", what, size, acks, size/10)
		}
	}
	retr := func() {
		t.Helper()
		out, err := l.inClient("curl", "-sS", "--max-time", "20", "-o", "-", "ftp://u:p@"+outsideAddr+":2121/ten.bin")
		if err != nil || sha(out) != sha(data) {
			t.Fatalf("RETR through the kernel datapath: %d bytes, %v", len(out), err)
		}
	}

	t0 := scrape()
	retr()
	t1 := scrape()
	grew("RETR", t0, t1, false)
	if out, err := l.inClient("curl", "-sS", "--max-time", "20", "-T", upload, "ftp://u:p@"+outsideAddr+":2121/up.bin"); err != nil {
		t.Fatalf("STOR through the kernel datapath: %v %s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(s.root, "up.bin")); sha(got) != sha(data) {
		t.Fatal("the upload through the kernel datapath differs")
	}
	t2 := scrape()
	grew("STOR", t1, t2, true)

	// A RETR, then a reload before any scrape: the reload replaces the
	// table, whose counters start at zero again; the totals keep what
	// the old table counted since the last scrape (its flows have ended:
	// the counts are the table's, not conntrack's).
	retr()
	g.cmd.Process.Signal(syscall.SIGHUP)
	if !g.out.WaitForText(10*time.Second, "configuration reloaded") {
		t.Fatalf("no reload:\n%s", g.out.String())
	}
	t3 := scrape()
	if t3.fromClient < t2.fromClient || t3.fromInside < t2.fromInside {
		t.Fatalf("after the reload the totals went down: %+v, then %+v", t2, t3)
	}
	grew("RETR just before the reload", t2, t3, false)
	retr()
	t4 := scrape()
	grew("RETR after the reload", t3, t4, false)

	out, err := exec.Command("ip", "netns", "exec", l.router, rotaryBin, "gateway", "show", "statistics", "--admin", admin).CombinedOutput()
	if err != nil {
		t.Fatalf("show statistics: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Bytes from clients: (\d+)  Bytes from inside: (\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("show statistics prints no bytes:\n%s", out)
	}
	c, _ := strconv.ParseUint(m[1], 10, 64)
	i, _ := strconv.ParseUint(m[2], 10, 64)
	if c < t4.fromClient || i < t4.fromInside || i < 3*size || c < size {
		t.Errorf("show statistics: %d from clients and %d from inside, want at least /metrics' %+v (three RETRs and a STOR of %d bytes)", c, i, t4, size)
	}
	g.stop(t)
}
