package ftp

import (
	"net"
	"os"
	"testing"
	"time"
)

// Past maxBlockingSends, RETR takes the non-blocking path: the blocking one
// declines without sending anything.
func TestBlockingSendsAreBounded(t *testing.T) {
	blockingSends.Add(maxBlockingSends)
	defer blockingSends.Add(-maxBlockingSends)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err, handled := sendFileBlocking(c.(*net.TCPConn), f, 1<<20, time.Second); handled || n != 0 || err != nil {
		t.Fatalf("at the bound: sent %d, %v, handled %v; want 0, nil, false", n, err, handled)
	}
}
