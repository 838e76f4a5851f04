package metrics

import (
	"errors"
	"testing"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

func TestLabels(t *testing.T) {
	for _, tc := range []struct{ verb, dir string }{
		{"STOR", "upload"}, {"APPE", "upload"}, {"STOU", "upload"}, {"RETR", "download"},
		{"LIST", "listing"}, {"NLST", "listing"}, {"MLSD", "listing"},
	} {
		if got := direction(tc.verb); got != tc.dir {
			t.Errorf("direction(%s) = %s, want %s", tc.verb, got, tc.dir)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"ok", "ok"}, {"aborted", "aborted"}, {"stalled", "stalled"}, {"no data connection", "no_data_connection"},
		{"panic", "panic"}, {"failed: disk full", "failed"}, {"something new", "failed"},
	} {
		if got := result(tc.in); got != tc.want {
			t.Errorf("result(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

type fakeBans struct{}

func (fakeBans) Active() int    { return 2 }
func (fakeBans) Issued() uint64 { return 7 }

// The observer's counts land in their families; TLS failures and login
// refusals are told apart.
func TestServerObserver(t *testing.T) {
	m := NewServer(ServerSources{Bans: fakeBans{}})
	var o ftp.Observer = m
	o.SessionOpened(ftp.SessionInfo{})
	o.SessionOpened(ftp.SessionInfo{})
	o.SessionClosed(ftp.SessionInfo{})
	o.LoginFailed(ftp.SessionInfo{}, "u", true)
	o.TLSHandshake(ftp.SessionInfo{}, true, nil)
	o.TLSHandshake(ftp.SessionInfo{}, false, errors.New("bad certificate"))
	o.Replied(425)
	o.Replied(425)
	o.Replied(9999) // ignored, not a crash
	o.TransferProgress(ftp.TransferInfo{Verb: "RETR"}, 4<<20)
	o.TransferEnded(ftp.TransferRecord{Verb: "RETR", Result: "no data connection"})
	got := gather(t, m.Registry())
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rotary_sessions", nil, 1},
		{"rotary_logins_total", []string{"result", "refused"}, 1},
		{"rotary_logins_total", []string{"result", "failed"}, 0},
		{"rotary_tls_handshakes_total", []string{"connection", "control", "result", "ok"}, 1},
		{"rotary_tls_handshakes_total", []string{"connection", "data", "result", "failed"}, 1},
		{"rotary_replies_total", []string{"code", "425"}, 2},
		{"rotary_transfer_bytes_total", []string{"direction", "download"}, 4 << 20},
		{"rotary_transfers_total", []string{"direction", "download", "result", "no_data_connection"}, 1},
		{"rotary_bans", nil, 2},
		{"rotary_bans_total", nil, 7},
	} {
		if v := value(got[tc.name], tc.labels...); v != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, v, tc.want)
		}
	}
}
