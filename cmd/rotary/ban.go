package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"text/tabwriter"
	"time"

	"github.com/rotary-ftp/rotary/internal/adminhttp"
	"github.com/rotary-ftp/rotary/internal/ban"
	"github.com/rotary-ftp/rotary/internal/config"
)

const banUsage = `Usage:
  rotary ban list [--admin ADDR | --config FILE]
  rotary ban del IP [--admin ADDR | --config FILE]

Asks the running rotary serve (its admin endpoint, admin-listen, default
127.0.0.1:2181) for its bans, or lifts one.
`

func runBan(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, banUsage)
		return 2
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list", "del":
	case "help", "-h", "-help", "--help":
		// Help for the command as a whole is the help of its subcommands,
		// which share their flags; asked for, it is no mistake (exit 0).
		sub, rest = "list", []string{"-h"}
	default:
		fmt.Fprintf(os.Stderr, "rotary ban: unknown subcommand %q\n\n%s", sub, banUsage)
		return 2
	}
	var ip string
	if sub == "del" && len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		ip, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("rotary ban "+sub, flag.ContinueOnError)
	admin := fs.String("admin", "", "admin endpoint `ADDR` of the running server (default: admin-listen from --config, else 127.0.0.1:2181)")
	cfgPath := fs.String("config", "", "take admin-listen and admin-token-file from this config `FILE`")
	tokenFile := fs.String("admin-token-file", "", "`FILE` holding the endpoint's token, if it has one (default: admin-token-file from --config)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), banUsage+"\nFlags:\n"); fs.PrintDefaults() }
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package has printed the mistake and the usage
	}
	if ip == "" && sub == "del" && fs.NArg() > 0 {
		ip = fs.Arg(0)
	}
	c := config.Defaults()
	if *cfgPath != "" {
		if err := config.LoadFile(*cfgPath, &c); err != nil {
			fmt.Fprintf(os.Stderr, "rotary ban: %v\n", err)
			return 2
		}
	}
	addr := *admin
	if addr == "" {
		addr = c.AdminListen
	}
	if *tokenFile == "" {
		*tokenFile = c.AdminTokenFile
	}
	ep := adminhttp.Endpoint{Addr: addr}
	if *tokenFile != "" {
		tok, err := adminhttp.ReadToken(*tokenFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rotary ban: %v\n", err)
			return 2
		}
		ep.Token = tok
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch sub {
	case "list":
		bans, err := ban.ListRemote(ctx, ep)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rotary ban list: %v\n", err)
			return 1
		}
		printBans(os.Stdout, bans)
		return 0
	case "del":
		a, err := netip.ParseAddr(ip)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rotary ban del: %q is not an IP address\n", ip)
			return 2
		}
		if err := ban.DeleteRemote(ctx, ep, a); err != nil {
			fmt.Fprintf(os.Stderr, "rotary ban del: %v\n", err)
			return 1
		}
		fmt.Printf("ban on %s lifted\n", a)
		return 0
	}
	return 2 // not reached: sub was checked above
}

func printBans(w io.Writer, bans []ban.Ban) {
	if len(bans) == 0 {
		fmt.Fprintln(w, "no bans")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IP\tFAILURES\tBANNED UNTIL")
	for _, b := range bans {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", b.IP, b.Failures, b.Until.Local().Format(time.RFC3339))
	}
	tw.Flush()
}
