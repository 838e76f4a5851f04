// Package service runs a program under a service manager's control: it
// turns the manager's requests (stop, shutdown, reload, interrogate) into
// calls on the program and reports the states the manager expects back
// (start pending, running, stop pending), with the progress checkpoints a
// pending state needs so that the manager does not give up on a long
// start or a drain.
//
// The protocol is the Windows service control manager's; the Windows
// adapter (cmd/rotary) only translates its types. Keeping the state
// machine here, free of Windows types, lets its tests run on every OS.
package service

import (
	"context"
	"fmt"
	"os"
	"time"
)

// State is a service's state as the manager sees it.
type State int

const (
	Stopped State = iota + 1
	StartPending
	StopPending
	Running
)

func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case StartPending:
		return "start pending"
	case StopPending:
		return "stop pending"
	case Running:
		return "running"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Request is a control request from the manager.
type Request int

const (
	// Interrogate asks for the current status again.
	Interrogate Request = iota + 1
	// Stop asks the service to stop (sc stop, the Services console).
	Stop
	// Shutdown is Stop because the machine is shutting down.
	Shutdown
	// Reload asks the program to re-read its configuration (Windows:
	// SERVICE_CONTROL_PARAMCHANGE, `sc.exe control NAME paramchange`).
	Reload
)

func (r Request) String() string {
	switch r {
	case Interrogate:
		return "interrogate"
	case Stop:
		return "stop"
	case Shutdown:
		return "shutdown"
	case Reload:
		return "reload"
	}
	return fmt.Sprintf("Request(%d)", int(r))
}

// Status is one report to the manager. Accepts lists the requests the
// service takes in this state (besides Interrogate, which is always
// answered); CheckPoint grows while a pending state makes progress, and
// WaitHint is how long the manager should wait for the next report.
type Status struct {
	State      State
	Accepts    []Request
	CheckPoint uint32
	WaitHint   time.Duration
}

// ReloadSignal is the value a Reload request sends on the program's
// reload channel, where a Unix program receives SIGHUP.
var ReloadSignal os.Signal = reloadSignal{}

type reloadSignal struct{}

func (reloadSignal) String() string { return "service reload request" }
func (reloadSignal) Signal()        {}

// Run is the program's main loop: it serves until ctx is done, reloading
// on each value from reload, and returns its exit status (0 for a clean
// stop). serveapp.App.Run has this shape.
type Run func(ctx context.Context, reload <-chan os.Signal) int

// Exit codes the service ends with that the program did not return.
const (
	// ExitStartFailed: Start returned an error (a port taken, a bad
	// configuration); Handler logged it through OnError.
	ExitStartFailed = 2
)

// Handler drives one run of a program for the manager.
type Handler struct {
	// Start prepares the program (parses its configuration, binds its
	// listeners) and returns its loop. An error stops the service with
	// ExitStartFailed.
	Start func() (Run, error)
	// OnError is told why Start failed (the event log, on Windows).
	OnError func(error)
	// StartHint and StopHint are the WaitHints of the pending states; a
	// stop drains transfers, so StopHint should exceed the drain grace.
	StartHint, StopHint time.Duration
	// Tick is how often a pending state reports a new checkpoint; zero
	// means two seconds.
	Tick time.Duration
}

// Execute runs the program under requests, reporting each state change
// (and each checkpoint and Interrogate answer) through report, and
// returns the exit code once the program has ended. It returns when the
// program has stopped; reporting Stopped is the caller's (the Windows
// library does it when its Execute returns).
func (h Handler) Execute(requests <-chan Request, report func(Status)) (exitCode int) {
	tick := h.Tick
	if tick <= 0 {
		tick = 2 * time.Second
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()

	cur := Status{State: StartPending, WaitHint: h.StartHint}
	send := func() { report(cur) }
	send()

	// Start runs beside the request loop, so that a slow start (a public
	// address lookup, a certificate) keeps reporting progress.
	type started struct {
		run Run
		err error
	}
	startc := make(chan started, 1)
	go func() {
		run, err := h.Start()
		startc <- started{run, err}
	}()
	stopAsked := false
	var run Run
	for run == nil {
		select {
		case s := <-startc:
			if s.err != nil {
				if h.OnError != nil {
					h.OnError(s.err)
				}
				return ExitStartFailed
			}
			run = s.run
		case r, ok := <-requests:
			switch {
			case !ok:
				requests = nil
			case r == Stop || r == Shutdown:
				stopAsked = true // honoured once started: Start cannot be interrupted
			case r == Interrogate:
				send()
			}
		case <-ticker.C:
			cur.CheckPoint++
			send()
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() { done <- run(ctx, reload) }()

	stopping := func() {
		cancel()
		cur = Status{State: StopPending, WaitHint: h.StopHint}
		send()
	}
	if stopAsked {
		stopping()
	} else {
		cur = Status{State: Running, Accepts: []Request{Stop, Shutdown, Reload}}
		send()
	}
	for {
		select {
		case code := <-done:
			return code
		case r, ok := <-requests:
			if !ok {
				requests = nil
				continue
			}
			switch r {
			case Interrogate:
				send()
			case Stop, Shutdown:
				if cur.State == Running {
					stopping()
				}
			case Reload:
				if cur.State == Running {
					select {
					case reload <- ReloadSignal:
					default: // one reload is already waiting; it reads the newest file
					}
				}
			}
		case <-ticker.C:
			if cur.State == StopPending {
				cur.CheckPoint++
				send()
			}
		}
	}
}
