package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"
	"github.com/minio/minio-go/v7"

	"github.com/rotary-ftp/rotary/internal/storage/s3/s3test"
)

// The S3 figures of BENCHMARKS.md and docs/SCALING.md (issue 20), against
// the MinIO that s3test runs. Run with
//
//	go test -run '^$' -bench BenchmarkS3 -benchtime 1x -timeout 30m ./test/e2e/
//
// Each benchmark does a fixed number of rounds whatever b.N is (b.N=1 with
// -benchtime 1x): the figures are medians over interleaved rounds, which is
// what these shared VMs allow (single runs swing 2-5x).

const benchRounds = 3

// benchPattern is an endless stream of non-repeating-looking bytes that
// costs next to nothing to produce (one 1 MiB block, sent again and again).
type benchPattern struct {
	block []byte
	off   int
}

func newBenchPattern() *benchPattern { return &benchPattern{block: content(1 << 20)} }

func (p *benchPattern) Read(b []byte) (int, error) {
	n := copy(b, p.block[p.off:])
	p.off = (p.off + n) % len(p.block)
	return n, nil
}

// benchNode is one S3-backed `rotary serve` on 127.0.0.1.
type benchNode struct {
	addr string
	p    *proc
}

func startS3Node(b *testing.B, storage, host string) benchNode {
	b.Helper()
	pp := freePorts(b, 20, host)
	addr := pp.ctlOn(host)
	p := start(b, "serve-"+host, []string{addr}, "serve", "--listen", addr, "--root", b.TempDir(), "--storage", storage,
		"--user", "u:p", "--passive-ports", pp.passive(), "--max-conns-per-ip", "64")
	return benchNode{addr: addr, p: p}
}

func benchLogin(b *testing.B, addr string) *ftpc.ServerConn {
	b.Helper()
	c, err := ftpc.Dial(addr, ftpc.DialWithTimeout(time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Login("u", "p"); err != nil {
		b.Fatal(err)
	}
	return c
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// BenchmarkS3Transfer: 1 GiB STOR and RETR through an S3-backed rotary
// serve (jlaffaye/ftp as the client) against minio-go's own PutObject and
// GetObject on the same MinIO, interleaved round by round after a warm-up
// of each. Reports the medians in MB/s and their ratio.
func BenchmarkS3Transfer(b *testing.B) {
	srv := s3test.Require(b)
	prefix := srv.Prefix(b)
	node := startS3Node(b, s3URL(b, srv, prefix, ""), "127.0.0.1")
	client := srv.Core().Client
	ctx := context.Background()
	const size = 1 << 30

	viaRotary := map[string]func() time.Duration{
		"STOR": func() time.Duration {
			c := benchLogin(b, node.addr)
			defer c.Quit()
			began := time.Now()
			if err := c.Stor("big-ftp.bin", io.LimitReader(newBenchPattern(), size)); err != nil {
				b.Fatalf("STOR through rotary: %v", err)
			}
			return time.Since(began)
		},
		"RETR": func() time.Duration {
			c := benchLogin(b, node.addr)
			defer c.Quit()
			began := time.Now()
			r, err := c.Retr("big-ftp.bin")
			if err != nil {
				b.Fatalf("RETR through rotary: %v", err)
			}
			n, err := io.Copy(io.Discard, r)
			r.Close()
			if err != nil || n != size {
				b.Fatalf("RETR through rotary: %d bytes, %v", n, err)
			}
			return time.Since(began)
		},
	}
	viaMinioGo := map[string]func() time.Duration{
		"STOR": func() time.Duration {
			began := time.Now()
			if _, err := client.PutObject(ctx, s3test.Bucket, prefix+"big-sdk.bin", io.LimitReader(newBenchPattern(), size), size, minio.PutObjectOptions{}); err != nil {
				b.Fatalf("minio-go PutObject: %v", err)
			}
			return time.Since(began)
		},
		"RETR": func() time.Duration {
			began := time.Now()
			obj, err := client.GetObject(ctx, s3test.Bucket, prefix+"big-sdk.bin", minio.GetObjectOptions{})
			if err != nil {
				b.Fatalf("minio-go GetObject: %v", err)
			}
			n, err := io.Copy(io.Discard, obj)
			obj.Close()
			if err != nil || n != size {
				b.Fatalf("minio-go GetObject: %d bytes, %v", n, err)
			}
			return time.Since(began)
		},
	}
	for _, op := range []string{"STOR", "RETR"} {
		b.Run(op, func(b *testing.B) {
			viaRotary[op]() // warm-ups (and, for RETR, the objects read)
			viaMinioGo[op]()
			var rot, sdk []float64
			for round := 0; round < benchRounds; round++ {
				rot = append(rot, mbps(size, viaRotary[op]()))
				sdk = append(sdk, mbps(size, viaMinioGo[op]()))
			}
			b.Logf("%s 1 GiB, MB/s by round: rotary %.0f, minio-go %.0f", op, rot, sdk)
			b.ReportMetric(median(rot), "rotary-MB/s")
			b.ReportMetric(median(sdk), "minio-go-MB/s")
			b.ReportMetric(median(rot)/median(sdk), "ratio")
		})
	}
}

// BenchmarkS3MLSD10k: MLSD of a folder of 10,000 keys through rotary,
// against minio-go listing the same prefix with a delimiter, bare and with
// metadata (what the driver asks for), interleaved.
func BenchmarkS3MLSD10k(b *testing.B) {
	srv := s3test.Require(b)
	prefix := srv.Prefix(b)
	storage := s3URL(b, srv, prefix, "")
	putKeys(b, srv, prefix, "many", 10000)
	node := startS3Node(b, storage, "127.0.0.1")
	c := benchLogin(b, node.addr)
	defer c.Quit()
	client := srv.Core().Client
	// minio-go lists twice: bare (names, sizes, LastModified), and with
	// metadata as the driver asks for it (list-mtime=metadata, for MFMT's
	// mtimes), so the figures separate the store's cost from Rotary's.
	sdkList := func(withMetadata bool) time.Duration {
		began := time.Now()
		n := 0
		for obj := range client.ListObjects(context.Background(), s3test.Bucket, minio.ListObjectsOptions{Prefix: prefix + "many/", WithMetadata: withMetadata}) {
			if obj.Err != nil {
				b.Fatal(obj.Err)
			}
			n++
		}
		if n != 10000 {
			b.Fatalf("minio-go listed %d keys", n)
		}
		return time.Since(began)
	}
	var rot, sdk, sdkMeta []float64
	for round := 0; round < benchRounds+1; round++ {
		began := time.Now()
		entries, err := c.List("many")
		if err != nil || len(entries) != 10000 {
			b.Fatalf("MLSD of many/: %d entries, %v", len(entries), err)
		}
		tr := time.Since(began)
		ts := sdkList(false)
		tm := sdkList(true)
		if round > 0 { // the first is the warm-up
			rot = append(rot, float64(tr.Microseconds())/1000)
			sdk = append(sdk, float64(ts.Microseconds())/1000)
			sdkMeta = append(sdkMeta, float64(tm.Microseconds())/1000)
		}
	}
	b.Logf("ms by round: rotary MLSD %.0f, minio-go ListObjects %.0f, with metadata %.0f", rot, sdk, sdkMeta)
	b.ReportMetric(median(rot), "rotary-ms")
	b.ReportMetric(median(sdk), "minio-go-ms")
	b.ReportMetric(median(sdkMeta), "minio-go-metadata-ms")
}

// procRSS is a process's resident memory in bytes (VmRSS).
func procRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procCPU is a process's user+system CPU time (from /proc/PID/stat).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 per second).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// parallelStor runs one 256 MiB STOR per address in addrs at once and
// returns the aggregate rate in MB/s.
func parallelStor(b *testing.B, addrs []string, name string) float64 {
	const size = 256 << 20
	var wg sync.WaitGroup
	errs := make(chan error, len(addrs))
	began := time.Now()
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ftpc.Dial(addr, ftpc.DialWithTimeout(time.Minute))
			if err == nil {
				defer c.Quit()
				err = c.Login("u", "p")
			}
			if err == nil {
				err = c.Stor(fmt.Sprintf("%s-%d.bin", name, i), io.LimitReader(newBenchPattern(), size))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("parallel STOR: %v", err)
	}
	return mbps(int64(size)*int64(len(addrs)), time.Since(began))
}

// BenchmarkS3UploadMemory: K = 1, 4 and 8 concurrent 256 MiB STORs into
// one S3-backed node, its RSS sampled every 50 ms: the peak above the idle
// RSS, per upload. The README promises at most 24 MiB per upload (3 parts
// of 8 MiB).
func BenchmarkS3UploadMemory(b *testing.B) {
	srv := s3test.Require(b)
	node := startS3Node(b, s3URL(b, srv, srv.Prefix(b), ""), "127.0.0.1")
	pid := node.p.cmd.Process.Pid
	parallelStor(b, []string{node.addr}, "warm")
	for _, k := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			time.Sleep(500 * time.Millisecond)
			idle := procRSS(pid)
			stop := make(chan struct{})
			peak := make(chan int64)
			go func() {
				var max int64
				tick := time.NewTicker(50 * time.Millisecond)
				defer tick.Stop()
				for {
					if r := procRSS(pid); r > max {
						max = r
					}
					select {
					case <-stop:
						peak <- max
						return
					case <-tick.C:
					}
				}
			}()
			addrs := make([]string, k)
			for i := range addrs {
				addrs[i] = node.addr
			}
			rate := parallelStor(b, addrs, fmt.Sprintf("k%d", k))
			close(stop)
			p := <-peak
			b.Logf("K=%d: idle RSS %.1f MiB, peak %.1f MiB, %.0f MB/s", k, float64(idle)/(1<<20), float64(p)/(1<<20), rate)
			b.ReportMetric(float64(p-idle)/(1<<20)/float64(k), "MiB/upload")
			b.ReportMetric(float64(p)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(rate, "MB/s")
		})
	}
}

// BenchmarkS3Nodes (docs/SCALING.md): 4 parallel 256 MiB STORs through
// `rotary gateway` to one S3-backed node and to two nodes on the same
// bucket, interleaved, with the CPU time each process spent: how the work
// splits between the gateway, the nodes and MinIO on one machine.
func BenchmarkS3Nodes(b *testing.B) {
	srv := s3test.Require(b)
	nodes, two, gwAddr := startTwoS3Nodes(b, s3URL(b, srv, srv.Prefix(b), ""))
	// One node: the same file with the pool narrowed to node A.
	oneText, err := os.ReadFile(two)
	if err != nil {
		b.Fatal(err)
	}
	one := two + ".one"
	os.WriteFile(one, bytes.Replace(oneText, []byte("ftp-ctl 127.0.0.11 127.0.0.12"), []byte("ftp-ctl 127.0.0.11 127.0.0.11"), 1), 0o644)
	pids := map[string]func() []int{"minio": func() []int { return []int{srv.PID()} }}
	pids["nodes"] = func() []int { return []int{nodes[0].cmd.Process.Pid, nodes[1].cmd.Process.Pid} }

	run := func(cfg string) (rate float64, cpu map[string]time.Duration) {
		gw := start(b, "gateway", []string{gwAddr}, "gateway", "--config", cfg, "--admin", "")
		defer gw.kill()
		pids["gateway"] = func() []int { return []int{gw.cmd.Process.Pid} }
		before := map[string]time.Duration{}
		for name, f := range pids {
			for _, pid := range f() {
				before[name] += procCPU(pid)
			}
		}
		addrs := []string{gwAddr, gwAddr, gwAddr, gwAddr}
		began := time.Now()
		rate = parallelStor(b, addrs, "nodes")
		wall := time.Since(began)
		cpu = map[string]time.Duration{"wall": wall}
		for name, f := range pids {
			for _, pid := range f() {
				cpu[name] += procCPU(pid)
			}
			cpu[name] -= before[name]
		}
		return rate, cpu
	}
	for _, cfg := range []struct{ name, file string }{{"1-node", one}, {"2-nodes", two}} {
		b.Run(cfg.name, func(b *testing.B) {
			run(cfg.file) // warm-up
			var rates []float64
			var last map[string]time.Duration
			for round := 0; round < benchRounds; round++ {
				r, cpu := run(cfg.file)
				rates = append(rates, r)
				last = cpu
			}
			b.Logf("%s: 4 x 256 MiB STOR, MB/s by round %.0f; CPU of the last round (wall %v): nodes %v, gateway %v, MinIO %v",
				cfg.name, rates, last["wall"].Round(time.Millisecond), last["nodes"], last["gateway"], last["minio"])
			b.ReportMetric(median(rates), "MB/s")
			for _, name := range []string{"nodes", "gateway", "minio"} {
				b.ReportMetric(last[name].Seconds()/last["wall"].Seconds(), name+"-cores")
			}
		})
	}
}
