package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/serveapp"
)

const serveUsage = `Usage: rotary serve [--config FILE] [flags]

Runs the FTP server. Every flag is also a key of the same name in the TOML
config file; flags override the file. With neither --user, --users-file nor
--anonymous it creates the user "rotary" with a random password and prints
the password once.

Flags:
`

func runServe(args []string) int {
	cfg, _, err := config.Parse("rotary serve", serveUsage, args, os.Stderr)
	var fe *config.FlagError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0 // the flag package has printed the usage
	case errors.As(err, &fe):
		return 2 // printed with the usage by the flag package
	case err != nil:
		fmt.Fprintf(os.Stderr, "rotary serve: %v\n", err)
		return 2
	}
	// Signals are caught before the listeners are bound: a SIGHUP sent as
	// soon as the start line is out must reload, not end the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := make(chan os.Signal, 1)
	if len(reloadSignals) > 0 {
		signal.Notify(reload, reloadSignals...)
		defer signal.Stop(reload)
	}
	app, err := serveapp.New(cfg, serveapp.Options{Args: args})
	if err != nil {
		fmt.Fprintf(os.Stderr, "rotary serve: %v\n", err)
		return 2
	}
	defer app.Sync()
	return app.Run(ctx, reload)
}
