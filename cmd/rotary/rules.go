package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/nat/gateway"
	"github.com/rotary-ftp/rotary/internal/nat/ios"
	"github.com/rotary-ftp/rotary/internal/rules"
)

const rulesUsage = `Usage:
  rotary rules --format FORMAT [--config rotary.toml | serve flags] [--outside-ip IP] [--inside-ip IP] [--outside-if NAME]
  rotary rules --format FORMAT --from-ios FILE [--outside-if NAME]

Prints the forwarding a router or firewall in front of the server needs:
the control ports (listen, implicit-tls-listen) and the passive range
(passive-ports, announced as public-passive-ports when set), read from
Rotary's settings, the same --config file or flags as rotary serve. With
--from-ios it renders a rotary gateway configuration instead.

Formats: ios (Cisco IOS NAT, also runs in rotary gateway), nftables (a
table for nft -f), iptables (an iptables-restore file), pf (rdr pass rules),
netsh (the Windows Server host's own firewall). A setting the format cannot
express faithfully is an error naming it (exit status 2).

Flags:
`

// rulesFlags are rules' own flags, beside the serve settings.
type rulesFlags struct {
	format, fromIOS, outsideIP, insideIP, outsideIf string
}

func (r *rulesFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.format, "format", "", "output `FORMAT`: "+strings.Join(rules.Formats, ", ")+" (required)")
	fs.StringVar(&r.fromIOS, "from-ios", "", "render the IOS NAT configuration `FILE` of rotary gateway instead of the serve settings")
	fs.StringVar(&r.outsideIP, "outside-ip", "", "the router's outside `IP` (default: public-ip when it is an address)")
	fs.StringVar(&r.insideIP, "inside-ip", "", "the server's `IP` as the router reaches it (default: the listen address)")
	fs.StringVar(&r.outsideIf, "outside-if", "", "the router's outside interface `NAME` (pf needs it; nftables and iptables match it when there is no outside address)")
}

func runRules(args []string) int { return rulesMain(args, os.Stdout, os.Stderr) }

// rulesMain is `rotary rules`: the rules on stdout, exit 0; one line on
// stderr and exit 2 for anything it cannot render.
func rulesMain(args []string, stdout, stderr io.Writer) int {
	var rf rulesFlags
	own := flag.NewFlagSet("", flag.ContinueOnError)
	rf.register(own)
	// The flag package's own usage would list every serve setting; rules'
	// usage names its own flags and the serve settings it reads.
	cfg, fs, err := config.ParseWith("rotary rules", "", args, io.Discard, rf.register)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, rulesUsage)
		own.SetOutput(stderr)
		own.PrintDefaults()
		fmt.Fprintln(stderr, "  --config FILE, --listen ADDR, --passive-ports LO-HI, --public-ip IP, --public-passive-ports LO-HI,\n"+
			"  --implicit-tls-listen ADDR\n    \tthe serve settings the forwarding comes from (rotary serve --help); the others are accepted and unused")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "rotary rules:", err)
		return 2
	}
	if rf.format == "" {
		fmt.Fprintln(stderr, "rotary rules: --format is required: one of "+strings.Join(rules.Formats, ", "))
		return 2
	}
	var m *rules.Model
	if rf.fromIOS != "" {
		var serveFlag string
		fs.Visit(func(f *flag.Flag) {
			if own.Lookup(f.Name) == nil && serveFlag == "" {
				serveFlag = f.Name
			}
		})
		switch {
		case serveFlag != "":
			err = fmt.Errorf("--from-ios renders the IOS file alone: --%s is a serve setting", serveFlag)
		case rf.outsideIP != "" || rf.insideIP != "":
			err = errors.New("--from-ios: the IOS file names the outside and inside addresses; drop --outside-ip and --inside-ip")
		default:
			var c *ios.Config
			var warnings []ios.Warning
			c, warnings, err = gateway.Load(rf.fromIOS, ios.ParseOptions{})
			gateway.PrintWarnings(stderr, warnings)
			if err == nil {
				m, err = rules.FromIOS(c)
			}
		}
	} else {
		m, err = rules.FromSettings(cfg, rules.Options{OutsideIP: rf.outsideIP, InsideIP: rf.insideIP})
	}
	if err == nil {
		err = rules.Render(stdout, m, rf.format, rules.RenderOptions{OutsideIf: rf.outsideIf})
	}
	if err != nil {
		fmt.Fprintln(stderr, "rotary rules:", err)
		return 2
	}
	return 0
}
