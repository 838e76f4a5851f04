package ftp_test

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// A small RETR whose data connection waits in the listen queue takes it as
// a bare socket (no net.Conn) and sends the file on it; every byte
// arrives, for the raw test client and for jlaffaye/ftp. A file over
// QueuedSendMax never takes that path.
func TestSmallRETRTakesQueuedConnection(t *testing.T) {
	ts := startServer(t, 4, nil)
	for _, tc := range []struct {
		name  string
		size  int
		taken bool
	}{
		{"empty.bin", 0, true},
		{"4k.bin", 4 << 10, true},
		{"max.bin", ftp.QueuedSendMax, true},
		{"over.bin", ftp.QueuedSendMax + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.size)
			writeFile(t, filepath.Join(ts.root, tc.name), data)
			before := ftp.QueuedTakes()
			r := ts.raw(t)
			r.Login("u", "p")
			r.Must(200, "TYPE I")
			const tries = 10
			for range tries {
				retrWhole(t, r, tc.name, data)
			}
			c := ts.client(t)
			for range tries {
				rc, err := c.Retr(tc.name)
				if err != nil {
					t.Fatalf("jlaffaye/ftp RETR %s: %v", tc.name, err)
				}
				got, err := io.ReadAll(rc)
				if cerr := rc.Close(); err == nil {
					err = cerr
				}
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("jlaffaye/ftp RETR %s: %d bytes (%v), want %d", tc.name, len(got), err, len(data))
				}
			}
			taken := ftp.QueuedTakes() - before
			t.Logf("%d of %d taken from the queue", taken, 2*tries)
			// The client connects before it sends RETR; on a loaded
			// machine its connection may still reach the queue late.
			if tc.taken && taken == 0 || !tc.taken && taken != 0 {
				t.Errorf("%d of %d RETRs of %d bytes took their connection from the queue, want %v", taken, 2*tries, tc.size, tc.taken)
			}
		})
	}
}
