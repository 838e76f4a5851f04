package serveapp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/auth"
	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/passive"
	"github.com/rotary-ftp/rotary/internal/tlscert"
)

// Check validates cfg the way New would load it, then tries to bind the
// control listeners and every passive port, reporting each problem on out
// (`rotary check`). It returns how many problems it found.
func Check(cfg config.Config, out io.Writer) int {
	problems := 0
	bad := func(format string, args ...any) {
		problems++
		fmt.Fprintf(out, "problem: "+format+"\n", args...)
	}
	where := "flags"
	if cfg.File != "" {
		where = cfg.File
	}
	fmt.Fprintf(out, "configuration from %s parses\n", where)

	if cfg.IsS3() {
		checkS3(cfg, bad, func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) })
	} else if fi, err := os.Stat(cfg.Root); err == nil && !fi.IsDir() {
		bad("root %s is not a folder", cfg.Root)
	}
	if cfg.UsersFile != "" {
		f, err := auth.LoadUsersFile(cfg.UsersFile)
		if err != nil {
			bad("%v", err)
		} else {
			for _, name := range f.BadHashes() {
				bad("%s: user %s has a password hash in an unknown format and cannot log in", cfg.UsersFile, name)
			}
			fmt.Fprintf(out, "users file %s: %d users\n", cfg.UsersFile, len(f.Users))
		}
	}
	if o := tlsSettingsFrom(cfg); o.enabled() {
		if err := o.validate(); err != nil {
			bad("FTPS: %v", err)
		} else if !o.selfSigned {
			if h, err := tlscert.Load(o.certFile, o.keyFile); err != nil {
				bad("FTPS: %v", err)
			} else {
				fmt.Fprintf(out, "TLS certificate %s: SHA-256 %s, expires %s\n", h.CertFile, h.Fingerprint(),
					h.Certificate().Leaf.NotAfter.Format("2006-01-02"))
			}
		}
	}
	if cfg.XferlogFile != "" {
		if f, err := os.OpenFile(cfg.XferlogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640); err != nil {
			bad("xferlog-file: %v", err)
		} else {
			f.Close()
		}
	}
	hosts := map[string]bool{}
	for _, k := range wanted(cfg) {
		l, err := net.Listen("tcp", k.addr)
		if err != nil {
			bad("%s %s: %v", k.setting(), k.addr, err)
		} else {
			l.Close()
		}
		host, _, _ := net.SplitHostPort(k.addr)
		hosts[host] = true
	}
	for host := range hosts {
		var failed []string
		for p := cfg.PassivePorts.Lo; p <= cfg.PassivePorts.Hi; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				failed = append(failed, strconv.Itoa(p))
				continue
			}
			l.Close()
		}
		name := host
		if name == "" {
			name = "all addresses"
		}
		if len(failed) > 0 {
			bad("passive ports on %s that cannot be bound (in use?): %v", name, failed)
		} else {
			fmt.Fprintf(out, "passive ports %s on %s: all %d bindable\n", cfg.PassivePorts, name, cfg.PassivePorts.Len())
		}
	}
	if cfg.AdminListen != "" {
		if l, err := net.Listen("tcp", cfg.AdminListen); err != nil {
			bad("admin-listen %s: %v", cfg.AdminListen, err)
		} else {
			l.Close()
		}
		if cfg.AdminTokenFile != "" {
			if _, err := adminhttp.ReadToken(cfg.AdminTokenFile); err != nil {
				bad("%v", err)
			}
		}
		printSizing(cfg, out)
	}
	return problems
}

// printSizing asks a running server on admin-listen how much of its
// passive range it used, and prints the advice /metrics gives as
// rotary_passive_ports_recommended.
func printSizing(cfg config.Config, out io.Writer) {
	ep := adminhttp.Endpoint{Addr: cfg.AdminListen}
	if cfg.AdminTokenFile != "" {
		ep.Token, _ = adminhttp.ReadToken(cfg.AdminTokenFile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	body, err := adminhttp.Do(ctx, "GET", ep, "/passive")
	var pu PassiveUsage
	if err == nil {
		err = json.Unmarshal(body, &pu)
	}
	if err != nil {
		fmt.Fprintf(out, "passive range sizing: no running rotary serve answered on admin-listen %s, so no figures to go by (run check where the server runs)\n", cfg.AdminListen)
		return
	}
	window := (time.Duration(pu.WindowSecs) * time.Second).Round(time.Minute)
	sz := pu.Sizing
	fmt.Fprintf(out, "passive range sizing, from the running server (the last %s): at most %d PASV replies waited for their data connection at once, and %d transfers ran at once; %d ports configured (%s)\n",
		window, sz.PeakPending, sz.PeakConns, pu.Ports, pu.Range)
	if pu.Now.Exhausted > 0 {
		fmt.Fprintf(out, "  %d PASV/EPSV were refused with 425: no port of the range was free for the client\n", pu.Now.Exhausted)
	}
	switch {
	case sz.Recommended == 0:
		fmt.Fprintln(out, "  no passive transfer yet: nothing to size by")
	case sz.Recommended > pu.Ports:
		fmt.Fprintf(out, "  advice: forward at least %d ports (the peak, plus half again, at least %d spare); widen passive-ports and the router's forward with it\n",
			sz.Recommended, passive.SizingMinSpare)
	default:
		fmt.Fprintf(out, "  the range is wide enough: %d ports would do (the peak, plus half again, at least %d spare)\n", sz.Recommended, passive.SizingMinSpare)
	}
}
