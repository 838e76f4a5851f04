package serveapp

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/syncbuf"
)

// TestJSONLogDurations: in JSON logs every duration is a number of
// seconds, wherever it sits (top level, a group, a logger's own attrs);
// text logs keep Go's duration strings.
func TestJSONLogDurations(t *testing.T) {
	cfg := config.Defaults()
	cfg.LogFormat = "json"
	var out syncbuf.Buffer
	log, q := newLogger(cfg, new(slog.LevelVar), &out)
	log.Info("transfer", "cmd", "RETR", "bytes", 5, "duration", 12345*time.Microsecond)
	log.With("linger", 2*time.Second).Info("session closed", slog.Group("timers", "idle", 90*time.Second), "duration", time.Duration(0))
	q.Sync()

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), out.String())
	}
	want := []map[string]float64{
		{"duration": 0.012345},
		{"duration": 0, "linger": 2, "timers.idle": 90},
	}
	for i, l := range lines {
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
		}
		for key, w := range want[i] {
			v := m
			path := strings.Split(key, ".")
			for _, g := range path[:len(path)-1] {
				v, _ = v[g].(map[string]any)
			}
			n, ok := v[path[len(path)-1]].(json.Number)
			if !ok {
				t.Errorf("line %d: %s is %#v, want a number of seconds\n%s", i+1, key, v[path[len(path)-1]], l)
				continue
			}
			if f, err := n.Float64(); err != nil || f != w {
				t.Errorf("line %d: %s = %s, want %g seconds", i+1, key, n, w)
			}
		}
	}
	if !bytes.Contains([]byte(lines[0]), []byte(`"bytes":5`)) {
		t.Errorf("an integer that is no duration changed: %s", lines[0])
	}

	cfg.LogFormat = "text"
	var text syncbuf.Buffer
	log, q = newLogger(cfg, new(slog.LevelVar), &text)
	log.Info("transfer", "duration", 12345*time.Microsecond)
	q.Sync()
	if !strings.Contains(text.String(), "duration=12.345ms") {
		t.Errorf("text log: %q, want duration=12.345ms", text.String())
	}
}
