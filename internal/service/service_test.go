package service

import (
	"context"
	"errors"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

// recorder collects reports; Execute calls report from its own goroutine.
type recorder struct {
	mu   sync.Mutex
	seen []Status
	ch   chan Status
}

func newRecorder() *recorder { return &recorder{ch: make(chan Status, 100)} }

func (r *recorder) report(s Status) {
	r.mu.Lock()
	r.seen = append(r.seen, s)
	r.mu.Unlock()
	r.ch <- s
}

// waitFor returns the first report in state st, failing after a while.
func (r *recorder) waitFor(t *testing.T, st State) Status {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case s := <-r.ch:
			if s.State == st {
				return s
			}
		case <-timeout:
			t.Fatalf("no %v report; saw %v", st, r.states())
		}
	}
}

func (r *recorder) states() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []State
	for _, s := range r.seen {
		if len(out) == 0 || out[len(out)-1] != s.State {
			out = append(out, s.State)
		}
	}
	return out
}

// program is a fake Run: it counts reloads and ends when ctx is done, or
// with code when end is closed.
type program struct {
	reloads chan struct{}
	end     chan int
	drain   time.Duration
}

func newProgram() *program {
	return &program{reloads: make(chan struct{}, 10), end: make(chan int, 1)}
}

func (p *program) run(ctx context.Context, reload <-chan os.Signal) int {
	for {
		select {
		case sig := <-reload:
			if sig != ReloadSignal {
				panic("unexpected signal " + sig.String())
			}
			p.reloads <- struct{}{}
		case <-ctx.Done():
			time.Sleep(p.drain)
			return 0
		case code := <-p.end:
			return code
		}
	}
}

func TestExecute(t *testing.T) {
	type step func(t *testing.T, reqs chan<- Request, rec *recorder, p *program)
	stop := func(r Request) step {
		return func(t *testing.T, reqs chan<- Request, rec *recorder, p *program) {
			reqs <- r
			rec.waitFor(t, StopPending)
		}
	}
	running := func(t *testing.T, reqs chan<- Request, rec *recorder, p *program) { rec.waitFor(t, Running) }
	tests := []struct {
		name     string
		startErr error
		startFor time.Duration
		drain    time.Duration
		steps    []step
		code     int
		states   []State
	}{
		{name: "stop", steps: []step{running, stop(Stop)}, code: 0,
			states: []State{StartPending, Running, StopPending}},
		{name: "shutdown", steps: []step{running, stop(Shutdown)}, code: 0,
			states: []State{StartPending, Running, StopPending}},
		{name: "start fails", startErr: errors.New("listen tcp :21: address already in use"),
			code: ExitStartFailed, states: []State{StartPending}},
		{name: "program fails while running", code: 1,
			steps: []step{func(t *testing.T, reqs chan<- Request, rec *recorder, p *program) {
				rec.waitFor(t, Running)
				p.end <- 1
			}},
			states: []State{StartPending, Running}},
		{name: "reload then stop",
			steps: []step{func(t *testing.T, reqs chan<- Request, rec *recorder, p *program) {
				rec.waitFor(t, Running)
				reqs <- Reload
				select {
				case <-p.reloads:
				case <-time.After(5 * time.Second):
					t.Fatal("the reload request did not reach the program")
				}
			}, func(t *testing.T, reqs chan<- Request, rec *recorder, p *program) {
				reqs <- Stop
				rec.waitFor(t, StopPending)
			}},
			states: []State{StartPending, Running, StopPending}},
		{name: "interrogate answers the current state",
			steps: []step{func(t *testing.T, reqs chan<- Request, rec *recorder, p *program) {
				rec.waitFor(t, Running)
				reqs <- Interrogate
				if s := rec.waitFor(t, Running); !reflect.DeepEqual(s.Accepts, []Request{Stop, Shutdown, Reload}) {
					t.Errorf("running accepts %v", s.Accepts)
				}
			}, stop(Stop)},
			states: []State{StartPending, Running, StopPending}},
		{name: "stop during a slow start stops once started", startFor: 50 * time.Millisecond,
			steps: []step{func(t *testing.T, reqs chan<- Request, rec *recorder, p *program) {
				rec.waitFor(t, StartPending)
				reqs <- Stop
			}},
			states: []State{StartPending, StopPending}},
		{name: "a long drain reports progress", drain: 60 * time.Millisecond,
			steps: []step{func(t *testing.T, reqs chan<- Request, rec *recorder, p *program) {
				rec.waitFor(t, Running)
				reqs <- Stop
				first := rec.waitFor(t, StopPending)
				next := rec.waitFor(t, StopPending)
				if next.CheckPoint <= first.CheckPoint {
					t.Errorf("checkpoint did not grow while stopping: %d then %d", first.CheckPoint, next.CheckPoint)
				}
				if first.WaitHint != 40*time.Second || len(first.Accepts) != 0 {
					t.Errorf("stop pending = %+v, want WaitHint 40s and no accepted requests", first)
				}
			}},
			states: []State{StartPending, Running, StopPending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProgram()
			p.drain = tt.drain
			var gotErr error
			h := Handler{
				Start: func() (Run, error) {
					time.Sleep(tt.startFor)
					if tt.startErr != nil {
						return nil, tt.startErr
					}
					return p.run, nil
				},
				OnError:   func(err error) { gotErr = err },
				StartHint: 30 * time.Second, StopHint: 40 * time.Second,
				Tick: 10 * time.Millisecond,
			}
			reqs := make(chan Request)
			rec := newRecorder()
			codec := make(chan int, 1)
			go func() { codec <- h.Execute(reqs, rec.report) }()
			for _, s := range tt.steps {
				s(t, reqs, rec, p)
			}
			var code int
			select {
			case code = <-codec:
			case <-time.After(5 * time.Second):
				t.Fatalf("Execute did not return; states %v", rec.states())
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if got := rec.states(); !reflect.DeepEqual(got, tt.states) {
				t.Errorf("states %v, want %v", got, tt.states)
			}
			if !errors.Is(gotErr, tt.startErr) {
				t.Errorf("OnError got %v, want %v", gotErr, tt.startErr)
			}
		})
	}
}

func TestLineWriter(t *testing.T) {
	type entry struct {
		sev  Severity
		line string
	}
	long := make([]byte, MaxEntry+10)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		name   string
		writes []string
		want   []entry
	}{
		{"text handler levels", []string{"time=t level=INFO msg=up\ntime=t level=WARN msg=slow\ntime=t level=ERROR msg=down\n"},
			[]entry{{Info, "time=t level=INFO msg=up"}, {Warning, "time=t level=WARN msg=slow"}, {Error, "time=t level=ERROR msg=down"}}},
		{"json handler levels", []string{`{"level":"WARN","msg":"a"}` + "\n" + `{"level":"ERROR","msg":"b"}` + "\n"},
			[]entry{{Warning, `{"level":"WARN","msg":"a"}`}, {Error, `{"level":"ERROR","msg":"b"}`}}},
		{"a line split across writes", []string{"level=ERR", "OR msg=split", "\r\nnext"},
			[]entry{{Error, "level=ERROR msg=split"}, {Info, "next"}}},
		{"blank lines dropped", []string{"\n\n  \nbanner\n"}, []entry{{Info, "banner"}}},
		{"an endless line is cut", []string{string(long) + "\n"},
			[]entry{{Info, string(long[:MaxEntry]) + " [cut: the line was longer than the event log takes]"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []entry
			w := &LineWriter{Emit: func(s Severity, l string) { got = append(got, entry{s, l}) }}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.Flush()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}
