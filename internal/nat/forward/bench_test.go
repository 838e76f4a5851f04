package forward

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// fastSink reads to EOF with a large buffer (io.Discard's 8 KiB reads
// would measure the sink, not the path), then answers "ok".
func fastSink(c *net.TCPConn) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	io.WriteString(c, "ok")
}

func benchThroughput(b *testing.B, viaGateway bool) {
	port, lns := listenSame(b, outsideIP, backendA)
	lns[0].Close()
	serveBackend(b, lns[1], fastSink)
	target := netip.AddrPortFrom(backendA, port)
	if viaGateway {
		out := netip.AddrPortFrom(outsideIP, port)
		startServer(b, staticRules(out, target))
		target = out
	}
	c := dial(b, target)
	defer c.Close()
	c.SetDeadline(time.Time{})
	chunk := make([]byte, 1<<20)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	c.CloseWrite()
	if got := readAll(c); got != "ok" {
		b.Fatalf("sink answered %q", got)
	}
}

// BenchmarkThroughputDirect is the loopback baseline: client to sink.
func BenchmarkThroughputDirect(b *testing.B) { benchThroughput(b, false) }

// BenchmarkThroughputGateway is the same stream through the gateway (two hops, spliced).
func BenchmarkThroughputGateway(b *testing.B) { benchThroughput(b, true) }

func benchConnections(b *testing.B, viaGateway bool) {
	port, lns := listenSame(b, outsideIP, backendA)
	lns[0].Close()
	serveBackend(b, lns[1], func(c *net.TCPConn) {
		var one [1]byte
		if _, err := io.ReadFull(c, one[:]); err == nil {
			c.Write(one[:])
		}
	})
	target := netip.AddrPortFrom(backendA, port)
	if viaGateway {
		out := netip.AddrPortFrom(outsideIP, port)
		startServer(b, staticRules(out, target))
		target = out
	}
	addr := target.String()
	var one [1]byte
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Write([]byte{'x'})
		if _, err := io.ReadFull(c, one[:]); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
}

// BenchmarkConnectionsPerSecond opens, uses (one byte each way) and closes
// connections through the gateway, one at a time.
func BenchmarkConnectionsPerSecond(b *testing.B) { benchConnections(b, true) }

// BenchmarkConnectionsPerSecondDirect is its baseline without the gateway.
func BenchmarkConnectionsPerSecondDirect(b *testing.B) { benchConnections(b, false) }
