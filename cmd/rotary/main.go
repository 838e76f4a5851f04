// Command rotary is an FTP server built for NAT and firewalls, and the
// gateway that fronts it. This file only dispatches subcommands; each
// subcommand wires packages from internal/ together in its own file.
package main

import (
	"fmt"
	"os"
	"strings"
)

const usage = `rotary: an FTP server for firewalls and NAT, and its gateway

Usage:
  rotary serve [flags]            run the FTP server (rotary serve --help)
  rotary check --config FILE      validate a configuration and try its ports
  rotary user add|passwd|del|list --file users.toml   manage a users file
  rotary ban list | del IP        show or lift the running server's bans
  rotary service install|start|stop|uninstall [flags]   run serve as a Windows service
  rotary gateway --config FILE    run the NAT gateway for a Cisco IOS NAT config
  rotary rules --format FORMAT    print the router's forwarding: ios, nftables, iptables, pf, netsh
  rotary probe URL [flags]        check from the client side that every passive port is reachable
  rotary bench URL [flags]        load-test any FTP server (rotary bench --help)
  rotary version                  print the version

`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var code int
	switch cmd {
	case "serve":
		code = runServe(args)
	case "gateway":
		code = runGateway(args)
	case "rules":
		code = runRules(args)
	case "probe":
		code = runProbe(args)
	case "bench":
		code = runBench(args)
	case "check":
		code = runCheck(args)
	case "user":
		code = runUser(args)
	case "ban":
		code = runBan(args)
	case "service":
		code = runService(args)
	case "version", "--version":
		fmt.Println("rotary", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "rotary: unknown command %q\n\n%s", cmd, usage)
		code = 2
	}
	os.Exit(code)
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
