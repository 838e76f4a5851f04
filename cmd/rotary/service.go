package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/serveapp"
)

const serviceUsage = `Usage:
  rotary service install [--name NAME] [serve flags]
  rotary service uninstall [--name NAME]
  rotary service start [--name NAME]
  rotary service stop [--name NAME]
  rotary service run [--name NAME] [serve flags]

Runs rotary serve as a Windows service (on Linux, use systemd:
packaging/rotary.service). install registers the service (NAME, default
Rotary) with the serve flags given, which must name the users (users-file,
user or anonymous) and absolute folders for root and state-dir (in the
config file or as flags); relative paths given as flags are made absolute.
The service runs as the virtual account NT SERVICE\NAME (grant it
access with icacls), starts automatically at boot, restarts after a
failure and logs to the Application event log under NAME. start and stop wait for
the service to get there; stop lets running transfers finish first (up to
30 s). run is what the service manager starts. Reload the configuration
with: sc.exe control NAME paramchange.
`

// defaultServiceName is the Windows service's name and event log source.
const defaultServiceName = "Rotary"

// serviceStopWait is how long `rotary service stop` waits: the drain
// grace and time to close.
const serviceStopWait = serveapp.ShutdownGrace + 15*time.Second

// serviceArgs splits `rotary service VERB [--name NAME] [serve flags]`.
func serviceArgs(args []string) (verb, name string, rest []string, err error) {
	if len(args) == 0 {
		return "", "", nil, errors.New("a verb is required: install, uninstall, start, stop or run")
	}
	verb, rest = args[0], args[1:]
	switch verb {
	case "install", "uninstall", "start", "stop", "run":
	default:
		return "", "", nil, fmt.Errorf("unknown verb %q: install, uninstall, start, stop or run", verb)
	}
	name = defaultServiceName
	if len(rest) > 0 {
		a := strings.TrimLeft(rest[0], "-")
		switch {
		case strings.HasPrefix(rest[0], "-") && a == "name":
			if len(rest) < 2 || rest[1] == "" {
				return "", "", nil, errors.New("--name needs a value")
			}
			name, rest = rest[1], rest[2:]
		case strings.HasPrefix(rest[0], "-") && strings.HasPrefix(a, "name="):
			name, rest = strings.TrimPrefix(a, "name="), rest[1:]
			if name == "" {
				return "", "", nil, errors.New("--name needs a value")
			}
		}
	}
	if strings.ContainsAny(name, `/\`) {
		return "", "", nil, fmt.Errorf("service name %q: no slashes", name)
	}
	if (verb == "uninstall" || verb == "start" || verb == "stop") && len(rest) > 0 {
		return "", "", nil, fmt.Errorf("%s takes only --name, not %q", verb, rest[0])
	}
	return verb, name, rest, nil
}

// serviceCommandLine checks the serve flags of `rotary service install`
// and returns them as the service will get them, with relative paths made
// absolute against dir (the service starts in another folder). A service
// cannot print a generated password to anyone, and must not serve a folder
// relative to System32, so both are refused here, naming the setting.
func serviceCommandLine(serveArgs []string, dir string) ([]string, error) {
	args := config.AbsolutePaths(serveArgs, dir)
	var out strings.Builder
	cfg, _, err := config.Parse("rotary service install", "", args, &out)
	if err != nil {
		var fe *config.FlagError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("serve flags: %v", fe.Err)
		}
		return nil, fmt.Errorf("serve flags: %w", err)
	}
	if cfg.UsersFile == "" && len(cfg.User) == 0 && !cfg.Anonymous {
		return nil, errors.New("a service needs its users: set users-file in the config file or give --users-file (or --user, --anonymous); " +
			"without them rotary serve would generate a password that nobody sees")
	}
	if rel := config.RelativePaths(cfg); len(rel) > 0 {
		return nil, fmt.Errorf("a service needs absolute folders: set %s to an absolute path in the config file or as a flag "+
			"(a service starts in C:\\Windows\\System32)", strings.Join(rel, ", "))
	}
	return args, nil
}
