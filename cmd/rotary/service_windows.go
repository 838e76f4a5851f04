//go:build windows

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/serveapp"
	"github.com/rotary-ftp/rotary/internal/service"
)

// eventID is the one event ID Rotary logs with: EventCreate.exe, the
// message file InstallAsEventCreate registers, formats IDs 1-1000 as the
// entry's text alone.
const eventID = 1

// runService is `rotary service`: it manages the Windows service through
// the service control manager, or (run) is the service.
func runService(args []string) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Print(serviceUsage)
		return 0
	}
	verb, name, rest, err := serviceArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotary service: %v\n\n%s", err, serviceUsage)
		return 2
	}
	switch verb {
	case "run":
		return runAsService(name, rest)
	case "install":
		err = installService(name, rest)
	case "uninstall":
		err = uninstallService(name)
	case "start":
		err = startService(name)
	case "stop":
		err = stopService(name)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotary service %s: %v\n", verb, err)
		return 1
	}
	return 0
}

// connect opens the service control manager, which needs an elevated
// prompt for everything but queries.
func connect() (*mgr.Mgr, error) {
	m, err := mgr.Connect()
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, fmt.Errorf("connecting to the service control manager: %w (run the command as Administrator)", err)
		}
		return nil, fmt.Errorf("connecting to the service control manager: %w", err)
	}
	return m, nil
}

func installService(name string, serveArgs []string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	args, err := serviceCommandLine(serveArgs, wd)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding rotary.exe: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return err
	}
	m, err := connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	if s, err := m.OpenService(name); err == nil {
		s.Close()
		return fmt.Errorf("service %s exists already: rotary service uninstall --name %s first", name, name)
	}
	s, err := m.CreateService(name, exe, mgr.Config{
		DisplayName: "Rotary FTP server (" + name + ")",
		Description: "FTP and FTPS server for firewalls and NAT (rotary serve)",
		StartType:   mgr.StartAutomatic,
		// A virtual account of its own, not LocalSystem: like the rotary
		// user of the systemd unit, it can write only where the admin
		// grants it (icacls ... /grant "NT SERVICE\Rotary:(OI)(CI)M").
		ServiceStartName: `NT SERVICE\` + name,
	}, append([]string{"service", "run", "--name", name}, args...)...)
	if err != nil {
		return fmt.Errorf("creating service %s: %w", name, err)
	}
	defer s.Close()
	// Restart after a crash or a failed start, like systemd's
	// Restart=on-failure: at once, after 10 s, then every minute; the
	// count resets after a day without failures.
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: time.Second},
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
	}, 24*60*60); err != nil {
		s.Delete()
		return fmt.Errorf("setting service %s to restart on failure: %w", name, err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		s.Delete()
		return fmt.Errorf("setting service %s to restart on failure: %w", name, err)
	}
	if err := eventlog.InstallAsEventCreate(name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		s.Delete()
		return fmt.Errorf("registering event log source %s: %w", name, err)
	}
	fmt.Printf("installed service %s: %s service run --name %s %s\n"+
		"it runs as NT SERVICE\\%s: grant that account read access to the config and users file and modify access to root and state-dir (icacls), then: rotary service start --name %s\n",
		name, exe, name, joinArgs(args), name, name)
	return nil
}

func joinArgs(args []string) string {
	out := ""
	for i, a := range args {
		if i > 0 {
			out += " "
		}
		out += windows.EscapeArg(a)
	}
	return out
}

func uninstallService(name string) error {
	m, err := connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", name, err)
	}
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if err := controlAndWait(s, svc.Stop, svc.Stopped, serviceStopWait); err != nil {
			return err
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("deleting service %s: %w", name, err)
	}
	if err := eventlog.Remove(name); err != nil {
		return fmt.Errorf("removing event log source %s (the service is gone): %w", name, err)
	}
	fmt.Printf("uninstalled service %s\n", name)
	return nil
}

func startService(name string) error {
	m, err := connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", name, err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		return fmt.Errorf("starting service %s: %w", name, err)
	}
	if err := waitState(s, svc.Running, 60*time.Second); err != nil {
		return fmt.Errorf("%w (the Application event log, source %s, says why)", err, name)
	}
	fmt.Printf("service %s is running\n", name)
	return nil
}

func stopService(name string) error {
	m, err := connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", name, err)
	}
	defer s.Close()
	if err := controlAndWait(s, svc.Stop, svc.Stopped, serviceStopWait); err != nil {
		return err
	}
	fmt.Printf("service %s is stopped\n", name)
	return nil
}

func controlAndWait(s *mgr.Service, c svc.Cmd, want svc.State, timeout time.Duration) error {
	if _, err := s.Control(c); err != nil {
		return fmt.Errorf("sending %v to service %s: %w", c, s.Name, err)
	}
	return waitState(s, want, timeout)
}

// waitState polls the service until it reaches want, stops somewhere
// else, or timeout passes.
func waitState(s *mgr.Service, want svc.State, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("querying service %s: %w", s.Name, err)
		}
		if st.State == want {
			return nil
		}
		if want == svc.Running && st.State == svc.Stopped {
			return fmt.Errorf("service %s stopped while starting (exit code %d, service exit code %d)",
				s.Name, st.Win32ExitCode, st.ServiceSpecificExitCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s is still %s after %v", s.Name, windowsState(st.State), timeout)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func windowsState(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "starting"
	case svc.StopPending:
		return "stopping"
	case svc.Running:
		return "running"
	}
	return fmt.Sprintf("in state %d", s)
}

// runAsService is `rotary service run`: what the service manager starts.
// The log and what serve prints once go to the event log.
func runAsService(name string, serveArgs []string) int {
	isService, err := svc.IsWindowsService()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotary service run: %v\n", err)
		return 1
	}
	if !isService {
		fmt.Fprintln(os.Stderr, "rotary service run: only the service manager starts this; in a console, run rotary serve with the same flags")
		return 2
	}
	elog, err := eventlog.Open(name)
	if err != nil {
		return 1 // nowhere to say it; the service manager records the exit
	}
	defer elog.Close()
	logw := &service.LineWriter{Emit: func(sev service.Severity, line string) {
		switch sev {
		case service.Error:
			elog.Error(eventID, line)
		case service.Warning:
			elog.Warning(eventID, line)
		default:
			elog.Info(eventID, line)
		}
	}}
	defer logw.Flush()
	var app *serveapp.App
	h := service.Handler{
		Start: func() (service.Run, error) {
			cfg, _, err := config.Parse("rotary serve", "", serveArgs, logw)
			if err != nil {
				return nil, fmt.Errorf("rotary serve: %w", err)
			}
			app, err = serveapp.New(cfg, serveapp.Options{Args: serveArgs, Stdout: logw, Stderr: logw})
			if err != nil {
				return nil, fmt.Errorf("rotary serve: %w", err)
			}
			return app.Run, nil
		},
		OnError:   func(err error) { elog.Error(eventID, err.Error()) },
		StartHint: 30 * time.Second,
		StopHint:  serviceStopWait,
	}
	err = svc.Run(name, windowsHandler{h})
	if app != nil {
		app.Sync()
	}
	if err != nil {
		elog.Error(eventID, "rotary service run: "+err.Error())
		return 1
	}
	return 0
}

// windowsHandler translates between svc's types and service.Handler.
type windowsHandler struct{ h service.Handler }

func (w windowsHandler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	reqs := make(chan service.Request)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for c := range r {
			var req service.Request
			switch c.Cmd {
			case svc.Interrogate:
				req = service.Interrogate
			case svc.Stop:
				req = service.Stop
			case svc.Shutdown:
				req = service.Shutdown
			case svc.ParamChange:
				req = service.Reload
			default:
				continue
			}
			select {
			case reqs <- req:
			case <-done:
				return
			}
		}
	}()
	code := w.h.Execute(reqs, func(s service.Status) {
		changes <- windowsStatus(s)
	})
	if code != 0 {
		return true, uint32(code)
	}
	return false, 0
}

func windowsStatus(s service.Status) svc.Status {
	out := svc.Status{CheckPoint: s.CheckPoint, WaitHint: uint32(s.WaitHint / time.Millisecond)}
	switch s.State {
	case service.StartPending:
		out.State = svc.StartPending
	case service.Running:
		out.State = svc.Running
	case service.StopPending:
		out.State = svc.StopPending
	default:
		out.State = svc.Stopped
	}
	for _, a := range s.Accepts {
		switch a {
		case service.Stop:
			out.Accepts |= svc.AcceptStop
		case service.Shutdown:
			out.Accepts |= svc.AcceptShutdown
		case service.Reload:
			out.Accepts |= svc.AcceptParamChange
		}
	}
	return out
}
