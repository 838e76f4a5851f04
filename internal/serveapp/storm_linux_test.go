package serveapp

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftpclient"
)

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A SIGHUP storm during transfers (issue 15): fifty reloads, half of them
// moving the passive range, while four clients download and upload in a
// loop. Every transfer completes intact, and descriptors and goroutines
// come back to where they were.
func TestReloadStormDuringTransfers(t *testing.T) {
	rangeA, rangeB := passiveRange(8), passiveRange(8)
	conf := func(rng string) string {
		return fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nuser = [\"u:p\"]\npassive-ports = %q\n", rng)
	}
	ta := startApp(t, conf(rangeA))
	data := bytes.Repeat([]byte("rotary reload storm\n"), (4<<20)/20)
	if err := os.WriteFile(filepath.Join(ta.dir, "root", "f.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ta.addr(t))
	ctx := context.Background()
	transfer := func(c *ftpclient.Conn, i int) error {
		d, err := c.Open(ctx, "RETR f.bin")
		if err != nil {
			return err
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(d.Conn())
		d.Close()
		if err != nil {
			return err
		}
		if err := c.Finish("RETR"); err != nil {
			return err
		}
		if !bytes.Equal(got.Bytes(), data) {
			return fmt.Errorf("download %d differs (%d bytes)", i, got.Len())
		}
		up, err := c.Open(ctx, fmt.Sprintf("STOR up-%d.bin", i%4))
		if err != nil {
			return err
		}
		if _, err := up.Fill(int64(len(data)), data, nil); err != nil {
			return err
		}
		return c.Finish("STOR")
	}
	// One round first, so that the baseline counts a used server.
	c, err := (&ftpclient.Dialer{Addr: addr}).Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	if err := transfer(c, 0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(3 * time.Second) // the passive listener's linger (2 s) passes
	baseFDs, baseG := fdCount(t), runtime.NumGoroutine()

	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := (&ftpclient.Dialer{Addr: addr}).Dial(ctx)
			if err == nil {
				err = c.Login("u", "p")
			}
			for i := 0; err == nil; i++ {
				select {
				case <-stop:
					c.Close()
					return
				default:
				}
				err = transfer(c, i)
			}
			errs <- fmt.Errorf("worker %d: %w", w, err)
		}()
	}
	for i := 0; i < 50; i++ {
		rng := rangeA
		if i%2 == 0 {
			rng = rangeB
		}
		ta.write(t, conf(rng))
		if err := ta.Reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		fds, g := fdCount(t), runtime.NumGoroutine()
		if fds <= baseFDs && g <= baseG {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the storm: %d descriptors (baseline %d), %d goroutines (baseline %d)", fds, baseFDs, g, baseG)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
