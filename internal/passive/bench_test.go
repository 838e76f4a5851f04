package passive

import (
	"context"
	"net"
	"testing"
	"time"
)

// BenchmarkReserveRelease measures Reserve + Release without a connection:
// each cycle binds a listener and closes it again.
func BenchmarkReserveRelease(b *testing.B) {
	p, _ := newTestPool(b, freeRange(b, 21))
	b.ReportAllocs()
	for b.Loop() {
		r, err := p.Reserve(lo1, lo2)
		if err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
	b.StopTimer()
	waitStats(b, p, 0, 0)
}

// BenchmarkReserveConnectRelease measures the full cycle of one transfer:
// Reserve, loopback connection from the client, Accept, close, Release.
// Clients rotate through 250 loopback source addresses so TIME_WAIT entries
// do not pile up on one address.
func BenchmarkReserveConnectRelease(b *testing.B) {
	p, _ := newTestPool(b, freeRange(b, 21))
	p.AcceptTimeout = 10 * time.Second
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		client := loClient(i % 250)
		i++
		r, err := p.Reserve(lo1, client)
		if err != nil {
			b.Fatal(err)
		}
		c, err := dialFrom(client, r)
		if err != nil {
			b.Fatal(err)
		}
		sc, err := r.Accept(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sc.Close()
		c.Close()
		r.Release()
	}
	b.StopTimer()
	waitStats(b, p, 0, 0)
}

// BenchmarkSweepEmptyQueue measures what Reserve adds when it takes a
// lingering listener back: clearing a queue that holds nothing (Unix).
func BenchmarkSweepEmptyQueue(b *testing.B) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	b.ReportAllocs()
	for b.Loop() {
		swept, err := sweepQueue(ln)
		if err != nil || len(swept) != 0 {
			b.Fatal(swept, err)
		}
	}
}
